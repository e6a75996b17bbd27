#if os(Linux)
internal import CDMABuf
import DMABuf
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemPackage

/// An open V4L2 video device (`/dev/videoN`), with what dma-buf streaming needs: its
/// capabilities, formats and controls, and capture streams that export its buffers
/// (``exportingStream(count:)``) or import ours (``importingStream(count:from:)``).
///
/// ```swift
/// let camera = try V4L2Device.open(driver: "vivid")
/// let format = try camera.setFormat(width: 640, height: 360, pixelFormat: .yuyv)
/// var stream = try camera.exportingStream(count: 4)
/// try stream.start()
/// let frame = try stream.dequeue(timeout: .seconds(2))
/// print(frame.sequence, frame.bytesUsed)
/// try stream.requeue(frame)
/// ```
///
/// It is opened non-blocking: waiting for frames is the stream's job, with a timeout.
public struct V4L2Device: ~Copyable, Sendable, DescriptorOwner {
    /// The fd's ownership, which ``DescriptorOwner``'s methods use.
    public let _owned: OwnedDescriptor
    /// See ``DescriptorOwner``.
    public consuming func _releaseOwned() -> OwnedDescriptor { _owned }
    var descriptor: FileDescriptor { _owned.rawValue }
    /// The device's path, or "fd N" for an adopted fd.
    public let path: String

    /// Opens the device at `path` for reading and writing, and checks that it is a V4L2 device.
    ///
    /// - Throws: `.deviceMissing` if there is no such node, `.permissionDenied` without access,
    ///   `.busy` if the driver allows no further opens, `.unsupported` if the node is not a V4L2
    ///   device.
    public init(path: FilePath) throws(DMABufError) {
        let fd = try Sys.open(path, O_RDWR | O_NONBLOCK).get(
            "open", on: path.string,
            hint: { errno in
                switch errno {
                case .noSuchFileOrDirectory, .noSuchAddressOrDevice, .operationNotSupportedByDevice:
                    "No such video device; see which exist with ls /dev/video* (for vivid, modprobe vivid)"
                case .permissionDenied, .notPermitted: DeviceAccess.permissionHint(path, udevSubsystem: "video4linux")
                case .resourceBusy: "Another program has the device open and the driver allows only one"
                default: nil
                }
            })
        let owned = OwnedDescriptor(fd)  // closed if the check fails: it is ours
        _ = try Self.capabilities(of: fd, path: path.string)
        self._owned = owned
        self.path = path.string
    }

    /// Takes ownership of `descriptor`, an open video device (one a portal handed over, say),
    /// after checking that it is a V4L2 device. Sets FD_CLOEXEC, and O_NONBLOCK, which the
    /// streams need: waiting for a frame is their job, with a timeout, and a blocking
    /// VIDIOC_DQBUF would wait without one. (O_NONBLOCK belongs to the open file, so other fds
    /// of it see it too.)
    ///
    /// - Throws: `.badDescriptor` if it is not open, `.unsupported` if it is not a V4L2 device;
    ///   fcntl's errors. The fd then stays the caller's, open.
    public init(adopting descriptor: FileDescriptor) throws(DMABufError) {
        let path = "fd \(descriptor.rawValue)"
        self._owned = try OwnedDescriptor(adopting: descriptor, operation: "adopt as a V4L2 device") {
            (fd) throws(DMABufError) in
            _ = try Self.capabilities(of: fd, path: path)
            try Sys.setStatusFlags(fd, adding: O_NONBLOCK).get("adopt as a V4L2 device: fcntl(F_SETFL)", on: path)
        }
        self.path = path
    }

