import ArgumentParser
import DMABuf
import DMABufDisplay
import DMABufSources
import Glibc
import SystemPackage

/// Shows a test pattern or a PNG on a KMS display from a dma-buf of any source, scanned out
/// directly (no copy into a dumb buffer), and optionally saves what the CRTC composed.
struct Display: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a test pattern or a PNG on a KMS display, scanned out directly from a dma-buf.",
        discussion: """
            The picture is drawn into dma-bufs of --from (XRGB8888, the mode's size), which are imported \
            into the KMS device (PRIME) and shown on its primary plane: the display reads the very buffer. \
            With --frames N, N frames of a moving pattern are flipped between two buffers, one flip per \
            vblank, paced by flip events. --writeback routes the CRTC to the device's writeback connector \
            (vkms has one) and saves what it composed as a PNG. Prints the device, output, buffers, frame \
            rate and what was saved.
            """
    )

    @Option(help: ArgumentHelp("The KMS driver whose /dev/dri/card* to use (default vkms).", valueName: "name"))
    var driver: String?

    @Option(help: ArgumentHelp("The KMS device, instead of --driver.", valueName: "path"))
    var device: String?

    @Option(
        help: ArgumentHelp(
            "Where the buffers come from: heap:system, heap:cma, udmabuf, exporter, vgem or auto.",
            valueName: "source"))
    var from: SourceChoice = .auto

    @Option(
        help: ArgumentHelp("Show this PNG (top left, cut to the mode) instead of the pattern.", valueName: "file.png"))
    var image: String?

    @Option(help: ArgumentHelp("The mode (default: the connector's preferred).", valueName: "WxH"))
    var mode: String?

    @Option(help: "Frames to show (default 1; with --connect, until stopped).")
    var frames: Int?

    /// The frames to show without --connect.
    var frameCount: Int { frames ?? 1 }

    @Option(help: ArgumentHelp("Save what the CRTC composed last here, as a PNG.", valueName: "file.png"))
    var writeback: String?

    @Option(help: ArgumentHelp("Seconds to wait for each flip and the writeback.", valueName: "seconds"))
    var timeout: Double = 5

    @Option(help: ArgumentHelp("The exporter module's device, for --from exporter.", valueName: "path"))
    var exporterDevice = "/dev/dmabuf_exporter"

    @Option(
        help: ArgumentHelp(
            "Show the frames of a `dmabuf process` pool (pipeline display): connect to its socket.",
            valueName: "socket"))
    var connect: String?

    @Option(help: ArgumentHelp("With --connect: check every Nth shown frame by writeback; 0: never.", valueName: "n"))
    var checkEvery = 10

    @Option(
        help: ArgumentHelp(
            "With --connect: drop a frame whose fence has not signalled after this long.", valueName: "ms"))
    var fenceTimeout = 500

    @Option(
        help: ArgumentHelp("With --connect: append the stage's events here, one JSON object a line.", valueName: "file")
    )
    var events: String?

    @Option(
        help: ArgumentHelp(
            "With --connect: give up connecting after this long; 0: never.", valueName: "seconds"))
    var retrySeconds: Double = 10

    func validate() throws {
        if driver != nil && device != nil { throw ValidationError("give --driver or --device, not both") }
        if let frames, !(1...100_000_000).contains(frames) { throw ValidationError("--frames takes 1 to 100000000") }
        if connect != nil {
            if image != nil || writeback != nil || mode != nil {
                throw ValidationError(
                    "--image, --writeback and --mode do not go with --connect: the frames come from the socket")
            }
            if checkEvery < 0 { throw ValidationError("--check-every takes 0 or more") }
            if !(1...60_000).contains(fenceTimeout) { throw ValidationError("--fence-timeout takes 1 to 60000 ms") }
            if !(retrySeconds >= 0 && retrySeconds.isFinite) {
                throw ValidationError("--retry-seconds takes 0 or more")
            }
        } else if events != nil {
            throw ValidationError("--events goes with --connect")
        }
        if !(timeout > 0 && timeout <= 3600) { throw ValidationError("--timeout takes seconds, above 0, at most 3600") }
        if let mode, Self.parseMode(mode) == nil {
            throw ValidationError("--mode takes WIDTHxHEIGHT, such as 1024x768, not \(mode)")
        }
        for (name, path) in [("--image", image), ("--writeback", writeback)] {
            if let path, !path.hasSuffix(".png") { throw ValidationError("\(name) takes a PNG: a name ending in .png") }
        }
    }

    static func parseMode(_ text: String) -> (width: Int, height: Int)? {
        let parts = text.split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, let width = Int(parts[0]), let height = Int(parts[1]), width >= 1, height >= 1,
            parts.allSatisfy({ $0.allSatisfy(\.isASCII) })
        else { return nil }
        return (width, height)
    }

    func run() throws {
        if let connect {
            try runStage("display") { try showStream(from: connect) }
            return
        }
        print(try show().joined(separator: "\n"))
    }

    /// Shows the frames; returns the lines `run` prints.
    func show() throws -> [String] {
        let allocator = try SourceOptions.open(from, exporterPath: FilePath(exporterDevice))
        let picture = try image.map { path in
            try withCommandHints { () throws(DMABufError) in try PNGFile.readXRGB(path) }
        }
        return try withCommandHints { () throws(DMABufError) in
            try showFrames(allocator, picture: picture)
        }
    }

    func openDevice() throws(DMABufError) -> KMSDevice {
        if let device { return try KMSDevice(path: FilePath(device)) }
        return try KMSDevice.open(driver: driver ?? "vkms")
    }

    private func showFrames(
        _ allocator: borrowing SourceAllocator, picture: (width: Int, height: Int, pixels: [UInt8])?
    ) throws(DMABufError) -> [String] {
        let display = try openDevice()
        let size = mode.flatMap(Self.parseMode)
        let output = try display.output(width: size?.width, height: size?.height)
        let layout = try ImageLayout.packed(width: output.mode.width, height: output.mode.height, format: .xrgb8888)
        let wait = Duration.milliseconds(Int64(timeout * 1000))
        var lines = [
            "device    \(display.path) (\(output.connector.name), CRTC \(output.crtc.id), plane \(output.plane.id))",
            "mode      \(output.mode) \(layout.format)",
        ]

        // Two buffers: one on screen while the other is drawn.
        let first = try allocator.allocate(size: layout.bufferSizes[0], name: "display-0")
        let second = try allocator.allocate(size: layout.bufferSizes[0], name: "display-1")
        lines.append(
            "buffers   \(allocator.source), inodes \(first.identity.inode) and \(second.identity.inode),"
                + " scanned out directly")
        // Each buffer drawn whole once (frames 0 and 1); after that a buffer two frames old
        // differs from its next frame only where the moving bar was and goes.
        try Self.draw(first, layout: layout, frame: 0, picture: picture)
        try Self.draw(second, layout: layout, frame: 1, picture: picture)
        let firstFramebuffer = try display.addFramebuffer(first, layout: layout)
        let secondFramebuffer = try display.addFramebuffer(second, layout: layout)
        try display.show(firstFramebuffer, on: output)
        let start = ContinuousClock.now
        for frame in 1..<frameCount {
            let changed = picture == nil && frame >= 2 ? Self.bar(frame - 2, layout) + Self.bar(frame, layout) : []
            if frame % 2 == 1 {
                try Self.draw(second, layout: layout, frame: frame, picture: picture, columns: changed)
                _ = try display.flip(to: secondFramebuffer, on: output)
            } else {
                try Self.draw(first, layout: layout, frame: frame, picture: picture, columns: changed)
                _ = try display.flip(to: firstFramebuffer, on: output)
            }
            _ = try display.blockingNextFlip(timeout: wait)
        }
        if frameCount > 1 {
            let elapsed = start.duration(to: .now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let rate = Double(frameCount - 1) / max(seconds, 1e-9)
            lines.append("flips     \(frameCount - 1), \((rate * 10).rounded() / 10) per second")
        }
        guard let writeback else { return lines }
        let captured = try allocator.allocate(size: layout.bufferSizes[0], name: "writeback")
        let target = try display.addFramebuffer(captured, layout: layout)
        if frameCount % 2 == 0 {
            try display.writeback(secondFramebuffer, on: output, into: target, timeout: wait)
        } else {
            try display.writeback(firstFramebuffer, on: output, into: target, timeout: wait)
        }
        let mapping = try captured.map()
        do {
            try mapping.withCPUAccess(.read) { bytes in
                try bytes.withUnsafeBytes { raw in
                    try PNGFile.writeXRGB(
                        raw, width: layout.width, height: layout.height, stride: layout.planes[0].stride, to: writeback)
                }
            }
        } catch let error as DMABufError {
            throw error
        } catch {
            throw DMABufError(.other, operation: "save the writeback", target: writeback, hint: "\(error)")
        }
        let connector = output.writeback?.name ?? "writeback"
        lines.append("writeback \(writeback) (\(layout.width)x\(layout.height) PNG, RGB, through \(connector))")
        return lines
    }

    /// The columns of frame `frame`'s moving bar.
    static func bar(_ frame: Int, _ layout: ImageLayout) -> [Int] {
        let start = (frame * 8) % layout.width
        return Array(start..<min(start + 8, layout.width))
    }

    /// Draws frame `frame` into `buffer`, all of it or only `columns`: the picture, or a pattern
    /// of colour bars and a gradient with a white bar that moves one step per frame.
    static func draw(
        _ buffer: borrowing DMABuffer, layout: ImageLayout, frame: Int,
        picture: (width: Int, height: Int, pixels: [UInt8])?, columns: [Int]? = nil
    ) throws(DMABufError) {
        if columns?.isEmpty == true { return }
        let xs = columns ?? Array(0..<layout.width)
        var mapping = try buffer.map()
        let stride = layout.planes[0].stride
        do {
            try mapping.withCPUAccess(.write) { (bytes: inout MutableRawSpan) in
                bytes.withUnsafeMutableBytes { raw in
                    for y in 0..<layout.height {
                        let row = raw.baseAddress! + y * stride
                        for x in xs {
                            row.storeBytes(
                                of: pixel(x: x, y: y, layout: layout, frame: frame, picture: picture).littleEndian,
                                toByteOffset: 4 * x, as: UInt32.self)
                        }
                    }
                }
            }
        } catch let error as DMABufError {
            throw error
        } catch {
            throw DMABufError(.other, operation: "draw a frame", hint: "\(error)")
        }
    }

    /// One XRGB8888 pixel of frame `frame`.
    static func pixel(
        x: Int, y: Int, layout: ImageLayout, frame: Int, picture: (width: Int, height: Int, pixels: [UInt8])?
    ) -> UInt32 {
        if let picture {
            guard x < picture.width, y < picture.height else { return 0xff00_0000 }
            let index = (y * picture.width + x) * 4
            return UInt32(picture.pixels[index]) | UInt32(picture.pixels[index + 1]) << 8
                | UInt32(picture.pixels[index + 2]) << 16 | 0xff00_0000
        }
        let bar = (frame * 8) % layout.width
        if (bar..<bar + 8).contains(x) { return 0xffff_ffff }
        if y < layout.height * 2 / 3 {
            // Seven colour bars: white, yellow, cyan, green, magenta, red, blue.
            let colours: [UInt32] = [0xc0c0c0, 0xc0c000, 0x00c0c0, 0x00c000, 0xc000c0, 0xc00000, 0x0000c0]
            return 0xff00_0000 | colours[min(x * 7 / layout.width, 6)]
        }
        let level = UInt32(x * 255 / max(layout.width - 1, 1))
        return 0xff00_0000 | level << 16 | level << 8 | level
    }
}
