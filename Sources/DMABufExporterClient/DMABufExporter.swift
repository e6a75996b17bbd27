#if os(Linux)
internal import CDMABufExporter
import DMABuf
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemPackage

/// A client of the `dmabuf_exporter` kernel module: one open file of `/dev/dmabuf_exporter`,
/// with its own byte quota. Buffers it hands out outlive it.
///
/// ```swift
/// let device = try DMABufExporter()
/// let buffer = try device.allocate(size: 1 << 20, name: "frame")
/// ```
public struct DMABufExporter: ~Copyable, Sendable, DescriptorOwner, DMABufAllocator {
    /// `/dev/dmabuf_exporter`.
    public static let defaultPath = FilePath("/dev/" + DMABUF_EXPORTER_DEVICE_NAME)
    /// Size of the device's shared buffer, in bytes.
    public static let sharedBufferSize = Int(DMABUF_EXPORTER_SHARED_SIZE)
    /// The shared buffer's text when the module is loaded.
    public static let initialSharedText = DMABUF_EXPORTER_SHARED_TEXT
    /// The exporter name its dma-bufs carry (fdinfo `exp_name`).
    public static let exporterName = DMABUF_EXPORTER_DEVICE_NAME

    /// The fd's ownership, which ``DescriptorOwner``'s methods use.
    public let _owned: OwnedDescriptor
    /// See ``DescriptorOwner``.
    public consuming func _releaseOwned() -> OwnedDescriptor { _owned }
    var descriptor: FileDescriptor { _owned.rawValue }
    /// The device's path.
    public let path: FilePath

    /// Opens the device.
    ///
    /// - Parameters:
    ///   - path: the device node.
    ///   - accessMode: how to open it; ``writeShared(_:)`` needs write access.
    /// - Throws: `.deviceMissing` if the module is not loaded,
    ///   `.permissionDenied` without permission; the error's hint says more.
    public init(
        path: FilePath = DMABufExporter.defaultPath, accessMode: FileDescriptor.AccessMode = .readWrite
    ) throws(DMABufError) {
        self._owned = OwnedDescriptor(
            try Sys.open(path, accessMode.rawValue).get("open", on: path.string, hint: Self.openHint))
        self.path = path
    }

    /// A new dma-buf fd over the device's one shared buffer: the seed article's ioctl.
    /// Each call exports a new dma-buf, with a new inode, over the same memory. The fd is
    /// read-write if the device was opened read-write, read-only if it was opened read-only.
    ///
    /// - Throws: the ioctl's error: `.permissionDenied` if the device was opened write-only,
    ///   `.limitExceeded` when the page it costs would exceed the module's limits;
    ///   `.badResponse` if the device answers without an fd; `.notADMABuf` if the fd it
    ///   gives is not a dma-buf.
    public func sharedBuffer() throws(DMABufError) -> DMABuffer {
        let operation = "GET_SHARED_FD ioctl"
        var fd: CInt = -1
        _ = try Sys.ioctl(descriptor, CDMABufExporter_DMABUF_EXPORTER_IOC_GET_SHARED_FD(), &fd)
            .get(operation, on: path.string, code: Self.allocationCode, hint: Self.sharedBufferHint)
        return try DMABuffer(returned: fd, by: operation, on: path.string, accessMode: nil, closeOnExecIsSet: false)
    }

    /// A fresh, zero-filled, read-write buffer of `size` bytes rounded up to whole pages: the
    /// `DMABufAllocator` requirement.
    ///
    /// - Parameters:
    ///   - size: bytes wanted; 1 or more.
    ///   - name: the dma-buf's name, or nil.
    /// - Throws: as ``allocate(size:name:accessMode:)``.
    public func allocate(size: Int, name: String?) throws(DMABufError) -> DMABuffer {
        try allocate(size: size, name: name, accessMode: .readWrite)
    }

    /// A fresh, zero-filled buffer of `size` bytes rounded up to whole pages.
    ///
    /// - Parameters:
    ///   - size: bytes wanted; 1 or more.
    ///   - name: the dma-buf's name, cut to 31 bytes like `DMABuffer.setName(_:)`.
    ///   - accessMode: the fd's access mode: `.readWrite`, or `.readOnly` for an fd whose
    ///     mappings are read-only.
    /// - Throws: `.invalidArgument` for a size of 0 or less or an access mode the
    ///   module refuses; `.limitExceeded` past the module's limits (EFBIG; EDQUOT, per open file or per user;
    ///   ENOSPC); `.outOfMemory`; `.badResponse` or
    ///   `.notADMABuf` if the device answers without a dma-buf.
    public func allocate(
        size: Int, name: String? = nil, accessMode: FileDescriptor.AccessMode = .readWrite
    ) throws(DMABufError) -> DMABuffer {
        let operation = "ALLOC ioctl"
        try AllocationRequest.check(size: size, operation: operation, target: path.string)
        var request = dmabuf_exporter_alloc()  // zero: flags and reserved must be
        request.size = UInt64(size)
        request.fd_flags = UInt32(bitPattern: accessMode.rawValue | O_CLOEXEC)
        request.fd = -1
        if let name { withUnsafeMutableBytes(of: &request.name) { DMABuffer.copyKernelName(name, into: $0) } }
        _ = try Sys.ioctl(descriptor, CDMABufExporter_DMABUF_EXPORTER_IOC_ALLOC(), &request)
            .get(operation, on: path.string, code: Self.allocationCode, hint: Self.allocationHint)
        // The module opened the fd as asked, close-on-exec.
        return try DMABuffer(
            returned: request.fd, by: operation, on: path.string, accessMode: accessMode, closeOnExecIsSet: true)
    }

