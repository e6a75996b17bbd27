import Glibc

/// The frames a display holds: the one on screen, and the one a committed flip is taking there.
/// A frame is let go (back to the camera, to be written over) only once a later flip has completed,
/// since until then the display may still be reading it.
struct ScanoutSlots<Frame: ~Copyable>: ~Copyable {
    /// The frame the display scans out now.
    private(set) var onScreen: Frame?
    /// The frame of a flip committed and not yet completed.
    private(set) var flipping: Frame?

    init() {}

    /// Whether a flip is on its way: the next one may be committed only after it completes.
    var isFlipping: Bool { flipping != nil }

    /// `frame` went on screen with a blocking commit. Returns the frame it replaced, now free.
    mutating func shown(_ frame: consuming Frame) -> Frame? {
        precondition(flipping == nil, "a blocking commit while a flip is pending")
        let replaced = onScreen.take()
        onScreen = consume frame
        return replaced
    }

    /// A flip to `frame` was committed.
    mutating func flipCommitted(_ frame: consuming Frame) {
        precondition(flipping == nil, "one flip at a time: wait for the last one's event")
        flipping = consume frame
    }

    /// The pending flip completed: its frame is on screen. Returns the frame it replaced, now free.
    mutating func flipCompleted() -> Frame? {
        guard let arrived = flipping.take() else { preconditionFailure("a flip event with no flip committed") }
        let replaced = onScreen.take()
        onScreen = consume arrived
        return replaced
    }

    /// Takes the frame on screen, for the end of the stream (after any flip has completed).
    mutating func takeOnScreen() -> Frame? {
        precondition(flipping == nil, "the frame on screen is taken while a flip is pending")
        return onScreen.take()
    }
}

/// The time from a frame's capture to the flip that put it on screen, or why it cannot be told.
/// Both timestamps must be on CLOCK_MONOTONIC: the V4L2 buffer says so in its flags, and a flip
/// event's is checked against the clock read when it came; and the capture must lie before the
/// frame was dequeued (vivid's default end-of-frame timestamps lie 0.9 frame periods after it
/// started drawing the frame, often after it handed the frame over).
enum Latency: Equatable {
    case measured(Duration)
    case unmeasured(String)

    /// - Parameters:
    ///   - captured: the V4L2 buffer's timestamp; `isMonotonic`: its flags say CLOCK_MONOTONIC.
    ///   - dequeued: CLOCK_MONOTONIC when the frame was dequeued.
    ///   - flipped: the flip event's timestamp.
    ///   - now: CLOCK_MONOTONIC when the flip event was read.
    init(captured: Duration, isMonotonic: Bool, dequeued: Duration, flipped: Duration, now: Duration) {
        let plausible = Duration.seconds(10)
        if !isMonotonic {
            self = .unmeasured("the camera's timestamps are not on CLOCK_MONOTONIC")
        } else if flipped > now || now - flipped > plausible {
            self = .unmeasured("the flip events' timestamps are not on CLOCK_MONOTONIC")
        } else if captured > dequeued || dequeued - captured > plausible {
            self = .unmeasured(
                "the camera stamps frames with times after it hands them over (vivid's end-of-frame timestamps; "
                    + "--control timestamp_source=1 makes them start-of-exposure ones)")
        } else {
            self = .measured(flipped - captured)
        }
    }
}

/// What `dmabuf capture --display` measured while it streamed; `--stats-json` writes it.
struct DisplayStats: Equatable {
    /// Frames captured and shown.
    var frames: Int
    /// From the start of streaming to the last frame on screen.
    var seconds: Double
    /// Per flipped frame: from the V4L2 buffer's timestamp to the flip event's, both CLOCK_MONOTONIC.
    var latencies: [Duration]
    /// User and system CPU time of this process while it streamed.
    var cpuSeconds: Double
    /// Page faults of this process while it streamed.
    var pageFaults: Int
    /// Frames scanned out from a buffer other than the one they were captured into.
    var copies: Int

    var framesPerSecond: Double { seconds > 0 ? Double(frames) / seconds : 0 }
    var cpuSecondsPerFrame: Double { frames > 0 ? cpuSeconds / Double(frames) : 0 }

    /// The `percent` percentile of the latencies in milliseconds (nearest rank), nil without any.
    func latencyMilliseconds(percentile percent: Double) -> Double? {
        guard !latencies.isEmpty else { return nil }
        let sorted = latencies.sorted()
        let rank = Int((percent / 100 * Double(sorted.count)).rounded(.up))
        return Self.milliseconds(sorted[min(max(rank, 1), sorted.count) - 1])
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1e3 + Double(duration.components.attoseconds) / 1e15
    }

    /// One JSON object: frames, seconds, framesPerSecond, latencyP50Ms, latencyP99Ms (null without
    /// a flipped frame), cpuSecondsPerFrame, pageFaults, copies.
    var json: String {
        func number(_ value: Double?) -> String { value.map { "\($0)" } ?? "null" }
        return "{\"frames\": \(frames), \"seconds\": \(seconds), \"framesPerSecond\": \(framesPerSecond), "
            + "\"latencyP50Ms\": \(number(latencyMilliseconds(percentile: 50))), "
            + "\"latencyP99Ms\": \(number(latencyMilliseconds(percentile: 99))), "
            + "\"cpuSecondsPerFrame\": \(cpuSecondsPerFrame), \"pageFaults\": \(pageFaults), \"copies\": \(copies)}"
    }
}

/// This process's CPU time and page faults so far (getrusage), to subtract one reading from another.
struct ResourceUsage {
    var cpuSeconds: Double
    var pageFaults: Int

    static func now() -> ResourceUsage {
        var usage = rusage()
        guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 else {
            return ResourceUsage(cpuSeconds: 0, pageFaults: 0)
        }
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return ResourceUsage(
            cpuSeconds: seconds(usage.ru_utime) + seconds(usage.ru_stime),
            pageFaults: usage.ru_minflt + usage.ru_majflt)
    }

    static func - (after: ResourceUsage, before: ResourceUsage) -> ResourceUsage {
        ResourceUsage(
            cpuSeconds: after.cpuSeconds - before.cpuSeconds, pageFaults: after.pageFaults - before.pageFaults)
    }
}