    /// The first video node (`/dev/video0` to `/dev/video63`) of driver `driver` ("vivid",
    /// "uvcvideo") that can capture video and stream.
    ///
    /// - Throws: `.deviceMissing` if there is none, with what was found instead.
    public static func open(driver: String) throws(DMABufError) -> V4L2Device {
        let nodes = (try? Sys.listDirectory("/dev").get("list /dev")) ?? []
        let videos = nodes.filter { $0.hasPrefix("video") && Int($0.dropFirst(5)) != nil }
            .sorted { Int($0.dropFirst(5))! < Int($1.dropFirst(5))! }
        var refused: [String] = []
        for name in videos {
            let device: V4L2Device
            do {
                device = try V4L2Device(path: FilePath("/dev/\(name)"))
            } catch {
                if error.code == .permissionDenied { refused.append("/dev/\(name)") }
                continue
            }
            guard let caps = try? device.capabilities() else { continue }
            if caps.driver == driver, caps.canCapture, caps.canStream { return device }
        }
        var hint = "No video capture device of driver \(driver) among \(videos.count) /dev/video* node(s)"
        if let first = refused.first {
            hint += "; \(refused.count) could not be opened: " + DeviceAccess.permissionHint(FilePath(first))
        } else if DeviceAccess.hasLoadableModule(driver) {
            hint += "; its kernel module is not loaded (modprobe \(driver))"
        }
        throw DMABufError(
            .deviceMissing, operation: "find a V4L2 capture device of driver \(driver)", target: "/dev", hint: hint)
    }

    // MARK: Capabilities

    /// What VIDIOC_QUERYCAP says about the device node.
    public struct Capabilities: Hashable, Sendable {
        /// The driver's name: "vivid", "uvcvideo", ...
        public var driver: String
        /// The device's name: "vivid", "HD Webcam", ...
        public var card: String
        /// Where the device sits: "platform:vivid-000", "usb-0000:00:14.0-1".
        public var busInfo: String
        /// This node's `V4L2_CAP_*` flags (`device_caps`; the whole device's where the driver gives no per-node ones).
        public var deviceCapabilities: UInt32

        /// Whether the node captures single-planar video (V4L2_CAP_VIDEO_CAPTURE).
        public var canCapture: Bool { deviceCapabilities & CDMABuf_V4L2_CAP_VIDEO_CAPTURE() != 0 }
        /// Whether the node outputs single-planar video (V4L2_CAP_VIDEO_OUTPUT).
        public var canOutput: Bool { deviceCapabilities & CDMABuf_V4L2_CAP_VIDEO_OUTPUT() != 0 }
        /// Whether the node streams with QBUF/DQBUF (V4L2_CAP_STREAMING).
        public var canStream: Bool { deviceCapabilities & CDMABuf_V4L2_CAP_STREAMING() != 0 }
    }

    /// The node's capabilities (VIDIOC_QUERYCAP).
    ///
    /// - Throws: `.unsupported` if the fd is not a V4L2 device (ENOTTY), `.badDescriptor` if it
    ///   is not open.
    public func capabilities() throws(DMABufError) -> Capabilities {
        try Self.capabilities(of: descriptor, path: path)
    }

    private static func capabilities(of descriptor: FileDescriptor, path: String) throws(DMABufError) -> Capabilities {
        var cap = v4l2_capability()
        _ = try Sys.ioctl(descriptor, CDMABuf_VIDIOC_QUERYCAP(), &cap).get(
            "VIDIOC_QUERYCAP", on: path,
            hint: { errno in
                switch errno {
                case .inappropriateIOCTLForDevice, .invalidArgument:
                    "It is not a V4L2 video device; capture devices are /dev/videoN nodes (ls /dev/video*)"
                case .badFileDescriptor: "The file descriptor is not open"
                default: nil
                }
            })
        let caps = cap.capabilities & CDMABuf_V4L2_CAP_DEVICE_CAPS() != 0 ? cap.device_caps : cap.capabilities
        return Capabilities(
            driver: text(&cap.driver), card: text(&cap.card), busInfo: text(&cap.bus_info), deviceCapabilities: caps)
    }

