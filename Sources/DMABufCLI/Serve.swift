import ArgumentParser
import DMABuf
import DMABufSources
import Glibc
import SystemPackage

/// The producing half of a buffer pool between two processes: listens on a Unix socket, hands
/// the consumer `--count` buffers once, then `--frames` frames of a pattern that carries each
/// frame's sequence number.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Produce frames in a pool of dma-bufs shared with a `dmabuf consume` process.",
        discussion: """
            Listens on --socket for one consumer, registers --count buffers from the source with it (their \
            fds cross the socket once), then fills frame n with the pattern of seed n + 1 and passes it by \
            index, reusing buffers as the consumer releases them. Ends with frames per second, the bytes \
            shared and copied, and how long copying the same bytes through a Unix socket takes, measured \
            in the same run. Exits 3 if the consumer goes away first.
            """
    )

    @OptionGroup var options: DeviceOptions

    @OptionGroup var source: SourceOptions

    @Option(help: ArgumentHelp("The Unix socket to listen on (must not exist).", valueName: "path"))
    var socket: String

    @Option(help: "Buffers in the pool (1 to \(BufferPoolProducer.maximumCount)).")
    var count = 3

    @Option(help: "Frames to produce.")
    var frames = 100

    func validate() throws {
        if source.size < 1 { throw ValidationError("--size must be at least 1 byte") }
        if !(1...BufferPoolProducer.maximumCount).contains(count) {
            throw ValidationError("--count must be 1 to \(BufferPoolProducer.maximumCount)")
        }
        if frames < 1 { throw ValidationError("--frames must be at least 1") }
    }

    func run() throws {
        do {
            for line in try serve() { print(line) }
        } catch let error as PeerGone {
            printError("dmabuf serve: \(error)")
            throw ExitCode(3)
        }
    }

    /// Listens, produces every frame, and returns the report's lines.
    func serve() throws -> [String] {
        let allocator = try source.open(exporterPath: FilePath(options.device))
        let listener = try withCommandHints { () throws(DMABufError) in
            try DMABufChannel.Listener(path: FilePath(socket))
        }
        printError("dmabuf serve: waiting for a consumer on \(socket)")
        var mappings: [KeptMapping] = []
        let clock = ContinuousClock()
        var start = clock.now
        var produced = 0
        var filling = Duration.zero
        do {
            var producer = try BufferPoolProducer(channel: try listener.blockingAccept(), count: count) {
                _ throws(DMABufError) in
                let buffer = try allocator.allocate(size: source.size, name: "dmabuf-serve")
                mappings.append(KeptMapping(try buffer.map()))
                return buffer
            }
            printError("dmabuf serve: a consumer has the \(count) buffers")
            start = clock.now
            for frame in 0..<frames {
                let index = try producer.blockingAcquire()
                let pattern = FillPattern(seed: UInt64(frame) + 1)
                let fillStart = clock.now
                try mappings[index].mapping.withCPUAccess(.write) { bytes in pattern.fill(&bytes) }
                filling += clock.now - fillStart
                try producer.submit(index: index, bytesUsed: source.size)
                produced += 1
            }
            // Every buffer back: the consumer has checked every frame.
            while producer.freeCount < producer.count { _ = try producer.blockingAcquire() }
            try producer.finish()
        } catch let error as DMABufError where error.code == .disconnected {
            throw PeerGone(
                description: "the consumer went away after \(produced) of \(frames) frames; every buffer is back "
                    + "with the producer (\(error))")
        } catch let error as DMABufError {
            throw CommandError(error: error)
        }
        let elapsed = clock.now - start
        let copy = try mappings[0].mapping.withCPUAccess(.read) { bytes in
            try bytes.withUnsafeBytes { try SharingReport.measureSocketCopy(of: $0, count: frames) }
        }
        let report = SharingReport(
            frames: frames, frameBytes: source.size, buffers: count, elapsed: elapsed, patternWork: filling,
            patternWorkName: "filling", copyElapsed: copy)
        return ["source        \(allocator.source)"] + report.lines
    }
}

/// A line on standard error.
func printError(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
}
