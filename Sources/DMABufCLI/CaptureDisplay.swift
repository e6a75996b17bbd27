internal import CDMABufDRM
import DMABuf
import DMABufDisplay
import DMABufSources
import DMABufV4L2
import Glibc
import SystemPackage

/// The display side of `dmabuf capture --display`: a KMS device, its output at the frame's size,
/// and one framebuffer per capture buffer, made up front over that very buffer, so that each frame
/// is scanned out from the buffer the camera wrote it into.
struct FrameDisplay: ~Copyable {
    let device: KMSDevice
    let output: KMSOutput
    let layout: ImageLayout
    /// By capture buffer index.
    private var scanouts: [Scanout] = []

    /// A framebuffer over a capture buffer, and the inode of the dma-buf behind it as the kernel
    /// reports it.
    final class Scanout: Sendable {
        let framebuffer: KMSFramebuffer
        let inode: UInt64

        init(framebuffer: consuming KMSFramebuffer, inode: UInt64) {
            self.framebuffer = framebuffer
            self.inode = inode
        }
    }

    /// Opens the first KMS device of `driver` and chooses its output for `format`'s frame size,
    /// checking before any buffer exists that the output's primary plane scans out the format.
    ///
    /// - Parameter offered: the pixel formats the camera captures, to suggest one the plane shares.
    init(driver: String, format: V4L2Format, offered: [V4L2PixelFormat]) throws(DMABufError) {
        let device = try KMSDevice.open(driver: driver)
        let output: KMSOutput
        do {
            output = try device.output(width: format.width, height: format.height)
        } catch  where error.code == .invalidArgument {
            var error = error
            error.hint = (error.hint ?? "") + ": capture at one of them with --size"
            throw error
        }
        // Formats both sides have, the default first.
        let shared = ([Capture.displayFormat] + offered.filter { $0 != Capture.displayFormat }).filter { camera in
            offered.contains(camera) && camera.drmFormat.map { output.plane.supports($0, modifier: .linear) } ?? false
        }
        let advice =
            shared.isEmpty
            ? "no format the camera captures is one the plane scans out"
            : "capture with --format \(shared.map(\.fourCC).joined(separator: " or --format "))"
        let operation = "display \(format) frames on \(device.path) \(output.connector.name)"
        let layout: ImageLayout
        do {
            layout = try format.imageLayout()
        } catch {
            throw DMABufError(.unsupported, operation: operation, hint: "\(error.hint ?? "\(error)"); \(advice)")
        }
        guard output.plane.supports(layout.format, modifier: layout.modifier) else {
            throw DMABufError(
                .unsupported, operation: operation,
                target: device.path.string,
                hint: "Its primary plane \(output.plane.id) scans out "
                    + output.plane.formats.map(\.fourCC).joined(separator: " ")
                    + ", not \(layout.format.fourCC) (it would take a conversion, which is a copy); \(advice)")
        }
        self.device = device
        self.output = output
        self.layout = layout
    }

    /// "/dev/dri/card0: Virtual-1 1280x720@60, CRTC 37, primary plane 31, XR24".
    var description: String {
        "\(device.path): \(output.connector.name) \(output.mode), CRTC \(output.crtc.id), primary plane "
            + "\(output.plane.id), \(layout.format)"
    }

    /// Makes a framebuffer over each of `stream`'s buffers.
    mutating func addFramebuffers(for stream: borrowing V4L2CaptureStream) throws(DMABufError) {
        for index in 0..<stream.bufferCount {
            let scanout = try stream.withBuffer(index) { (buffer) throws(DMABufError) -> Scanout in
                let imported = try device.importBuffer(buffer)
                let framebuffer = try device.addFramebuffer(imported, layout: layout)
                return Scanout(framebuffer: framebuffer, inode: try kernelInode(of: imported))
            }
            scanouts.append(scanout)
        }
    }

    /// The framebuffer over capture buffer `index`.
    func scanout(_ index: Int) -> Scanout { scanouts[index] }

    /// The inode of the dma-buf behind `imported`'s GEM handle, as the kernel says: PRIME
    /// HANDLE_TO_FD of a handle the device imported gives back the very dma-buf it came from.
    /// (DMABufDisplay does not say which dma-buf a handle holds, so the CLI asks the kernel itself.)
    private func kernelInode(of imported: borrowing KMSImport) throws(DMABufError) -> UInt64 {
        var prime = drm_prime_handle()
        prime.handle = imported.handle
        prime.flags = CDMABufDRM_DRM_CLOEXEC()
        prime.fd = -1
        let operation = "DRM_IOCTL_PRIME_HANDLE_TO_FD of handle \(imported.handle)"
        _ = try device.withUnsafeDescriptor { Sys.ioctl($0, CDMABufDRM_DRM_IOCTL_PRIME_HANDLE_TO_FD(), &prime) }
            .get(operation, on: device.path.string)
        let buffer = try DMABuffer(
            returned: prime.fd, by: operation, on: device.path.string, accessMode: nil, closeOnExecIsSet: true)
        return buffer.identity.inode
    }

