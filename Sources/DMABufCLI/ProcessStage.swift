import ArgumentParser
import DMABuf
import DMABufDRM
import DMABufExporterClient
import DMABufSources
import Glibc
import SystemPackage

/// The worker stage of the pipeline: consumer of the capture pool, producer of a pool of its own.
struct ProcessStage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "process",
        abstract: "Transform the frames of a `dmabuf capture --serve` pool into a pool of its own (pipeline worker).",
        discussion: """
            Connects to --from (the capture stage), listens on --to for one consumer at a time (`dmabuf \
            display --connect`), and for each frame takes one of its own --buffers output buffers (waiting \
            while the consumer holds them all: backpressure), attaches a vgem write fence to it, submits it \
            with that fence as a sync_file at once, then writes the transformed frame (--filter invert, or \
            stamp: the capture's sequence number as 32 black and white squares top left) and signals the \
            fence. The frame's metadata carries the capture time, the sequence number and the CRC-32C of \
            the bytes written. The output buffers come from the exporter module if it is loaded (its pages \
            are charged to this process's memory cgroup), else from the system heap; an allocation that \
            fails is retried with backoff. SIGUSR1 leaves the next frame's fence unsignalled (until its \
            buffer comes back, or vgem's own 10 s timeout): the consumer must never show that frame. \
            Reconnects to --from when the capture stage goes, and takes the next consumer when one goes.
            """
    )

    enum Filter: String, ExpressibleByArgument, CaseIterable {
        case invert, stamp
    }

    @Option(help: ArgumentHelp("The capture stage's socket.", valueName: "socket"))
    var from: String

    @Option(help: ArgumentHelp("The socket to serve the processed frames on.", valueName: "socket"))
    var to: String

    @Option(help: "invert or stamp.")
    var filter: Filter = .invert

    @Option(help: "Output buffers in the pool (2 to 16).")
    var buffers = 3

    @Option(help: "Frames to process (default: until stopped).")
    var frames: Int?

    @Option(
        help: ArgumentHelp(
            "Join this cgroup v2 directory (write this process into its cgroup.procs) before allocating anything.",
            valueName: "dir"))
    var joinCgroup: String?

    @Option(help: ArgumentHelp("Append the stage's events here, one JSON object a line.", valueName: "file"))
    var events: String?

    @Option(help: ArgumentHelp("Give up connecting to --from after this long; 0: never.", valueName: "seconds"))
    var retrySeconds: Double = 10

    @Option(help: ArgumentHelp("The exporter module's device.", valueName: "path"))
    var exporterDevice = DMABufExporter.defaultPath.string

    func validate() throws {
        if !(2...16).contains(buffers) { throw ValidationError("--buffers takes 2 to 16") }
        if let frames, frames < 1 { throw ValidationError("--frames takes 1 or more") }
        if !(retrySeconds >= 0 && retrySeconds.isFinite) { throw ValidationError("--retry-seconds takes 0 or more") }
    }

    func run() throws {
        try runStage("process") { try work() }
    }

    private func work() throws {
        // Before anything can deliver it: SIGUSR1 is a flag to poll, not the end of the process.
        blockSignals([SIGUSR1])
        if let joinCgroup { try Self.join(cgroup: joinCgroup) }
        let log = try PipelineEventLog(path: events)
        let vgem = try setup { () throws(DMABufError) in try DRMDevice.open(driver: "vgem") }
        let listener = try listenReplacingStale(at: to)
        var outputs: OutputBuffers?
        var downstream: BufferPoolProducer?
        var processed = 0
        while frames.map({ processed < $0 }) ?? true {
            var upstream = try BufferPoolConsumer(
                channel: try connectRetrying(to: from, seconds: retrySeconds, stage: "process"))
            printError("dmabuf process: connected to \(from), \(upstream.count) buffers")
            log.record("connected", ["stage": .text("worker")])
            var inputs: [KeptMapping] = []
            do {
                for index in 0..<upstream.count {
                    inputs.append(try upstream.withBuffer(at: index) { buffer in KeptMapping(try buffer.map()) })
                }
                while frames.map({ processed < $0 }) ?? true, var frame = try upstream.blockingNext() {
                    if let fence = frame.fence.take(), try !fence.signals(within: .seconds(10)) {
                        printError("dmabuf process: frame \(frame.sequence)'s fence did not signal; dropped it")
                        try upstream.release(frame)
                        continue
                    }
                    guard var stamp = PipelineFrameStamp(frame.metadata),
                        stamp.width * stamp.height * 4 == frame.bytesUsed
                    else {
                        throw StageSetupError(
                            description: "frame \(frame.sequence) is not a pipeline frame of XR24 pixels (metadata "
                                + "\(frame.metadata.count) bytes, \(frame.bytesUsed) bytes used): serve it with "
                                + "`dmabuf capture --serve`")
                    }
                    if outputs == nil {
                        outputs = try OutputBuffers(
                            count: buffers, size: frame.bytesUsed, vgem: vgem, exporterPath: exporterDevice)
                    }
                    // The frame, transformed, in this process's memory: its CRC goes with the frame.
                    try inputs[frame.index].mapping.withCPUAccess(.read) { bytes in
                        bytes.withUnsafeBytes {
                            outputs!.transform(
                                UnsafeRawBufferPointer(rebasing: $0.prefix(frame.bytesUsed)), filter, stamp)
                        }
                    }
                    stamp.crc = outputs!.scratchCRC
                    var producer: BufferPoolProducer
                    if let connected = downstream.take() {
                        producer = connected
                    } else {
                        producer = try outputs!.acceptConsumer(on: listener, log: log)
                    }
                    do {
                        try outputs!.submit(
                            stamp, bytesUsed: frame.bytesUsed, to: &producer, vgem: vgem,
                            withholdFence: takePending(SIGUSR1), log: log)
                        downstream = consume producer
                    } catch let error as DMABufError where error.code == .disconnected {
                        printError("dmabuf process: the consumer went away; waiting for the next (\(error))")
                    }
                    try upstream.release(frame)
                    processed += 1
                }
                try upstream.finish()
            } catch let error as DMABufError where error.code == .disconnected || error.code == .malformedInput {
                printError("dmabuf process: the capture stage went away; reconnecting (\(error))")
            } catch let error as DMABufError {
                throw CommandError(error: error)
            }
        }
        if var producer = downstream.take() {
            while producer.freeCount < producer.count { _ = try? producer.blockingAcquire() }
            try? producer.finish()
        }
        do {
            try listener.close()
        } catch {
            throw CommandError(error: error)
        }
    }

    /// Writes this process's pid into `directory`/cgroup.procs.
    static func join(cgroup directory: String) throws {
        let path = directory + "/cgroup.procs"
        do {
            let file = try FileDescriptor.open(FilePath(path), .writeOnly, options: [.closeOnExec])
            try file.closeAfter { _ = try file.writeAll("\(getpid())\n".utf8) }
        } catch {
            throw StageSetupError(
                description: "join the cgroup \(directory): writing \(path) failed (\(error)); give a cgroup v2 "
                    + "directory this user may move processes into")
        }
    }
}

