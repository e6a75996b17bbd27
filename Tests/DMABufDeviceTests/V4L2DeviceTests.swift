import ArgumentParser
import DMABuf
import DMABufDRM
import DMABufExporterClient
import DMABufSources
import DMABufTestSupport
import DMABufV4L2
import Glibc
import SystemPackage
import Testing

@testable import DMABufCLI

/// vivid's capture node, loading the module first where it is one (the stock kernels; the debug
/// kernel has vivid built in), in the VM only: the host's modules are left alone. nil where there
/// is none.
func openVivid() -> V4L2Device? {
    if let device = try? V4L2Device.open(driver: "vivid") { return device }
    guard TestEnvironment.requiresDevices, DeviceAccess.hasLoadableModule("vivid"),
        (try? run(["/sbin/modprobe", "vivid"])) == 0
    else { return nil }
    for _ in 0..<20 {  // devtmpfs and udev take a moment to show the nodes
        if let device = try? V4L2Device.open(driver: "vivid") { return device }
        usleep(250_000)
    }
    return nil
}

extension Trait where Self == ConditionTrait {
    /// Runs where DMABUF_VM=1, and on a host with vivid loaded that DMABUF_HOST_DEVICES=1 lends.
    static var vividDevice: Self {
        .enabled(
            if: TestEnvironment.requiresDevices || (TestEnvironment.usesHostDevices && openVivid() != nil),
            "needs vivid: runs in the VM (DMABUF_VM=1), or on the host with vivid loaded and DMABUF_HOST_DEVICES=1")
    }
}

/// Runs `argv` (a full path first) and returns its exit status.
func run(_ argv: [String]) throws -> CInt {
    var arguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    defer { for pointer in arguments { free(pointer) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, argv[0], nil, nil, &arguments, environ)
    try #require(spawned == 0, "posix_spawn \(argv[0]): \(Errno(rawValue: spawned))")
    var status: CInt = 0
    while waitpid(pid, &status, 0) == -1 {
        try #require(errno == EINTR, "waitpid: \(Errno(rawValue: errno))")
    }
    return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}

/// vivid's capture node, or an error saying it is missing.
func requireVivid() throws -> V4L2Device {
    guard let device = openVivid() else { throw VividMissing() }
    return device
}

struct VividMissing: Error, CustomStringConvertible {
    var description: String { "no vivid capture node (modprobe vivid)" }
}

/// vivid, frozen: no OSD text (movement is off by default), 640x360 YUYV.
func frozenVivid(sourceLocation: SourceLocation = #_sourceLocation) throws -> V4L2Device {
    let vivid = try requireVivid()
    try vivid.setControl(try vivid.control(named: "osd_text_mode"), to: 2)
    let format = try vivid.setFormat(width: 640, height: 360, pixelFormat: .yuyv)
    #expect(format.sizeImage == 640 * 360 * 2, "\(format)", sourceLocation: sourceLocation)
    return vivid
}

/// Swift's CRC-32C of the first `count` bytes of `buffer`, read through a mapping.
func checksum(_ buffer: borrowing DMABuffer, count: Int) throws -> UInt32 {
    let mapping = try buffer.map()
    return try mapping.withCPUAccess(.read) { span in
        span.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
    }
}

/// What one capture saw: the last frame's bytes, and the checks made on the way.
struct CapturedFrame {
    var bytes: [UInt8]
    var inode: UInt64
}

/// Starts `stream`, takes `count` frames (requeueing all but the last), and returns the last
/// one's bytes as mapped, after checking that the kernel, importing the frame's buffer through
/// the exporter module, reads the same bytes (its CRC-32C equals Swift's of the mapping).
func captureLast(
    _ stream: borrowing V4L2CaptureStream, count: Int = 3, sourceLocation: SourceLocation = #_sourceLocation
) throws -> CapturedFrame {
    try stream.start()
    for _ in 1..<count { try stream.requeue(try stream.dequeue(timeout: .seconds(10))) }
    let frame = try stream.dequeue(timeout: .seconds(10))
    #expect(frame.bytesUsed == stream.format.sizeImage, sourceLocation: sourceLocation)
    let captured = try frame.withBuffer { buffer in
        let bytes = try buffer.map().withCPUAccess(.read) { span in
            span.withUnsafeBytes { Array($0.prefix(frame.bytesUsed)) }
        }
        let kernel = try DMABufExporter().import(buffer, range: 0..<frame.bytesUsed)
        #expect(
            kernel.crc32c == CRC32C.checksum(bytes), "the kernel's CRC of the frame", sourceLocation: sourceLocation)
        return CapturedFrame(bytes: bytes, inode: buffer.identity.inode)
    }
    try stream.requeue(frame)
    return captured
}

