import CDMABuf
import Glibc
import SystemPackage

/// A client of the `dmabuf_exporter` kernel module: one open file of `/dev/dmabuf_exporter`, with
/// its own byte quota. Buffers it allocates outlive it.
public struct DMABufExporter: ~Copyable, Sendable {
    /// `/dev/dmabuf_exporter`.
    public static let defaultPath = "/dev/" + DMABUF_EXPORTER_DEVICE_NAME
    /// Size of the device's shared buffer.
    public static let sharedBufferSize = Int(DMABUF_EXPORTER_SHARED_SIZE)
    /// The shared buffer's text when the module is loaded.
    public static let initialSharedText = DMABUF_EXPORTER_SHARED_TEXT
    /// The exporter name its dma-bufs carry (fdinfo `exp_name`).
    public static let exporterName = DMABUF_EXPORTER_DEVICE_NAME

    private let owned: OwnedDescriptor
    private var descriptor: FileDescriptor { owned.rawValue }
    /// The device's path.
    public let path: String

    /// Opens the device.
    ///
    /// - Throws: ENOENT if the module is not loaded, EACCES without permission; the error's hint
    ///   says what to do.
    public init(path: String = DMABufExporter.defaultPath) throws(DMABufError) {
        self.owned = OwnedDescriptor(try Sys.open(path, O_RDWR).get("open", on: path, hint: Self.openHint))
        self.path = path
    }

    /// Closes the device, reporting failure. Buffers from it stay valid.
    public consuming func close() throws(DMABufError) {
        let path = self.path
        try owned.close().get("close", on: path)
    }

    /// A new dma-buf fd (O_RDWR) over the device's one shared buffer: the seed article's ioctl.
    /// Each call exports a new dma-buf, with a new inode, over the same memory.
    public func sharedBuffer() throws(DMABufError) -> DMABuffer {
        var fd: CInt = -1
        _ = try Sys.ioctl(descriptor, CDMABuf_DMABUF_EXPORTER_IOC_GET_SHARED_FD(), &fd)
            .get("GET_SHARED_FD ioctl", on: path, hint: Self.allocationHint)
        return DMABuffer(owning: FileDescriptor(rawValue: fd))
    }

    /// A fresh, zero-filled buffer of `size` bytes rounded up to whole pages.
    ///
    /// - Parameters:
    ///   - name: the dma-buf's name, cut to 31 bytes like `DMABuffer.setName(_:)`.
    ///   - readOnly: return an O_RDONLY fd, whose mappings are read-only.
    /// - Throws: EINVAL for size 0; EFBIG, EDQUOT or ENOSPC past the module's limits; ENOMEM.
    public func allocate(size: Int, name: String? = nil, readOnly: Bool = false) throws(DMABufError) -> DMABuffer {
        guard size >= 0 else {
            throw DMABufError(.invalidArgument, operation: "ALLOC ioctl", target: path, hint: "The size \(size) is negative")
        }
        var request = dmabuf_exporter_alloc()
        request.size = UInt64(size)
        request.fd_flags = UInt32(bitPattern: (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC)
        let nameBytes = DMABuffer.kernelName(name ?? "", capacity: Int(DMABUF_EXPORTER_NAME_LEN))
        withUnsafeMutableBytes(of: &request.name) { $0.copyBytes(from: nameBytes) }
        _ = try Sys.ioctl(descriptor, CDMABuf_DMABUF_EXPORTER_IOC_ALLOC(), &request)
            .get("ALLOC ioctl", on: path, hint: Self.allocationHint)
        return DMABuffer(owning: FileDescriptor(rawValue: request.fd))
    }

    /// The shared buffer's text as the kernel reads it through the device (`read()`): up to its
    /// first NUL byte.
    ///
    /// - Throws: EFBIG if the file gives more than `sharedBufferSize` bytes (it is not the device).
    public func readShared() throws(DMABufError) -> String {
        let bytes = try Sys.readToEnd(descriptor, limit: Self.sharedBufferSize).get("read", on: path)
        guard bytes.count <= Self.sharedBufferSize else {
            throw DMABufError(.fileTooLarge, operation: "read", target: path,
                              hint: "It gave more than the shared buffer's \(Self.sharedBufferSize) bytes: this is not the dmabuf_exporter device")
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes `text` into the shared buffer from offset 0 through the device (`write()`); the
    /// kernel ends it with a NUL if room remains.
    public func writeShared(_ text: String) throws(DMABufError) {
        let bytes = Array(text.utf8)
        guard bytes.count < Self.sharedBufferSize else {
            throw DMABufError(.noSpace, operation: "write", target: path,
                              hint: "The text has \(bytes.count) bytes; the shared buffer holds \(Self.sharedBufferSize)")
        }
        var written = 0
        while written < bytes.count {
            let count = try bytes[written...].withUnsafeBytes { Sys.write(descriptor, $0, at: written) }
                .get("write", on: path)
            // A file that takes nothing would keep this loop going forever.
            guard count > 0 else {
                throw DMABufError(.noSpace, operation: "write", target: path,
                                  hint: "The file took no bytes at offset \(written); it is not the dmabuf_exporter device")
            }
            written += count
        }
    }

    static func openHint(_ errno: Errno) -> String? {
        switch errno {
        case .noSuchFileOrDirectory:
            "The dmabuf_exporter kernel module is not loaded. In a swift-dmabuf checkout, build and load it "
                + "for the running kernel with `make -C kernel && sudo insmod kernel/dmabuf_exporter.ko`, "
                + "or run `make demo` to try it in a VM"
        case .permissionDenied, .notPermitted:
            "This is a permission problem: the device is mode 0600, root only. Run as root, or install "
                + "the udev rule (`sudo make install-udev`) and join the dmabuf group"
        default: nil
        }
    }

    private static func allocationHint(_ errno: Errno) -> String? {
        let parameters = "/sys/module/\(DMABUF_EXPORTER_DEVICE_NAME)/parameters"
        return switch errno {
        case .invalidArgument: "The size must not be 0"
        case .fileTooLarge: "The size is above the module's limit for one buffer, \(parameters)/max_buffer_bytes"
        case .diskQuotaExceeded:
            "This open device would hold more than the module's per-file limit, \(parameters)/max_file_bytes"
        case .noSpace: "All buffers together would exceed the module's limit, \(parameters)/max_total_bytes"
        case .noMemory: "The kernel could not allocate the pages"
        case .inappropriateIOCTLForDevice: "This is not the dmabuf_exporter device, or not a version of it that knows this ioctl"
        default: nil
        }
    }
}