    /// The shared buffer's text as the kernel reads it through the device (`read()`): up to its
    /// first NUL byte.
    ///
    /// - Throws: `.badResponse` if the file gives more than
    ///   ``sharedBufferSize`` bytes (it is not the device).
    public func readShared() throws(DMABufError) -> String {
        let bytes = try Sys.readToEnd(descriptor, limit: Self.sharedBufferSize).get("read", on: path.string)
        guard bytes.count <= Self.sharedBufferSize else {
            throw DMABufError(
                .badResponse, operation: "read", target: path.string,
                hint: "It gave more than the shared buffer's \(Self.sharedBufferSize) bytes: "
                    + "this is not the dmabuf_exporter device")
        }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// Writes `text` into the shared buffer from offset 0 through the device (`write()`); the
    /// kernel ends it with a NUL if room remains.
    ///
    /// - Throws: `.limitExceeded` if the text has ``sharedBufferSize`` bytes or
    ///   more; `.badResponse` if the file takes no bytes.
    public func writeShared(_ text: String) throws(DMABufError) {
        let bytes = Array(text.utf8)
        guard bytes.count < Self.sharedBufferSize else {
            throw DMABufError(
                .limitExceeded, operation: "write", target: path.string,
                hint:
                    "The text has \(bytes.count) bytes; the shared buffer holds \(Self.sharedBufferSize - 1) and a NUL")
        }
        var written = 0
        let descriptor = self.descriptor
        while written < bytes.count {
            let count = try bytes[written...].withUnsafeBytes { Sys.write(descriptor, $0, at: written) }
                .get("write", on: path.string)
            // A file that takes nothing would keep this loop going forever.
            guard count > 0 else {
                throw DMABufError(
                    .badResponse, operation: "write", target: path.string,
                    hint: "The file took no bytes at offset \(written); it is not the dmabuf_exporter device")
            }
            written += count
        }
    }

    /// Why open failed, for errnos where the reason is known. Library text: no make targets.
    package static func openHint(_ errno: Errno) -> String? {
        switch errno {
        case .noSuchFileOrDirectory, .operationNotSupportedByDevice, .noSuchAddressOrDevice:
            "The dmabuf_exporter kernel module is not loaded (load it with modprobe or insmod)"
        case .permissionDenied, .notPermitted:
            "This is a permission problem: the device is mode 0600, root only, unless a udev rule "
                + "gives a group (such as dmabuf) access to it"
        default: nil
        }
    }

    private static func allocationCode(_ errno: Errno) -> DMABufError.Code? {
        errno == .noSpace || errno == .diskQuotaExceeded || errno == .fileTooLarge ? .limitExceeded : nil
    }

    private static func sharedBufferHint(_ errno: Errno) -> String? {
        errno == .permissionDenied
            ? "The device was opened write-only; the shared buffer's fd needs it opened for reading"
            : allocationHint(errno)
    }

    private static func allocationHint(_ errno: Errno) -> String? {
        let parameters = "/sys/module/\(DMABUF_EXPORTER_DEVICE_NAME)/parameters"
        return switch errno {
        case .invalidArgument: "The size must not be 0, and the access mode must be read-write or read-only"
        case .fileTooLarge: "The size is above the module's limit for one buffer, \(parameters)/max_buffer_bytes"
        case .diskQuotaExceeded:
            "This open device, or all open devices of this user together, would hold more than the module's "
                + "per-file limit, \(parameters)/max_file_bytes, or its per-user limit, \(parameters)/max_user_bytes"
        case .noSpace: "All buffers together would exceed the module's limit, \(parameters)/max_total_bytes"
        case .noMemory: "The kernel could not allocate the pages"
        case .inappropriateIOCTLForDevice:
            "This is not the dmabuf_exporter device, or not a version of it that knows this ioctl"
        default: nil
        }
    }
}
#endif  // os(Linux)