extension DeviceTests {
    /// Inside DeviceTests, so that it never runs beside a test that changes the exporter's
    /// module parameters (quotas sets max_total_bytes to four pages).
    @Suite(.serialized, .vividDevice, .exporterDevice)
    struct V4L2DeviceTests {
        @Test func capabilitiesFormatsAndControls() throws {
            let vivid = try requireVivid()
            let caps = try vivid.capabilities()
            #expect(caps.driver == "vivid")
            #expect(caps.canCapture && caps.canStream && !caps.canOutput)
            let formats = try vivid.formats().map(\.pixelFormat)
            #expect(formats.contains(.yuyv) && formats.contains(.rgb24), "\(formats)")
            let rgb = try vivid.setFormat(width: 640, height: 360, pixelFormat: .rgb24)
            #expect(rgb.bytesPerLine == 640 * 3 && rgb.sizeImage == 640 * 360 * 3)
            let yuyv = try vivid.setFormat(width: 640, height: 360, pixelFormat: .yuyv)
            #expect(yuyv == (try vivid.format()))
            #expect((yuyv.width, yuyv.height, yuyv.bytesPerLine, yuyv.sizeImage) == (640, 360, 1280, 460_800))
            let osd = try vivid.control(named: "OSD text mode")
            try vivid.setControl(osd, to: 2)
            #expect(try vivid.value(of: osd) == 2)
            expectError(.invalidArgument, .libraryMade, "a value out of range") { try vivid.setControl(osd, to: 99) }
            expectError(.invalidArgument, .libraryMade, "no such control") { try vivid.control(named: "warp drive") }
            expectError(.unsupported, .libraryMade, "a format vivid lacks") {
                try vivid.setFormat(pixelFormat: V4L2PixelFormat(name: "ZZZZ")!)
            }
        }

        /// `controls()` lists what vivid registers (drivers/media/test-drivers/vivid/vivid-ctrls.c):
        /// the picture controls with their ranges and defaults, vivid's own, each once, in id order,
        /// and no control-class headings ("User Controls"), which are no controls.
        @Test func controlsAreTheOnesVividRegisters() throws {
            let vivid = try requireVivid()
            let controls = try vivid.controls()
            func range(_ name: String) -> [Int32]? {
                controls.first { $0.name == name }.map { [$0.minimum, $0.maximum, $0.defaultValue] }
            }
            // V4L2_CID_BRIGHTNESS and the three after it.
            let picture = controls.filter { (0x0098_0900...0x0098_0903).contains($0.id) }
            #expect(picture.map(\.name) == ["Brightness", "Contrast", "Saturation", "Hue"], "\(picture)")
            #expect(range("Brightness") == [0, 255, 128] && range("Contrast") == [0, 255, 128])
            #expect(range("Saturation") == [0, 255, 128] && range("Hue") == [-128, 128, 0])
            #expect(range("OSD Text Mode") == [0, 2, 0], "a menu of three")
            #expect(range("Horizontal Flip") == [0, 1, 0])
            #expect(!controls.contains { $0.name.hasSuffix(" Controls") }, "class headings are left out")
            #expect(zip(controls, controls.dropFirst()).allSatisfy { $0.id < $1.id }, "each once, in id order")
            #expect(controls.count > 20, "vivid has dozens: \(controls.map(\.name))")
            #expect(try vivid.control(named: "hue") == picture.last, "control(named:) finds the same")
        }