    /// Writes what the CRTC shows of capture buffer `index` into a new buffer from `allocator`
    /// (a writeback commit of its own), and returns its XRGB8888 bytes, row by row without padding.
    func writeback(
        _ index: Int, into allocator: borrowing some DMABufAllocator & ~Copyable, timeout: Duration
    ) throws(DMABufError) -> [UInt8] {
        let target = try ImageLayout.packed(width: layout.width, height: layout.height, format: .xrgb8888)
        let stride = target.planes[0].stride
        let buffer = try allocator.allocate(size: stride * target.height, name: "capture-writeback")
        let framebuffer = try device.addFramebuffer(buffer, layout: target)
        try device.writeback(scanouts[index].framebuffer, on: output, into: framebuffer, timeout: timeout)
        let mapping = try buffer.map()
        do {
            return try mapping.withCPUAccess(.read) { span in
                span.withUnsafeBytes { Array($0.prefix(stride * target.height)) }
            }
        } catch {
            throw error as? DMABufError ?? DMABufError(.other, operation: "read the writeback", hint: "\(error)")
        }
    }
}

extension Capture {
    /// Streams `frames` frames from `stream` onto `screen`: the first by a blocking modeset, each
    /// later one by a page flip committed as soon as the frame is there and the previous flip's
    /// event has come. Frames go back to the camera once a later flip has completed. Then writes
    /// the last frame back (`--writeback`), and the stats (`--stats-json`).
    func show(
        on screen: consuming FrameDisplay, from stream: consuming V4L2CaptureStream, report: inout Report,
        lines: consuming [String]
    ) throws(DMABufError) -> Report {
        try screen.addFramebuffers(for: stream)
        report.framebufferInodes = (0..<stream.bufferCount).map { screen.scanout($0).inode }
        lines.append(
            "scanout   \(stream.bufferCount) framebuffers, one over each capture buffer: "
                + (0..<stream.bufferCount).map {
                    "fb \(screen.scanout($0).framebuffer.id) = inode \(screen.scanout($0).inode)"
                }
                .joined(separator: ", "))
        let wait = Duration.milliseconds(Int(timeout * 1000))
        var slots = ScanoutSlots<V4L2Frame>()
        var latencies: [Duration] = []
        var copies = 0
        var unmeasured: Set<String> = []
        /// The frame whose flip is pending, and its line, finished when the flip's event comes.
        var pending: (metadata: V4L2Frame.Metadata, dequeued: Duration, line: String)?

        /// What is on screen, for --writeback.
        var onScreen: V4L2Frame.Metadata?

        /// Waits for the pending flip's event: its frame is on screen. Returns the one before, now free.
        func completeFlip() throws(DMABufError) -> V4L2Frame? {
            let event = try screen.device.blockingNextFlip(timeout: wait)
            let now = monotonicNow()
            guard let (flipped, dequeued, frameLine) = pending.take() else { preconditionFailure("no flip pending") }
            var line = frameLine + "  flip at vblank \(event.sequence)"
            switch Latency(
                captured: flipped.timestamp, isMonotonic: flipped.timestampIsMonotonic, dequeued: dequeued,
                flipped: event.timestamp, now: now)
            {
            case .measured(let latency):
                latencies.append(latency)
                line += ", \(Self.format(DisplayStats.milliseconds(latency), digits: 1)) ms after capture"
            case .unmeasured(let reason):
                unmeasured.insert(reason)
            }
            lines.append(line)
            onScreen = flipped
            return slots.flipCompleted()
        }

        try stream.start()
        let usageBefore = ResourceUsage.now()
        let started = monotonicNow()
        for number in 0..<frameCount {
            let frame = try stream.dequeue(timeout: wait)
            let dequeued = monotonicNow()
            let inode = frame.withBuffer { $0.identity.inode }
            report.frames.append(frame.metadata)
            report.inodes.append(inode)
            if screen.scanout(frame.index).inode != inode { copies += 1 }
            let line =
                "frame     seq \(frame.sequence)  bytesused \(frame.bytesUsed)  buffer \(frame.index)  inode \(inode)"
            if slots.isFlipping, let free = try completeFlip() { try stream.requeue(free) }
            if number == 0 {
                try screen.device.show(screen.scanout(frame.index).framebuffer, on: screen.output)
                lines.append(line + "  shown by modeset")
                onScreen = frame.metadata
                if let free = slots.shown(frame) { try stream.requeue(free) }
            } else {
                _ = try screen.device.flip(to: screen.scanout(frame.index).framebuffer, on: screen.output)
                pending = (frame.metadata, dequeued, line)
                slots.flipCommitted(frame)
            }
        }
        if slots.isFlipping, let free = try completeFlip() { try stream.requeue(free) }
        let elapsed = monotonicNow() - started
        let usage = ResourceUsage.now() - usageBefore
        let stats = DisplayStats(
            frames: frameCount, seconds: DisplayStats.milliseconds(elapsed) / 1e3, latencies: latencies,
            cpuSeconds: usage.cpuSeconds, pageFaults: usage.pageFaults, copies: copies)
        report.display = stats
        report.pageFaults = usage.pageFaults
        report.framesPerSecond = stats.framesPerSecond
        var rate =
            "rate      \(frameCount) frames in \(Self.format(stats.seconds, digits: 3)) s: "
            + "\(Self.format(stats.framesPerSecond, digits: 1)) frames/s, "
        if let p50 = stats.latencyMilliseconds(percentile: 50), let p99 = stats.latencyMilliseconds(percentile: 99) {
            rate += "capture to flip p50 \(Self.format(p50, digits: 1)) ms, p99 \(Self.format(p99, digits: 1)) ms, "
        }
        rate +=
            "\(Self.format(stats.cpuSecondsPerFrame * 1e3, digits: 2)) ms CPU per frame, "
            + "\(stats.pageFaults) page faults in this process"
        lines.append(rate)
        for reason in unmeasured.sorted() { lines.append("latency   not measured: \(reason)") }
        lines.append(
            "copies    \(copies): no frame's bytes were read or written in this process, and "
                + (copies == 0
                    ? "every frame was scanned out from the buffer it was captured into (its framebuffer's dma-buf, "
                        + "as the kernel reports it, has the frame's inode)"
                    : "\(copies) frame(s) were scanned out from a buffer other than their own"))

        if let writeback, let frame = onScreen {
            let allocator = try writebackAllocator()
            let bytes = try screen.writeback(frame.index, into: allocator, timeout: wait)
            report.writeback = bytes
            let (width, height) = (screen.layout.width, screen.layout.height)
            try bytes.withUnsafeBytes { raw in
                Result { () throws(DMABufError) in
                    try PNGFile.writeXRGB(raw, width: width, height: height, stride: width * 4, to: writeback)
                }
            }.get()
            lines.append(
                "writeback \(writeback) (\(width)x\(height) PNG, RGB): frame seq \(frame.sequence) as the display "
                    + "showed it, through \(screen.output.writeback?.name ?? "the writeback connector")")
        }
        if let statsJSON {
            try Self.write(stats.json + "\n", to: statsJSON)
            lines.append("stats     \(statsJSON)")
        }
        try finish(slots.takeOnScreen(), stream, lines: &lines)
        report.lines = lines
        return report
    }

    /// A source of our own for the writeback's buffer: `--into`'s, or the default one.
    private func writebackAllocator() throws(DMABufError) -> SourceAllocator {
        let exporterPath = FilePath(exporterDevice)
        if into == "heap" { return try DMABufSource.heapSystem.open(exporterPath: exporterPath) }
        if let source = DMABufSource(rawValue: into) { return try source.open(exporterPath: exporterPath) }
        return try DMABufSource.automatic(exporterPath: exporterPath)
    }

    /// Writes `text` to the file at `path`, replacing it.
    static func write(_ text: String, to path: String) throws(DMABufError) {
        do {
            let file = try FileDescriptor.open(
                FilePath(path), .writeOnly, options: [.create, .truncate, .closeOnExec],
                permissions: [.ownerReadWrite, .groupRead, .otherRead])
            try file.closeAfter { _ = try file.writeAll(text.utf8) }
        } catch {
            throw DMABufError(errno: error as? Errno ?? .ioError, operation: "write", target: path)
        }
    }
}

/// CLOCK_MONOTONIC now, the clock of V4L2 buffer timestamps and DRM flip events.
func monotonicNow() -> Duration {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return .seconds(now.tv_sec) + .nanoseconds(now.tv_nsec)
}