    /// Throws unless the node can capture video and stream: the check every capture stream makes.
    func requireCapture(_ operation: String) throws(DMABufError) {
        let caps = try capabilities()
        guard caps.canCapture, caps.canStream else {
            throw DMABufError(
                .unsupported, operation: operation, target: path,
                hint: "It is not a streaming video capture device (driver \(caps.driver), "
                    + (caps.canOutput
                        ? "a video output node" : "capabilities 0x\(String(caps.deviceCapabilities, radix: 16))")
                    + "); pick a capture node, such as V4L2Device.open(driver:) finds")
        }
    }

    // MARK: Formats

    /// A pixel format the device offers for capture (VIDIOC_ENUM_FMT).
    public struct FormatDescription: Hashable, Sendable {
        /// The format's code.
        public var pixelFormat: V4L2PixelFormat
        /// The driver's words for it: "YUYV 4:2:2".
        public var description: String
    }

    /// The pixel formats the device captures, in the driver's order.
    public func formats() throws(DMABufError) -> [FormatDescription] {
        try requireCapture("VIDIOC_ENUM_FMT")
        var found: [FormatDescription] = []
        for index in UInt32(0)... {
            var description = v4l2_fmtdesc()
            description.index = index
            description.type = CDMABuf_V4L2_BUF_TYPE_VIDEO_CAPTURE()
            switch Sys.ioctl(descriptor, CDMABuf_VIDIOC_ENUM_FMT(), &description) {
            case .success: break
            case .failure(.invalidArgument): return found  // past the last one
            case .failure(let errno):
                throw DMABufError(errno: errno, operation: "VIDIOC_ENUM_FMT \(index)", target: path)
            }
            found.append(
                FormatDescription(
                    pixelFormat: V4L2PixelFormat(rawValue: description.pixelformat),
                    description: text(&description.description)))
        }
        return found
    }

    /// The capture format (VIDIOC_G_FMT).
    public func format() throws(DMABufError) -> V4L2Format {
        try requireCapture("VIDIOC_G_FMT")
        var format = v4l2_format()
        format.type = CDMABuf_V4L2_BUF_TYPE_VIDEO_CAPTURE()
        _ = try Sys.ioctl(descriptor, CDMABuf_VIDIOC_G_FMT(), &format).get("VIDIOC_G_FMT", on: path)
        return V4L2Format(format.fmt.pix)
    }

    /// Sets the capture format (VIDIOC_S_FMT) and returns what the driver chose, which may differ:
    /// drivers adjust sizes to what they can do.
    ///
    /// - Parameters:
    ///   - width: pixels per row; nil keeps the current width.
    ///   - height: rows; nil keeps the current height.
    ///   - pixelFormat: nil keeps the current one.
    /// - Throws: `.unsupported` if the driver picked another pixel format than the one asked for
    ///   (it does not offer it; the hint lists the ones it does), `.busy` while buffers are allocated.
    @discardableResult
    public func setFormat(
        width: Int? = nil, height: Int? = nil, pixelFormat: V4L2PixelFormat? = nil
    ) throws(DMABufError) -> V4L2Format {
        try requireCapture("VIDIOC_S_FMT")
        var format = v4l2_format()
        format.type = CDMABuf_V4L2_BUF_TYPE_VIDEO_CAPTURE()
        _ = try Sys.ioctl(descriptor, CDMABuf_VIDIOC_G_FMT(), &format).get("VIDIOC_G_FMT", on: path)
        let operation = "VIDIOC_S_FMT"
        for (name, value) in [("width", width), ("height", height)] {
            if let value, !(1...65535).contains(value) {
                throw DMABufError(
                    .invalidArgument, operation: operation, target: path, hint: "The \(name) \(value) is not 1 to 65535"
                )
            }
        }
        if let width { format.fmt.pix.width = UInt32(width) }
        if let height { format.fmt.pix.height = UInt32(height) }
        if let pixelFormat { format.fmt.pix.pixelformat = pixelFormat.rawValue }
        format.fmt.pix.field = CDMABuf_V4L2_FIELD_NONE()
        format.fmt.pix.bytesperline = 0
        format.fmt.pix.sizeimage = 0
        _ = try Sys.ioctl(descriptor, CDMABuf_VIDIOC_S_FMT(), &format).get(
            operation, on: path,
            hint: { $0 == .resourceBusy ? "Buffers are allocated or another file is streaming from the device" : nil })
        let chosen = V4L2Format(format.fmt.pix)
        if let pixelFormat, chosen.pixelFormat != pixelFormat {
            let offered = (try? formats().map(\.pixelFormat.description).joined(separator: ", ")) ?? "?"
            throw DMABufError(
                .unsupported, operation: "\(operation) \(pixelFormat)", target: path,
                hint:
                    "The device does not capture \(pixelFormat) (it chose \(chosen.pixelFormat)); it offers \(offered)")
        }
        return chosen
    }