        /// Every path gives the same bytes for the frozen pattern, the kernel reads what we map, and
        /// imported frames land in the buffers we allocated.
        @Test func bothPathsGiveIdenticalFrames() throws {
            let vivid = try frozenVivid()
            let exported = try captureLast(try vivid.exportingStream(count: 4))
            #expect(Set(exported.bytes).count > 8, "the colour bars, not a blank frame")
            var checked: [DMABufSource] = []
            for source in [DMABufSource.exporter, .heapSystem, .udmabuf] {
                try withSource(source) { allocator in
                    if source == .udmabuf, TestKernel.current == .debug {
                        // 6.1's udmabuf has no vmap, and vivid's vb2-vmalloc needs one to import: QBUF
                        // fails (EFAULT). The buffers stay at most 64 KiB (320x180 GREY), because 6.1's
                        // udmabuf maps longer segments for SYNC past its device's limit, which
                        // DMA_API_DEBUG reports as a WARNING (see the README's conformance notes).
                        try vivid.setFormat(width: 320, height: 180, pixelFormat: V4L2PixelFormat(name: "GREY")!)
                        defer { _ = try? vivid.setFormat(width: 640, height: 360, pixelFormat: .yuyv) }
                        let error = expectError(.invalidArgument, .kernel(.badAddress), "udmabuf into vivid on 6.1") {
                            try vivid.importingStream(count: 2, from: allocator).start()
                        }
                        #expect(error?.hint?.contains("vmap") == true, "\(String(describing: error))")
                        return
                    }
                    var inodes: Set<UInt64> = []
                    let stream = try vivid.importingStream(count: 3) { (index, size) throws(DMABufError) in
                        let buffer = try allocator.allocate(size: size, name: "vivid-\(index)")
                        inodes.insert(buffer.identity.inode)
                        return buffer
                    }
                    let imported = try captureLast(stream)
                    #expect(imported.bytes == exported.bytes, "\(source): the frame differs from the MMAP one")
                    #expect(inodes.contains(imported.inode), "\(source): the frame is not in a buffer we allocated")
                    checked.append(source)
                }
            }
            #expect(checked.contains(.exporter))
        }

        /// vivid's exported buffers are real dma-bufs: vgem imports them, fdinfo names vivid's
        /// allocator, and one outlives the stream while its fd is held.
        @Test func exportedBuffersAreRealDMABufs() throws {
            let vivid = try frozenVivid()
            let vgem = try DRMDevice.open(driver: "vgem")
            let stream = try vivid.exportingStream(count: 2)
            try stream.start()
            let frame = try stream.dequeue(timeout: .seconds(10))
            let bytesUsed = frame.bytesUsed
            let crc = try frame.withBuffer { buffer in
                #expect(try buffer.info().exporterName == "videobuf2_vmalloc")
                let handle = try vgem.importBuffer(buffer)
                try vgem.closeHandle(handle)
                return try checksum(buffer, count: bytesUsed)
            }
            let kept = try frame.withBuffer { buffer in try buffer.duplicate() }
            try stream.requeue(frame)
            try stream.stop()
            // STREAMOFF and REQBUFS(0) are done; the buffer lives on in our fd.
            #expect(try checksum(kept, count: bytesUsed) == crc)
            #expect(try DMABufExporter().import(kept, range: 0..<bytesUsed).crc32c == crc)
            // And the device is free again.
            try captureLastIsPossible(vivid)
        }

        private func captureLastIsPossible(_ vivid: borrowing V4L2Device) throws {
            let again = try vivid.exportingStream(count: 2)
            try again.start()
            try again.requeue(try again.dequeue(timeout: .seconds(10)))
        }