/// The worker's output buffers: each with its mapping, vgem's handle for it (to attach fences),
/// and a fence left unsignalled on purpose (SIGUSR1); and the frame being made.
final class OutputBuffers {
    final class Output {
        let buffer: DMABuffer
        let mapping: KeptMapping
        let handle: DRMDevice.Handle
        var withheldFence: DRMDevice.VGEMFence?

        init(buffer: consuming DMABuffer, mapping: KeptMapping, handle: DRMDevice.Handle) {
            self.buffer = buffer
            self.mapping = mapping
            self.handle = handle
        }
    }

    private var outputs: [Output] = []
    private var scratch: [UInt8]
    private(set) var scratchCRC: UInt32 = 0

    /// Allocates `count` buffers of `size` bytes from the exporter module if it is loaded, else
    /// from the system heap. Allocation failure (ENOMEM in a squeezed cgroup) is said on stderr
    /// and tried again, backing off to 4 s; the buffers of a failed attempt are closed.
    init(count: Int, size: Int, vgem: borrowing DRMDevice, exporterPath: String) throws {
        scratch = [UInt8](repeating: 0, count: size)
        let source = FileManagerless.exists(exporterPath) ? DMABufSource.exporter : .heapSystem
        let allocator = try setup { () throws(DMABufError) in try source.open(exporterPath: FilePath(exporterPath)) }
        var backoff = 0.25
        while outputs.count < count {
            do {
                let buffer = try allocator.allocate(size: size, name: "pipeline-worker")
                let mapping = KeptMapping(try buffer.map())
                let handle = try vgem.importBuffer(buffer)
                outputs.append(Output(buffer: buffer, mapping: mapping, handle: handle))
                backoff = 0.25
            } catch  where error.code == .outOfMemory || error.code == .limitExceeded {
                printError(
                    "dmabuf process: allocating output buffer \(outputs.count + 1) of \(count) (\(size) bytes from "
                        + "\(source)) failed: \(error); the memory cgroup may be at its limit; trying again in "
                        + "\(backoff) s")
                for output in outputs { try? vgem.closeHandle(output.handle) }
                outputs.removeAll()
                sleep(seconds: backoff)
                backoff = min(backoff * 2, 4)
            } catch {
                throw CommandError(error: error)
            }
        }
    }

