import CDMABuf
import Glibc
import SystemPackage

/// The owner of one dma-buf file descriptor.
///
/// The fd is closed exactly once: by `close()`, which reports errors, or silently when the value
/// goes away. `takeDescriptor()` hands it over instead. The buffer itself lives on while any other
/// fd, mapping or importer holds it.
///
/// ```swift
/// let device = try DMABufExporter()
/// let buffer = try device.allocate(size: 1 << 20, name: "frame")
/// var mapping = try buffer.map()
/// try mapping.withCPUAccess(.write) { mapping in
///     mapping.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0xff) }
/// }
/// ```
public struct DMABuffer: ~Copyable, Sendable {
    private let owned: OwnedDescriptor
    private var descriptor: FileDescriptor { owned.rawValue }

    /// Takes ownership of an fd known to be a dma-buf (one a dma-buf exporter just returned).
    internal init(owning descriptor: FileDescriptor) {
        self.owned = OwnedDescriptor(descriptor)
    }

    /// Takes ownership of an fd received from elsewhere (another process, a DRM device, a heap),
    /// after checking through its fdinfo that it is a dma-buf.
    ///
    /// - Throws: EINVAL if the fd is open but not a dma-buf, EBADF if it is not open. The fd is
    ///   then left as it was, still the caller's.
    public init(adopting descriptor: FileDescriptor) throws(DMABufError) {
        do {
            _ = try DMABufferInfo(of: descriptor)
        } catch {
            let what = Sys.describe(descriptor).map { "fd \(descriptor.rawValue) (\($0))" }
            var error = error  // EBADF or EINVAL, with a hint that says why
            error.operation = "adopt as dma-buf"
            error.target = what ?? "fd \(descriptor.rawValue)"
            throw error
        }
        self.init(owning: descriptor)
    }

    /// Closes the fd, reporting failure (the fd is gone either way).
    public consuming func close() throws(DMABufError) {
        let target = self.target
        try owned.close().get("close", on: target)
    }

    /// Gives up ownership: the caller closes the returned fd.
    public consuming func takeDescriptor() -> FileDescriptor {
        owned.take()
    }

    /// Calls `body` with the raw fd, for system calls this type does not wrap. Don't close it.
    public func withUnsafeDescriptor<R, E: Error>(_ body: (FileDescriptor) throws(E) -> R) throws(E) -> R {
        try body(descriptor)
    }

    /// A second owner of the same buffer, through a new fd (`F_DUPFD_CLOEXEC`).
    public func duplicate() throws(DMABufError) -> DMABuffer {
        DMABuffer(owning: try Sys.duplicate(descriptor).get("duplicate", on: target))
    }

    /// Maps the whole buffer, or `range` of it, which must start on a page boundary.
    /// A read-only fd gives a read-only mapping.
    public func map(_ range: Range<Int>? = nil) throws(DMABufError) -> DMABufferMapping {
        let own = try Sys.duplicate(descriptor).get("duplicate", on: target)
        return try DMABufferMapping(owning: own, range: range)
    }

    private var target: String { "dma-buf fd \(descriptor.rawValue)" }
}

// MARK: Metadata

extension DMABuffer {
    /// Which buffer an fd refers to: fds of one dma-buf have equal identities, any others differ.
    public struct Identity: Hashable, Sendable, CustomStringConvertible {
        public var device: UInt64
        public var inode: UInt64
        public var description: String { "inode \(inode)" }
    }

    /// Bytes in the buffer (`lseek(SEEK_END)`).
    public var size: Int {
        get throws(DMABufError) { try Sys.sizeBySeekingToEnd(descriptor).get("lseek(SEEK_END)", on: target) }
    }

    /// Everything fdinfo says: size, exporter, name, inode, file count, flags.
    public var info: DMABufferInfo {
        get throws(DMABufError) { try DMABufferInfo(of: descriptor) }
    }

    /// The exporter's name for itself: "dmabuf_exporter", "drm", "system", ...
    public var exporterName: String {
        get throws(DMABufError) { try info.exporterName }
    }

    /// The buffer's name, nil if it has none.
    public var name: String? {
        get throws(DMABufError) { try info.name }
    }

    public var identity: Identity {
        get throws(DMABufError) {
            let status = try Sys.stat(descriptor).get("fstat", on: target)
            return Identity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
        }
    }

    /// Whether the fd was opened for writing (O_RDWR), so that mappings of it can be written.
    public var isWritable: Bool {
        get throws(DMABufError) {
            try Sys.statusFlags(descriptor).get("fcntl(F_GETFL)", on: target) & O_ACCMODE != O_RDONLY
        }
    }

    /// Names the buffer (DMA_BUF_SET_NAME). A name longer than the kernel's limit of
    /// `DMA_BUF_NAME_LEN - 1` (31) bytes is cut at the last whole UTF-8 character that fits.
    ///
    /// - Returns: the name the buffer now has.
    @discardableResult
    public func setName(_ name: String) throws(DMABufError) -> String {
        var bytes = Self.kernelName(name, capacity: Int(DMA_BUF_NAME_LEN))
        bytes.append(0)
        _ = try bytes.withUnsafeMutableBytes { Sys.ioctl(descriptor, CDMABuf_DMA_BUF_SET_NAME(), $0.baseAddress!) }
            .get("DMA_BUF_SET_NAME ioctl", on: target)
        return String(decoding: bytes.dropLast(), as: UTF8.self)
    }

    /// `name` as the kernel can take it in a `capacity`-byte C string: its UTF-8 up to the first
    /// NUL, cut to `capacity - 1` bytes at a character boundary. (No terminating NUL.)
    internal static func kernelName(_ name: String, capacity: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        for scalar in name.unicodeScalars {
            guard scalar != "\0", bytes.count + UTF8.width(scalar) < capacity else { break }
            bytes += UTF8.encode(scalar)!
        }
        return bytes
    }
}
