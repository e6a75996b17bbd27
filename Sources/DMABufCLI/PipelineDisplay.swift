import DMABuf
import DMABufDisplay
import DMABufSources
import Glibc
import SystemPackage

/// A framebuffer over one buffer of the pool. (A class, since a `KMSFramebuffer` cannot live in
/// an array itself.)
private final class PoolFramebuffer {
    let framebuffer: KMSFramebuffer

    init(_ framebuffer: consuming KMSFramebuffer) {
        self.framebuffer = framebuffer
    }
}

/// The screen of the display stage: the KMS device, the output in the frames' size, and the
/// writeback target for the checks, kept across upstream reconnects.
private final class PipelineScreen {
    let device: KMSDevice
    var output: KMSOutput?
    var layout: ImageLayout?
    /// The writeback's buffer, mapped, and its framebuffer.
    var writeback: (mapping: KeptMapping, framebuffer: PoolFramebuffer)?

    init(device: consuming KMSDevice) {
        self.device = device
    }
}

/// One connection of the display stage to the worker: its pool, a framebuffer over each buffer
/// (made when first shown), and the frames on screen and flipping there.
private final class PipelineDisplaySession {
    var consumer: BufferPoolConsumer
    let screen: PipelineScreen
    let log: PipelineEventLog
    let checkEvery: Int
    var framebuffers: [PoolFramebuffer?]
    var slots = ScanoutSlots<BufferPoolConsumer.Frame>()
    /// The stamps of the frame a flip is taking to the screen, and of the one there, by index.
    var flipping: (stamp: PipelineFrameStamp, index: Int)?
    /// After a writeback, and with a new pool, the CRTC is routed anew by a modeset.
    var needsModeset = true
    var shown = 0

    init(consumer: consuming BufferPoolConsumer, screen: PipelineScreen, log: PipelineEventLog, checkEvery: Int) {
        self.framebuffers = Array(repeating: nil, count: consumer.count)
        self.consumer = consumer
        self.screen = screen
        self.log = log
        self.checkEvery = checkEvery
    }

    /// Shows `frame` (its fence signalled): by a modeset when the CRTC needs one, else by a flip
    /// after the pending one has completed.
    func show(
        _ frame: consuming BufferPoolConsumer.Frame, stamp: PipelineFrameStamp, fence: consuming SyncFile?,
        source: borrowing SourceAllocator
    ) throws {
        if slots.isFlipping { try completeFlip(source: source) }
        let index = frame.index
        let framebuffer = try self.framebuffer(index, stamp: stamp)
        let output = screen.output!
        if needsModeset {
            try screen.device.show(framebuffer.framebuffer, on: output)
            needsModeset = false
            if let free = slots.shown(frame) { try consumer.release(free) }
            try didShow(stamp, index: index, at: monotonicNanoseconds(), source: source)
        } else {
            _ = try screen.device.flip(to: framebuffer.framebuffer, on: output, inFence: fence)
            flipping = (stamp, index)
            slots.flipCommitted(frame)
        }
    }

    /// Waits for the pending flip's event: its frame is on screen. Releases the one it replaced.
    func completeFlip(source: borrowing SourceAllocator) throws {
        let event = try screen.device.blockingNextFlip(timeout: .seconds(5))
        if let free = slots.flipCompleted() { try consumer.release(free) }
        if let (stamp, index) = flipping.take() {
            try didShow(stamp, index: index, at: nanoseconds(event.timestamp), source: source)
        }
    }

    /// The end of the connection: the last flip completes, and the frames go back.
    func finish(source: borrowing SourceAllocator) throws {
        if slots.isFlipping { try completeFlip(source: source) }
        if let last = slots.takeOnScreen() { try consumer.release(last) }
    }

    /// `stamp`'s frame is on screen: the event, and every Nth time the check.
    private func didShow(_ stamp: PipelineFrameStamp, index: Int, at flipped: UInt64, source: borrowing SourceAllocator)
        throws
    {
        shown += 1
        log.record(
            "shown",
            [
                "sequence": .unsigned(stamp.sequence), "captured_ns": .unsigned(stamp.capturedNanoseconds),
                "flipped_ns": .unsigned(flipped),
            ])
        guard checkEvery > 0, shown % checkEvery == 0, let framebuffer = framebuffers[index] else { return }
        let crc = try writeBack(framebuffer, source: source)
        needsModeset = true
        let ok = crc == stamp.crc
        log.record(
            "check",
            [
                "sequence": .unsigned(stamp.sequence), "captured_ns": .unsigned(stamp.capturedNanoseconds),
                "crc": .unsigned(UInt64(crc)), "expected": .unsigned(UInt64(stamp.crc)), "ok": .bool(ok),
            ])
        if !ok {
            printError(
                "dmabuf display: frame \(stamp.sequence): the writeback's CRC-32C is \(crc), the worker's "
                    + "\(stamp.crc): the display did not show what the worker finished")
        }
    }