    /// Waits for a consumer on `listener` and registers the buffers with it (their fds cross
    /// once per consumer). A fence still withheld is signalled when its buffer is next taken.
    func acceptConsumer(
        on listener: borrowing DMABufChannel.Listener, log: PipelineEventLog
    ) throws -> BufferPoolProducer {
        while true {
            printError("dmabuf process: waiting for a consumer on \(listener.path)")
            let channel = try withCommandHints { () throws(DMABufError) in try listener.blockingAccept() }
            do {
                let producer = try BufferPoolProducer(channel: channel, count: outputs.count) {
                    index throws(DMABufError) in try outputs[index].buffer.duplicate()
                }
                log.record("connected", ["stage": .text("worker-consumer")])
                return producer
            } catch  where error.code == .disconnected {
                continue
            } catch {
                throw CommandError(error: error)
            }
        }
    }

    /// The frame in `input` through `filter` into the scratch frame, and its CRC-32C. Every
    /// pixel's X byte is 0xff, as the display's writeback has it.
    func transform(_ input: UnsafeRawBufferPointer, _ filter: ProcessStage.Filter, _ stamp: PipelineFrameStamp) {
        let pixels = input.count / 4
        scratch.withUnsafeMutableBytes { output in
            let source = input.baseAddress!
            let target = output.baseAddress!
            let flip: UInt32 = filter == .invert ? 0x00ff_ffff : 0
            for pixel in 0..<pixels {
                let value = source.loadUnaligned(fromByteOffset: pixel * 4, as: UInt32.self)
                target.storeBytes(of: (value ^ flip) | 0xff00_0000, toByteOffset: pixel * 4, as: UInt32.self)
            }
            if filter == .stamp { Self.stampSequence(stamp, into: target) }
            var crc = CRC32C()
            crc.update(UnsafeRawBufferPointer(output))
            scratchCRC = crc.value
        }
    }

    /// The low 32 bits of the sequence number as 8x8 squares along the top left, most
    /// significant first: white for 1, black for 0.
    private static func stampSequence(_ stamp: PipelineFrameStamp, into target: UnsafeMutableRawPointer) {
        let side = 8
        for bit in 0..<min(32, stamp.width / side) {
            let isSet = (stamp.sequence >> (31 - bit)) & 1 == 1
            for y in 0..<min(side, stamp.height) {
                for x in bit * side..<(bit + 1) * side {
                    target.storeBytes(
                        of: isSet ? 0xffff_ffff : 0xff00_0000, toByteOffset: (y * stamp.width + x) * 4,
                        as: UInt32.self)
                }
            }
        }
    }

    /// Hands the scratch frame on: takes a free output buffer (waiting while the consumer holds
    /// them all), attaches a vgem write fence, submits the buffer with it and `stamp`, and only
    /// then writes the frame into it and signals the fence, unless `withholdFence`.
    func submit(
        _ stamp: PipelineFrameStamp, bytesUsed: Int, to producer: inout BufferPoolProducer,
        vgem: borrowing DRMDevice, withholdFence: Bool, log: PipelineEventLog
    ) throws {
        let index = try producer.blockingAcquire()
        let output = outputs[index]
        if let withheld = output.withheldFence.take() {
            // The consumer released the frame it must not show; its fence can go now.
            try? vgem.signalFence(withheld)
        }
        // CPU access starts before the fence is attached: DMA_BUF_IOCTL_SYNC waits for fences.
        try output.mapping.mapping.withCPUAccess(.write) { bytes in
            let fence = try vgem.attachFence(to: output.handle, write: true)
            do {
                let syncFile = try output.buffer.exportSyncFile(.read)
                try producer.submit(index: index, bytesUsed: bytesUsed, fence: syncFile, metadata: stamp.bytes)
            } catch {
                try? vgem.signalFence(fence)
                throw error
            }
            bytes.withUnsafeMutableBytes { target in
                scratch.withUnsafeBytes {
                    target.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0.prefix(bytesUsed)))
                }
            }
            if withholdFence {
                output.withheldFence = fence
                printError("dmabuf process: SIGUSR1: the fence of frame \(stamp.sequence) stays unsignalled")
                log.record(
                    "fence-withheld",
                    ["sequence": .unsigned(stamp.sequence), "captured_ns": .unsigned(stamp.capturedNanoseconds)])
            } else {
                try vgem.signalFence(fence)
            }
        }
    }
}

/// File existence without Foundation.
enum FileManagerless {
    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }
}
