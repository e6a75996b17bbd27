import ArgumentParser
import DMABuf
import SystemPackage

/// The consuming half of `dmabuf serve`: connects, takes the pool's buffers once, and checks (with
/// --verify) and releases every frame.
struct Consume: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Consume the frames a `dmabuf serve` process shares, checking each.",
        discussion: """
            Connects to --socket, receives the pool's buffers once (each fd checked as a dma-buf), then \
            for every frame waits for its fence if it has one, checks with --verify that it holds the \
            pattern of its sequence number, and releases it. Ends with frames per second, the bytes shared \
            and copied, and how long copying the same bytes through a Unix socket takes, measured in the \
            same run. Exits 1 on a frame that does not match, 3 if the producer goes away first.
            """
    )

    @Option(help: ArgumentHelp("The Unix socket `dmabuf serve` listens on.", valueName: "path"))
    var socket: String

    @Flag(help: "Check every byte of every frame against its pattern.")
    var verify = false

    @Option(help: ArgumentHelp("How long to wait for a frame's fence.", valueName: "seconds"))
    var fenceTimeout: Double = 10

    func validate() throws {
        if !(fenceTimeout >= 0 && fenceTimeout.isFinite) {
            throw ValidationError("--fence-timeout takes a number of seconds, 0 or more")
        }
    }

    func run() throws {
        do {
            for line in try consume() { print(line) }
        } catch let error as PeerGone {
            printError("dmabuf consume: \(error)")
            throw ExitCode(3)
        } catch let error as FrameMismatch {
            printError("dmabuf consume: \(error)")
            throw ExitCode.failure
        }
    }

    struct FrameMismatch: Error, CustomStringConvertible {
        var description: String
    }

    func consume() throws -> [String] {
        let clock = ContinuousClock()
        var start: ContinuousClock.Instant?
        var frames = 0
        var frameBytes = 0
        var checking = Duration.zero
        var mappings: [KeptMapping] = []
        let count: Int
        do {
            var consumer = try BufferPoolConsumer(channel: try DMABufChannel.connect(to: FilePath(socket)))
            count = consumer.count
            printError("dmabuf consume: connected to \(socket), \(count) buffers")
            for index in 0..<consumer.count {
                mappings.append(try consumer.withBuffer(at: index) { buffer in KeptMapping(try buffer.map()) })
            }
            while var frame = try consumer.blockingNext() {
                start = start ?? clock.now
                if let fence = frame.fence.take(), try !fence.signals(within: .seconds(fenceTimeout)) {
                    throw FrameMismatch(description: "the fence of frame \(frame.sequence) did not signal in time")
                }
                let (sequence, used) = (frame.sequence, frame.bytesUsed)
                if verify {
                    let checkStart = clock.now
                    defer { checking += clock.now - checkStart }
                    let mismatch = try mappings[frame.index].mapping.withCPUAccess(.read) { bytes in
                        FillPattern(seed: sequence + 1).firstMismatch(in: bytes.extracting(0..<used))
                    }
                    if let mismatch {
                        throw FrameMismatch(
                            description: "frame \(sequence): byte \(mismatch) differs from the pattern of seed "
                                + "\(sequence + 1)")
                    }
                }
                frameBytes = max(frameBytes, used)
                try consumer.release(frame)
                frames += 1
            }
            try consumer.finish()
        } catch let error as DMABufError where error.code == .disconnected {
            throw PeerGone(
                description: "the producer went away after \(frames) frames; the buffers stay valid here until "
                    + "this process drops them (\(error))")
        } catch let error as DMABufError {
            throw CommandError(error: error)
        }
        let elapsed = start.map { clock.now - $0 } ?? .zero
        let copy = try mappings[0].mapping.withCPUAccess(.read) { bytes in
            try bytes.extracting(0..<min(frameBytes, bytes.byteCount)).withUnsafeBytes {
                try SharingReport.measureSocketCopy(of: $0, count: frames)
            }
        }
        let report = SharingReport(
            frames: frames, frameBytes: frameBytes, buffers: count, elapsed: elapsed, patternWork: checking,
            patternWorkName: "checking", copyElapsed: copy)
        return (verify ? ["verified      every byte of every frame"] : []) + report.lines
    }
}

extension SyncFile {
    /// Whether the fences signal within `timeout`: false, not an error, at the timeout.
    func signals(within timeout: Duration) throws(DMABufError) -> Bool {
        do {
            try wait(timeout: timeout)
            return true
        } catch {
            guard error.code == .timedOut else { throw error }
            return false
        }
    }
}