    // MARK: Controls

    /// A control (VIDIOC_QUERYCTRL): brightness, or a driver's own such as vivid's "OSD Text Mode".
    public struct Control: Hashable, Sendable {
        /// The control's id (`V4L2_CID_*`).
        public var id: UInt32
        /// The driver's name for it: "Brightness", "OSD Text Mode".
        public var name: String
        /// The smallest value.
        public var minimum: Int32
        /// The largest value.
        public var maximum: Int32
        /// The value after the driver loads.
        public var defaultValue: Int32
    }

    /// Every enabled control the device lists through VIDIOC_QUERYCTRL with V4L2_CTRL_FLAG_NEXT_CTRL.
    public func controls() throws(DMABufError) -> [Control] {
        var found: [Control] = []
        var next = CDMABuf_V4L2_CTRL_FLAG_NEXT_CTRL()
        while true {
            var query = v4l2_queryctrl()
            query.id = next
            switch Sys.ioctl(descriptor, CDMABuf_VIDIOC_QUERYCTRL(), &query) {
            case .success: break
            case .failure(.invalidArgument): return found  // past the last one
            case .failure(let errno): throw DMABufError(errno: errno, operation: "VIDIOC_QUERYCTRL", target: path)
            }
            next = query.id | CDMABuf_V4L2_CTRL_FLAG_NEXT_CTRL()
            if query.flags & CDMABuf_V4L2_CTRL_FLAG_DISABLED() != 0
                || query.type == CDMABuf_V4L2_CTRL_TYPE_CTRL_CLASS()
            {
                continue
            }
            found.append(
                Control(
                    id: query.id, name: text(&query.name), minimum: query.minimum, maximum: query.maximum,
                    defaultValue: query.default_value))
        }
    }

    /// The control whose name is `name`, compared without case, spaces, "-" or "_"
    /// ("osd_text_mode" finds "OSD Text Mode").
    ///
    /// - Throws: `.invalidArgument` if there is none; the hint lists the controls there are.
    public func control(named name: String) throws(DMABufError) -> Control {
        func key(_ text: String) -> String { text.lowercased().filter { !" -_".contains($0) } }
        let all = try controls()
        guard let control = all.first(where: { key($0.name) == key(name) }) else {
            throw DMABufError(
                .invalidArgument, operation: "find control \(name.debugDescription)", target: path,
                hint: "The device has no such control; it has "
                    + all.prefix(12).map { "\"\($0.name)\"" }
                    .joined(separator: ", ") + (all.count > 12 ? " and \(all.count - 12) more" : ""))
        }
        return control
    }