        @Test func asyncFrames() async throws {
            let vivid = try frozenVivid()
            let stream = try vivid.exportingStream(count: 3)
            try stream.start()
            var sequences: [UInt32] = []
            for try await frame in stream.frames(timeout: .seconds(10)) {
                #expect(frame.bytesUsed == 460_800)
                stream.withBuffer(frame.index) { buffer in #expect(buffer.size >= 460_800) }
                sequences.append(frame.sequence)
                if sequences.count == 4 { break }
            }
            #expect(sequences == sequences.sorted() && Set(sequences).count == 4, "\(sequences)")
            let next = try await stream.nextFrame(timeout: .seconds(10))
            #expect(next.sequence > sequences.last!)
            try stream.requeue(next)
            try stream.stop()
        }

        @Test func cancellingALoopOverFramesEndsIt() async throws {
            let vivid = try frozenVivid()
            let stream = try vivid.exportingStream(count: 2)
            try stream.start()
            // Every buffer held: no frame comes, and the loop waits up to its 60 s.
            let first = try stream.dequeue(timeout: .seconds(10))
            let second = try stream.dequeue(timeout: .seconds(10))
            let frames = stream.frames(timeout: .seconds(60))
            let loop = Task {
                for try await _ in frames { return "a frame" }
                return "the end"
            }
            try await Task.sleep(for: .milliseconds(300))
            let cancelled = ContinuousClock.now
            loop.cancel()
            let outcome = await loop.result
            #expect(ContinuousClock.now - cancelled < .seconds(1))
            #expect(throws: DMABufError.self) { try outcome.get() }
            try stream.requeue(first)
            try stream.requeue(second)
            try stream.stop()
        }

        @Test func timeouts() async throws {
            let vivid = try frozenVivid()
            let stream = try vivid.exportingStream(count: 2)
            // Streaming off: DQBUF refuses at once instead of waiting.
            var started = ContinuousClock.now
            expectError(.invalidArgument, .kernel(.invalidArgument), "streaming off") {
                try stream.dequeue(timeout: .seconds(5))
            }
            #expect(ContinuousClock.now - started < .seconds(5))
            // Streaming, every buffer held: the wait ends at the timeout.
            try stream.start()
            let first = try stream.dequeue(timeout: .seconds(10))
            let second = try stream.dequeue(timeout: .seconds(10))
            started = ContinuousClock.now
            expectError(.timedOut, .libraryMade, "all buffers held") {
                try stream.dequeue(timeout: .milliseconds(300))
            }
            #expect(ContinuousClock.now - started >= .milliseconds(300))
            started = ContinuousClock.now
            do {
                _ = try await stream.nextFrame(timeout: .milliseconds(300))
                Issue.record("a frame came with every buffer held")
            } catch {
                #expect(error.code == .timedOut && error.errno == nil, "\(error)")
            }
            #expect(ContinuousClock.now - started >= .milliseconds(300))
            try stream.requeue(first)
            try stream.requeue(second)
            try stream.requeue(try stream.dequeue(timeout: .seconds(10)))
        }

        @Test func adoptingSetsCloseOnExecAndNonBlocking() throws {
            let path = try requireVivid().path
            let raw = open(path, O_RDWR)  // blocking, inherited across exec
            try #require(raw >= 0, "open \(path): \(Errno(rawValue: errno))")
            let device = try V4L2Device(adopting: FileDescriptor(rawValue: raw))
            #expect(fcntl(raw, F_GETFD) & FD_CLOEXEC != 0)
            #expect(fcntl(raw, F_GETFL) & O_NONBLOCK != 0)
            #expect(try device.capabilities().driver == "vivid")
            let taken = device.takeDescriptor()
            #expect(taken.rawValue == raw && isOpen(taken))
            try taken.close()
        }

        @Test func errors() throws {
            let vivid = try frozenVivid()
            let exporter = try DMABufExporter()
            expectError(.limitExceeded, .libraryMade, "a buffer too small for the format") {
                try vivid.importingStream(count: 2) { (_, _) throws(DMABufError) in
                    try exporter.allocate(size: 4096, name: "small")
                }
            }
            expectError(.permissionDenied, .libraryMade, "a read-only buffer") {
                try vivid.importingStream(count: 2) { (_, size) throws(DMABufError) in
                    try exporter.allocate(size: size, name: "ro", accessMode: .readOnly)
                }
            }
            // Not capture devices: vivid's output node, and a device that is not V4L2 at all.
            let output = try #require(
                (0..<64).lazy.map { "/dev/video\($0)" }.first { path in
                    guard let device = try? V4L2Device(path: FilePath(path)), let caps = try? device.capabilities()
                    else {
                        return false
                    }
                    return caps.driver == "vivid" && caps.canOutput
                }, "vivid's output node")
            let outputDevice = try V4L2Device(path: FilePath(output))
            expectError(.unsupported, .libraryMade, "vivid's output node") { try outputDevice.exportingStream() }
            expectError(.unsupported, .kernel(.inappropriateIOCTLForDevice), "the exporter module's device") {
                try V4L2Device(path: DMABufExporter.defaultPath)
            }
            expectError(.badDescriptor, .kernel(.badFileDescriptor), "a closed fd") {
                try V4L2Device(adopting: unusedDescriptor())
            }
            expectError(.deviceMissing, .kernel(.noSuchFileOrDirectory), "no such node") {
                try V4L2Device(path: "/dev/video-none")
            }
            // Busy: another open file of the device is streaming.
            let streaming = try vivid.exportingStream(count: 2)
            try streaming.start()
            let other = try requireVivid()
            expectError(.busy, .kernel(.resourceBusy), "another file streams") { try other.exportingStream(count: 2) }
            do {
                _ = try Capture.parse(["--frames", "1", "--into", "mmap"]).capture()
                Issue.record("the CLI captured from a device another file streams from")
            } catch let error as CommandError {
                #expect(error.error.code == .busy && error.description.contains("streaming"), "\(error)")
            }
            try streaming.stop()
            // Stopped: the next open finds it free.
            #expect(try other.exportingStream(count: 2).bufferCount >= 2)
        }

