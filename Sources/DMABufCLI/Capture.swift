import ArgumentParser
import CPNG
import DMABuf
import DMABufDisplay
import DMABufSources
import DMABufV4L2
import Glibc
import SystemPackage

/// Captures frames from a V4L2 device into dma-bufs: the device's own, exported (MMAP +
/// VIDIOC_EXPBUF), or ours from a source, imported (V4L2_MEMORY_DMABUF). Saves the last one as a PNG,
/// or shows every frame on a KMS display straight from the buffer it was captured into.
struct Capture: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Capture video frames from a V4L2 device into dma-bufs, save one as a PNG, or show them on a display.",
        discussion: """
            Prints each frame's sequence number, bytes used, buffer and the buffer's inode, then the frame \
            rate. --into mmap uses the device's own buffers, exported as dma-bufs (VIDIOC_EXPBUF); a source \
            name has the device write into dma-bufs from that source (V4L2_MEMORY_DMABUF); auto takes the \
            default source (as `dmabuf alloc --from auto`) and falls back to mmap if none is available.

            --display [DRIVER] (default vkms) shows every frame on the first KMS device of DRIVER, scanned \
            out from the very buffer it was captured into: one framebuffer per capture buffer, one page \
            flip per frame, and a buffer goes back to the camera only once a later flip has taken it off \
            the screen. The format defaults to XR24 (XRGB8888) and the size to 1280x720, which must be a \
            mode of the connector.
            """
    )

    @Option(help: ArgumentHelp("The video device (default: the first capture node of --driver).", valueName: "path"))
    var device: String?

    @Option(help: ArgumentHelp("The driver whose capture node to find without --device.", valueName: "name"))
    var driver = "vivid"

    @Option(
        help: ArgumentHelp(
            "The pixel format: YUYV, RGB24 or another four-character code (default: the device's).",
            valueName: "format"))
    var format: String?

    @Option(help: ArgumentHelp("The frame size (default: the device's).", valueName: "WxH"))
    var size: String?

    @Option(help: "Frames to capture (default 10; with --serve, until stopped).")
    var frames: Int?

    /// The frames to capture without --serve.
    var frameCount: Int { frames ?? 10 }

    @Option(
        help: ArgumentHelp(
            "Whose buffers: mmap, exporter, heap (heap:system), udmabuf, another source of `dmabuf sources`, "
                + "or auto.", valueName: "buffers"))
    var into = "auto"

    @Option(help: ArgumentHelp("Buffers to stream with.", valueName: "n"))
    var buffers = 4

    @Option(
        name: .customLong("control"),
        help: ArgumentHelp(
            "Set a control first, by name (case, spaces and _ ignored); repeatable. For a still vivid "
                + "picture: --control osd_text_mode=2.", valueName: "name=value"))
    var controls: [String] = []

    @Option(
        help: ArgumentHelp("Write the last frame here as a PNG (YUYV, RGB24 and XR24 only).", valueName: "file.png"))
    var save: String?

    @Option(help: ArgumentHelp("Seconds to wait for each frame.", valueName: "seconds"))
    var timeout: Double = 5

    @Option(help: ArgumentHelp("The exporter module's device, for --into exporter.", valueName: "path"))
    var exporterDevice = "/dev/dmabuf_exporter"

    @Flag(
        help: ArgumentHelp(
            "Show every frame on a KMS display, scanned out from the buffer it was captured into (default driver "
                + "vkms, format XR24, size 1280x720)."))
    var display = false

    @Argument(help: ArgumentHelp("With --display: the KMS driver to show the frames on.", valueName: "driver"))
    var displayDriver: String?

    @Option(
        help: ArgumentHelp(
            "With --display: write what the display showed last as a PNG (a writeback commit of the last frame).",
            valueName: "file.png"))
    var writeback: String?

    @Option(
        name: .customLong("stats-json"),
        help: ArgumentHelp(
            "With --display: write frames, seconds, framesPerSecond, latencyP50Ms, latencyP99Ms, "
                + "cpuSecondsPerFrame, pageFaults and copies here as a JSON object.", valueName: "file"))
    var statsJSON: String?

    @Option(
        help: ArgumentHelp(
            "Serve the frames to one consumer at a time (`dmabuf process --from`) on this Unix socket, in a pool "
                + "of the capture buffers (default format XR24, size 640x480).", valueName: "socket"))
    var serve: String?

    @Option(
        help: ArgumentHelp("With --serve: append the stage's events here, one JSON object a line.", valueName: "file"))
    var events: String?

    /// The format and size `--display` captures in unless told otherwise: XRGB8888 (V4L2's XBGR32)
    /// is what every KMS primary plane scans out, and vivid and vkms both have 1280x720.
    static let displayFormat = V4L2PixelFormat.xbgr32
    static let displaySize = (width: 1280, height: 720)

    func validate() throws {
        if let frames, !(1...100_000_000).contains(frames) { throw ValidationError("--frames takes 1 to 100000000") }
        if !(1...32).contains(buffers) { throw ValidationError("--buffers takes 1 to 32") }
        if !(timeout > 0 && timeout <= 3600) { throw ValidationError("--timeout takes seconds, above 0, at most 3600") }
        if let format, V4L2PixelFormat(name: format) == nil {
            throw ValidationError("--format takes YUYV, RGB24 or a four-character code such as NV12, not \(format)")
        }
        if let size, V4L2Format.parseSize(size) == nil {
            throw ValidationError("--size takes WIDTHxHEIGHT, such as 640x360, not \(size)")
        }
        if into != "mmap", into != "auto", into != "heap", DMABufSource(rawValue: into) == nil {
            throw ValidationError(
                "--into takes mmap, auto, heap or a source (\(DMABufSource.allCases.map(\.rawValue).joined(separator: ", "))), not \(into)"
            )
        }
        for control in controls where Self.parseControl(control) == nil {
            throw ValidationError("--control takes name=value with an integer value, not \(control)")
        }
        if let save, !save.hasSuffix(".png") {
            throw ValidationError("--save writes a PNG: give a name ending in .png")
        }
        if !display {
            if let displayDriver {
                throw ValidationError("\(displayDriver) is not an option: give a KMS driver after --display")
            }
            if writeback != nil || statsJSON != nil {
                throw ValidationError("--writeback and --stats-json go with --display")
            }
        }
        if let writeback, !writeback.hasSuffix(".png") {
            throw ValidationError("--writeback writes a PNG: give a name ending in .png")
        }
        if serve != nil {
            if display { throw ValidationError("give --serve or --display, not both") }
            if save != nil { throw ValidationError("--save does not go with --serve: the frames go to the consumer") }
        } else if events != nil {
            throw ValidationError("--events goes with --serve")
        }
        if display, buffers < 3 {
            throw ValidationError(
                "--display needs at least 3 buffers: one on screen, one flipping to it, one the camera fills")
        }
    }

    static func parseControl(_ text: String) -> (name: String, value: Int32)? {
        guard let equals = text.lastIndex(of: "="), equals != text.startIndex,
            let value = Int32(text[text.index(after: equals)...])
        else { return nil }
        return (String(text[..<equals]), value)
    }

    func run() throws {
        if let serve {
            try runStage("capture") { try serveFrames(on: serve) }
            return
        }
        let report = try capture()
        print(report.lines.joined(separator: "\n"))
    }

    /// What `capture` did: the lines `run` prints, and what the tests check.
    struct Report {
        var format: V4L2Format
        var memory: String
        var frames: [V4L2Frame.Metadata] = []
        /// The inode of the buffer behind each frame.
        var inodes: [UInt64] = []
        var framesPerSecond: Double = 0
        /// Page faults this process took while it captured (getrusage): none are needed, since
        /// nothing in user space touches a frame's bytes.
        var pageFaults = 0
        /// With --display: what the display loop measured.
        var display: DisplayStats?
        /// With --display: the inode of the dma-buf behind each buffer's framebuffer, as the kernel says.
        var framebufferInodes: [UInt64] = []
        /// With --writeback: what the display showed last, XRGB8888 rows without padding.
        var writeback: [UInt8]?
        var lines: [String] = []
    }

    func capture() throws -> Report {
        try withCommandHints { () throws(DMABufError) in try captureFrames() }
    }

    private func captureFrames() throws(DMABufError) -> Report {
        let camera = try openCamera()
        var lines: [String] = []
        let chosen = try configure(
            camera, defaultSize: display ? Self.displaySize : nil, defaultFormat: display ? Self.displayFormat : nil,
            lines: &lines)
        if display {
            let screen = try FrameDisplay(
                driver: displayDriver ?? "vkms", format: chosen, offered: try camera.formats().map(\.pixelFormat))
            lines.append("display   \(screen.description)")
            var memory = ""
            let stream = try makeStream(camera, memory: &memory, lines: &lines)
            var report = Report(format: chosen, memory: memory)
            return try show(on: screen, from: stream, report: &report, lines: lines)
        }
        var memory = ""
        let stream = try makeStream(camera, memory: &memory, lines: &lines)
        var report = Report(format: chosen, memory: memory)

        try stream.start()
        let usageBefore = ResourceUsage.now()
        let started = ContinuousClock.now
        var last: V4L2Frame?
        for _ in 0..<frameCount {
            if let previous = last.take() { try stream.requeue(previous) }
            let frame = try stream.dequeue(timeout: .milliseconds(Int(timeout * 1000)))
            let inode = frame.withBuffer { $0.identity.inode }
            report.frames.append(frame.metadata)
            report.inodes.append(inode)
            lines.append(
                "frame     seq \(frame.sequence)  bytesused \(frame.bytesUsed)  buffer \(frame.index)  inode \(inode)")
            last = consume frame
        }
        let elapsed = ContinuousClock.now - started
        report.pageFaults = (ResourceUsage.now() - usageBefore).pageFaults
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        report.framesPerSecond = seconds > 0 ? Double(frameCount) / seconds : 0
        lines.append(
            "rate      \(frameCount) frames in \(Self.format(seconds, digits: 3)) s: \(Self.format(report.framesPerSecond, digits: 1)) frames/s, \(report.pageFaults) page faults in this process"
        )
        try finish(last.take(), stream, lines: &lines)
        report.lines = lines
        return report
    }

    /// `--device`, or the first capture node of `--driver`.
    func openCamera() throws(DMABufError) -> V4L2Device {
        if let device { return try V4L2Device(path: FilePath(device)) }
        return try V4L2Device.open(driver: driver)
    }

    /// Sets `--control`s and the format (`--format`, `--size`, else the defaults given, else the
    /// device's); returns the format and adds what it did to `lines`.
    func configure(
        _ camera: borrowing V4L2Device, defaultSize: (width: Int, height: Int)?, defaultFormat: V4L2PixelFormat?,
        lines: inout [String]
    ) throws(DMABufError) -> V4L2Format {
        for text in controls {
            let (name, value) = Self.parseControl(text)!
            let control = try camera.control(named: name)
            try camera.setControl(control, to: value)
            lines.append("control   \(control.name) = \(value)")
        }
        let size = self.size.flatMap(V4L2Format.parseSize) ?? defaultSize
        let pixelFormat = format.flatMap(V4L2PixelFormat.init(name:)) ?? defaultFormat
        let chosen =
            (pixelFormat != nil || size != nil)
            ? try camera.setFormat(width: size?.width, height: size?.height, pixelFormat: pixelFormat)
            : try camera.format()
        if let size, (chosen.width, chosen.height) != size {
            throw DMABufError(
                .unsupported, operation: "VIDIOC_S_FMT \(size.width)x\(size.height)", target: camera.path,
                hint: "The device does not capture that size; it chose \(chosen.width)x\(chosen.height)")
        }
        let caps = try camera.capabilities()
        lines.insert("device    \(camera.path) (\(caps.driver), \(caps.card))", at: 0)
        lines.append("format    \(chosen)")
        return chosen
    }
    /// A stream of `--buffers` buffers from `--into`; `memory` says what they are ("DMABUF, imported from ...").
    func makeStream(
        _ camera: borrowing V4L2Device, memory: inout String, lines: inout [String]
    ) throws(DMABufError) -> V4L2CaptureStream {
        let stream: V4L2CaptureStream
        let source: SourceAllocator?
        let exporterPath = FilePath(exporterDevice)
        switch into {
        case "mmap": source = nil
        case "auto": source = try? DMABufSource.automatic(exporterPath: exporterPath)
        case "heap": source = try DMABufSource.heapSystem.open(exporterPath: exporterPath)
        default: source = try DMABufSource(rawValue: into)!.open(exporterPath: exporterPath)
        }
        if let source {
            stream = try camera.importingStream(count: buffers, from: source)
            memory = "DMABUF, imported from \(source.source) (\(source.path))"
        } else {
            stream = try camera.exportingStream(count: buffers)
            memory = "MMAP, exported with VIDIOC_EXPBUF" + (into == "auto" ? " (no source available)" : "")
        }
        lines.append("buffers   \(stream.bufferCount) x \(ByteCount.describe(stream.format.sizeImage)), \(memory)")
        return stream
    }

    /// Saves `last` with `--save`, gives it back to the device, and stops the stream.
    func finish(
        _ last: consuming V4L2Frame?, _ stream: consuming V4L2CaptureStream, lines: inout [String]
    ) throws(DMABufError) {
        let format = stream.format
        if let frame = last.take() {
            if let save {
                try frame.withBuffer { buffer throws(DMABufError) in
                    try Self.savePNG(buffer, bytesUsed: frame.bytesUsed, format: format, to: save)
                }
                lines.append("saved     \(save) (\(format.width)x\(format.height) PNG, RGB)")
            }
            try stream.requeue(frame)
        }
        try stream.stop()
    }

    /// Writes the frame in `buffer` as an 8-bit RGB PNG, through libpng's simplified API.
    static func savePNG(
        _ buffer: borrowing DMABuffer, bytesUsed: Int, format: V4L2Format, to path: String
    ) throws(DMABufError) {
        let operation = "save the frame as PNG"
        guard format.pixelFormat.bytesPerPixel != nil else {
            throw DMABufError(
                .unsupported, operation: operation, target: path,
                hint: "Only YUYV, RGB24 and XR24 frames can be saved (this one is \(format.pixelFormat), "
                    + "\(bytesUsed) bytes used); capture with --format YUYV, RGB24 or XR24")
        }
        let mapping = try buffer.map()
        let pixels: [UInt8]
        do {
            pixels = try mapping.withCPUAccess(.read) { bytes in
                try bytes.withUnsafeBytes { raw in
                    try V4L2Image.rgb24(
                        from: UnsafeRawBufferPointer(rebasing: raw.prefix(min(bytesUsed, raw.count))),
                        format: format.pixelFormat, width: format.width, height: format.height,
                        bytesPerLine: format.bytesPerLine)
                }
            }
        } catch let error as DMABufError {
            throw error
        } catch {
            throw DMABufError(.other, operation: operation, target: path, hint: "\(error)")
        }
        try PNGFile.writeRGB(pixels, width: format.width, height: format.height, to: path)
    }

    static func format(_ value: Double, digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        var text = "\(rounded)"
        if let dot = text.firstIndex(of: ".") {
            let decimals = text.distance(from: dot, to: text.endIndex) - 1
            if decimals < digits { text += String(repeating: "0", count: digits - decimals) }
        }
        return text
    }
}