    /// The framebuffer over pool buffer `index`, made the first time; the first frame also
    /// chooses the output, in the frame's size.
    private func framebuffer(_ index: Int, stamp: PipelineFrameStamp) throws(DMABufError) -> PoolFramebuffer {
        if let made = framebuffers[index] { return made }
        if screen.layout.map({ ($0.width, $0.height) != (stamp.width, stamp.height) }) ?? true {
            screen.output = try screen.device.output(width: stamp.width, height: stamp.height)
            screen.layout = try ImageLayout.packed(width: stamp.width, height: stamp.height, format: .xrgb8888)
            screen.writeback = nil
        }
        let layout = screen.layout!
        let screen = self.screen
        let made = try consumer.withBuffer(at: index) { (buffer) throws(DMABufError) -> PoolFramebuffer in
            PoolFramebuffer(try screen.device.addFramebuffer(buffer, layout: layout))
        }
        framebuffers[index] = made
        return made
    }

    /// Shows `framebuffer` through the writeback connector (a blocking commit of its own) and
    /// returns the CRC-32C of what the CRTC wrote.
    private func writeBack(
        _ framebuffer: PoolFramebuffer, source: borrowing SourceAllocator
    ) throws(DMABufError) -> UInt32 {
        let layout = screen.layout!
        if screen.writeback == nil {
            let buffer = try source.allocate(size: layout.bufferSizes[0], name: "pipeline-writeback")
            screen.writeback = (
                KeptMapping(try buffer.map()), PoolFramebuffer(try screen.device.addFramebuffer(buffer, layout: layout))
            )
        }
        let (mapping, target) = screen.writeback!
        try screen.device.writeback(
            framebuffer.framebuffer, on: screen.output!, into: target.framebuffer, timeout: .seconds(5))
        let frameBytes = layout.planes[0].stride * layout.height
        do {
            return try mapping.mapping.withCPUAccess(.read) { bytes in
                var crc = CRC32C()
                bytes.withUnsafeBytes { crc.update(UnsafeRawBufferPointer(rebasing: $0.prefix(frameBytes))) }
                return crc.value
            }
        } catch {
            throw error as? DMABufError ?? DMABufError(.other, operation: "read the writeback", hint: "\(error)")
        }
    }
}

extension Display {
    /// The display stage of the pipeline (`--connect SOCKET`). Per frame: wait for its fence up to
    /// --fence-timeout, and drop it (released, never committed, a `fence-timeout` event) if it has
    /// not signalled; else flip to it with the fence as IN_FENCE_FD. A frame goes back to the
    /// worker only once a later flip has taken it off the screen. Every --check-every'th shown
    /// frame is written back and its CRC-32C compared with the worker's.
    func showStream(from socket: String) throws {
        let log = try PipelineEventLog(path: events)
        let screen = PipelineScreen(device: try setup { () throws(DMABufError) in try openDevice() })
        // The exporter's buffers where it is loaded: vkms imports them on every kernel tested.
        let writebackSource = try setup { () throws(DMABufError) in
            FileManagerless.exists(exporterDevice)
                ? try DMABufSource.exporter.open(exporterPath: FilePath(exporterDevice))
                : try DMABufSource.automatic(exporterPath: FilePath(exporterDevice))
        }
        let wait = Duration.milliseconds(fenceTimeout)
        var shown = 0
        while frames.map({ shown < $0 }) ?? true {
            let session = PipelineDisplaySession(
                consumer: try BufferPoolConsumer(
                    channel: try connectRetrying(to: socket, seconds: retrySeconds, stage: "display")),
                screen: screen, log: log, checkEvery: checkEvery)
            printError("dmabuf display: connected to \(socket), \(session.consumer.count) buffers")
            log.record("connected", ["stage": .text("display")])
            do {
                while frames.map({ shown + session.shown < $0 }) ?? true,
                    var frame = try session.consumer.blockingNext()
                {
                    guard let stamp = PipelineFrameStamp(frame.metadata) else {
                        throw StageSetupError(
                            description: "frame \(frame.sequence) carries no pipeline metadata: connect to "
                                + "`dmabuf process --to`")
                    }
                    let fence = frame.fence.take()
                    if try !(fence?.signals(within: wait) ?? true) {
                        log.record(
                            "fence-timeout",
                            [
                                "sequence": .unsigned(stamp.sequence),
                                "captured_ns": .unsigned(stamp.capturedNanoseconds),
                            ])
                        printError(
                            "dmabuf display: frame \(stamp.sequence)'s fence did not signal in \(fenceTimeout) ms: "
                                + "dropped, never shown")
                        try session.consumer.release(frame)
                        continue
                    }
                    try session.show(frame, stamp: stamp, fence: fence, source: writebackSource)
                }
                try session.finish(source: writebackSource)
            } catch let error as DMABufError where error.code == .disconnected || error.code == .malformedInput {
                printError("dmabuf display: the worker went away; reconnecting (\(error))")
                // The frame of a pending flip stays in use until its event.
                if session.slots.isFlipping { _ = try? screen.device.blockingNextFlip(timeout: .seconds(1)) }
            }
            shown += session.shown
        }
    }
}