        /// `dmabuf capture --save` writes PNGs that PIL (python3-pil, not ours) decodes, of the
        /// requested size and with the colour bars' colours, from YUYV and from RGB24.
        @Test func savedPNGDecodes() throws {
            var check = [
                "/usr/bin/python3", "-c",
                """
                import sys
                from PIL import Image
                for path, width, height in zip(*[iter(sys.argv[1:])] * 3):
                    image = Image.open(path)
                    image.load()
                    colours = len(image.getcolors(1 << 20))
                    print(path, image.size, image.mode, colours)
                    if image.size != (int(width), int(height)) or image.mode != "RGB" or colours < 6:
                        sys.exit(3)
                """,
            ]
            for (format, size, width, height) in [("YUYV", "640x360", 640, 360), ("RGB24", "320x180", 320, 180)] {
                let path = "/tmp/dmabuf-capture-\(getpid())-\(format).png"
                var arguments = ["--control", "osd_text_mode=2", "--format", format, "--size", size, "--frames", "3"]
                arguments += ["--into", "mmap", "--save", path]
                let report = try Capture.parse(arguments).capture()
                #expect(report.frames.count == 3 && report.inodes.count == 3)
                #expect(report.lines.contains { $0.hasPrefix("rate ") } && report.framesPerSecond > 0)
                check += [path, "\(width)", "\(height)"]
            }
            defer { for index in stride(from: 3, to: check.count, by: 3) { unlink(check[index]) } }
            #expect(try run(check) == 0)
        }

        @Test func captureIntoEverySource() throws {
            for source in DMABufSource.allCases where source != .heapCMA {
                try withSource(source) { _ in
                    if source == .udmabuf, TestKernel.current == .debug { return }  // see bothPathsGiveIdenticalFrames
                    let report = try Capture.parse(["--frames", "2", "--into", source.rawValue]).capture()
                    #expect(report.memory.contains(source.rawValue), "\(report.lines)")
                    #expect(Set(report.inodes).count == 2)
                }
            }
        }
    }
}
