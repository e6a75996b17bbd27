import DMABuf
import DMABufV4L2
import Testing

@testable import DMABufCLI

@Suite struct CaptureDisplayTests {
    /// A frame is let go only after a later flip has completed: never while it is on screen or
    /// while the flip that replaces it is still pending.
    @Test func framesAreFreedOnlyWhenAFlipHasTakenThemOffScreen() {
        var slots = ScanoutSlots<Int>()
        var freed: [Int] = []
        // #expect cannot look into a noncopyable value: read what it checks first.
        var state: (onScreen: Int?, isFlipping: Bool) { (slots.onScreen, slots.isFlipping) }
        #expect(slots.shown(0) == nil)  // the first frame, by modeset
        #expect(state == (0, false))
        slots.flipCommitted(1)
        #expect(state == (0, true))  // 0 is still scanned out
        freed += [slots.flipCompleted()].compactMap { $0 }
        #expect(freed == [0])
        #expect(state == (1, false))
        for frame in 2...5 {
            slots.flipCommitted(frame)
            #expect(state == (frame - 1, true))
            #expect(!freed.contains(frame - 1))
            freed += [slots.flipCompleted()].compactMap { $0 }
        }
        #expect(freed == [0, 1, 2, 3, 4])
        #expect(slots.takeOnScreen() == 5)
        #expect(slots.takeOnScreen() == nil)
    }

    @Test func statsAndTheirJSON() {
        let latencies = (1...100).map { Duration.milliseconds($0) }.shuffled()
        var stats = DisplayStats(
            frames: 101, seconds: 2, latencies: latencies, cpuSeconds: 0.505, pageFaults: 7, copies: 0)
        #expect(stats.framesPerSecond == 50.5)
        #expect(stats.cpuSecondsPerFrame == 0.005)
        #expect(stats.latencyMilliseconds(percentile: 50) == 50)
        #expect(stats.latencyMilliseconds(percentile: 99) == 99)
        #expect(stats.latencyMilliseconds(percentile: 100) == 100)
        #expect(
            stats.json
                == "{\"frames\": 101, \"seconds\": 2.0, \"framesPerSecond\": 50.5, \"latencyP50Ms\": 50.0, "
                + "\"latencyP99Ms\": 99.0, \"cpuSecondsPerFrame\": 0.005, \"pageFaults\": 7, \"copies\": 0}")
        stats.latencies = [.microseconds(1500)]
        #expect(stats.latencyMilliseconds(percentile: 50) == 1.5 && stats.latencyMilliseconds(percentile: 99) == 1.5)
        stats.latencies = []
        #expect(stats.json.contains("\"latencyP50Ms\": null, \"latencyP99Ms\": null"))
    }

    /// Latency is the flip's time less the capture's, only when both are on CLOCK_MONOTONIC and
    /// the capture lies before the frame was dequeued.
    @Test func latencySamples() {
        func ms(_ value: Int) -> Duration { .milliseconds(value) }
        func latency(_ captured: Int, monotonic: Bool = true, dequeued: Int, flipped: Int, now: Int) -> Latency {
            Latency(
                captured: ms(captured), isMonotonic: monotonic, dequeued: ms(dequeued), flipped: ms(flipped),
                now: ms(now))
        }
        func reason(_ latency: Latency) -> String {
            guard case .unmeasured(let reason) = latency else { return "measured" }
            return reason
        }
        #expect(latency(1000, dequeued: 1030, flipped: 1050, now: 1051) == .measured(ms(50)))
        #expect(reason(latency(1000, monotonic: false, dequeued: 1030, flipped: 1050, now: 1051)).contains("camera's"))
        // vivid's end-of-frame stamps: 72 ms after it started the frame, so after the dequeue.
        #expect(reason(latency(1072, dequeued: 1030, flipped: 1050, now: 1051)).contains("timestamp_source=1"))
        // Flip times on another clock: CLOCK_REALTIME is decades ahead; one far behind.
        #expect(reason(latency(1000, dequeued: 1030, flipped: 1_800_000_000_000, now: 1051)).contains("flip events'"))
        #expect(reason(latency(1000, dequeued: 1030, flipped: 50, now: 60_000)).contains("flip events'"))
    }

    @Test func usageOnlyGrows() {
        let before = ResourceUsage.now()
        var sum = 0
        for value in 0..<2_000_000 { sum &+= value &* value }
        let used = ResourceUsage.now() - before
        #expect(sum != 1 && used.cpuSeconds >= 0 && used.pageFaults >= 0)
    }
}