    /// Sets control `control` to `value` (VIDIOC_S_CTRL).
    ///
    /// - Throws: `.invalidArgument` for a value out of the control's range.
    public func setControl(_ control: Control, to value: Int32) throws(DMABufError) {
        guard (control.minimum...control.maximum).contains(value) else {
            throw DMABufError(
                .invalidArgument, operation: "VIDIOC_S_CTRL \(control.name)", target: path,
                hint: "The value \(value) is outside the control's range \(control.minimum)...\(control.maximum)")
        }
        var setting = v4l2_control(id: control.id, value: value)
        _ = try Sys.ioctl(descriptor, CDMABuf_VIDIOC_S_CTRL(), &setting).get("VIDIOC_S_CTRL \(control.name)", on: path)
    }

    /// The current value of `control` (VIDIOC_G_CTRL).
    public func value(of control: Control) throws(DMABufError) -> Int32 {
        var setting = v4l2_control(id: control.id, value: 0)
        _ = try Sys.ioctl(descriptor, CDMABuf_VIDIOC_G_CTRL(), &setting).get("VIDIOC_G_CTRL \(control.name)", on: path)
        return setting.value
    }
}

/// A single-planar capture format: what VIDIOC_G_FMT and VIDIOC_S_FMT report.
public struct V4L2Format: Hashable, Sendable, CustomStringConvertible {
    /// Pixels per row.
    public var width: Int
    /// Rows.
    public var height: Int
    /// The pixel format.
    public var pixelFormat: V4L2PixelFormat
    /// Bytes from one row to the next.
    public var bytesPerLine: Int
    /// Bytes a buffer needs for one frame: the smallest buffer the device accepts.
    public var sizeImage: Int

    /// A format as given, as VIDIOC_G_FMT would report it.
    public init(width: Int, height: Int, pixelFormat: V4L2PixelFormat, bytesPerLine: Int, sizeImage: Int) {
        (self.width, self.height, self.pixelFormat) = (width, height, pixelFormat)
        (self.bytesPerLine, self.sizeImage) = (bytesPerLine, sizeImage)
    }

    init(_ pix: v4l2_pix_format) {
        width = Int(pix.width)
        height = Int(pix.height)
        pixelFormat = V4L2PixelFormat(rawValue: pix.pixelformat)
        bytesPerLine = Int(pix.bytesperline)
        sizeImage = Int(pix.sizeimage)
    }

    /// The frame as an `ImageLayout` in one buffer: its size, the DRM format of its pixel
    /// format, linear, and for NV12 the chroma plane right after the luma plane.
    ///
    /// - Throws: `.unsupported` if the pixel format has no DRM twin (``V4L2PixelFormat/drmFormat``);
    ///   `.invalidArgument` if bytesperline and sizeimage do not fit the frame.
    public func imageLayout() throws(DMABufError) -> ImageLayout {
        guard let format = pixelFormat.drmFormat else {
            throw DMABufError(
                .unsupported, operation: "describe a \(self) frame as an image layout",
                hint: "\(pixelFormat) has no DRM format with the same bytes")
        }
        var planes = [ImageLayout.Plane(stride: bytesPerLine)]
        if format == .nv12 { planes.append(ImageLayout.Plane(offset: bytesPerLine * height, stride: bytesPerLine)) }
        let layout = ImageLayout(width: width, height: height, format: format, planes: planes)
        try layout.validate(bufferSizes: [sizeImage])
        return layout
    }

    /// "640x360 YUYV, 1280 bytes per line, 460800 bytes per frame".
    public var description: String {
        "\(width)x\(height) \(pixelFormat), \(bytesPerLine) bytes per line, \(sizeImage) bytes per frame"
    }

    /// Parses "640x360" into a width and height, both 1 or more; nil for anything else.
    package static func parseSize(_ text: String) -> (width: Int, height: Int)? {
        let parts = text.split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) }),
            let width = Int(parts[0]), let height = Int(parts[1]), width >= 1, height >= 1
        else { return nil }
        return (width, height)
    }
}

/// A fixed-size C char array of a uapi struct as a string, up to its first NUL.
func text<T>(_ field: inout T) -> String {
    withUnsafeBytes(of: &field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
}
#endif  // os(Linux)
