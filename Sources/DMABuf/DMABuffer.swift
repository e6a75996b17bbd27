#if os(Linux)
internal import CDMABuf
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemPackage

/// The owner of one dma-buf file descriptor.
///
/// The fd is closed exactly once: by ``close()``, which reports errors, or silently when the
/// value goes away. ``takeDescriptor()`` hands it over instead. The buffer itself lives on while
/// any other fd, mapping or importer holds it.
///
/// What never changes for an fd is read once, when the value is made: ``size``, ``accessMode``
/// and ``identity`` are stored properties. ``info()`` reads the rest from the kernel each time.
///
/// ```swift
/// let buffer = try DMABuffer(adopting: receivedDescriptor)
/// var mapping = try buffer.map()
/// try mapping.withCPUAccess(.write) { bytes in
///     bytes.storeBytes(of: 0xff, toByteOffset: 0, as: UInt8.self)
/// }
/// ```
public struct DMABuffer: ~Copyable, Sendable, DescriptorOwner {
    /// The fd's ownership, which ``DescriptorOwner``'s methods use.
    public let _owned: OwnedDescriptor
    /// See ``DescriptorOwner``.
    public consuming func _releaseOwned() -> OwnedDescriptor { _owned }
    /// Bytes in the buffer.
    public let size: Int
    /// How the fd was opened: `.readWrite`, `.readOnly` or `.writeOnly`.
    public let accessMode: FileDescriptor.AccessMode
    /// Which buffer the fd refers to: fds of one dma-buf have equal identities.
    public let identity: Identity

    /// Takes ownership of an fd received from elsewhere (another process, a DRM device, a heap,
    /// an exporter's ioctl) after checking that it is a dma-buf: its file system type is
    /// `DMA_BUF_MAGIC` (`fstatfs`; once the process has seen a dma-buf, `fstat`'s device number
    /// says the same without it). Sets FD_CLOEXEC on it.
    ///
    /// O_NONBLOCK makes no difference to a dma-buf: its waits use poll.
    ///
    /// An fd of a file on a FUSE file system can make the `fstat` of this check block until the
    /// FUSE server answers.
    ///
    /// - Throws: ``DMABufError/Code/notADMABuf`` if the fd is open but not a dma-buf,
    ///   ``DMABufError/Code/badDescriptor`` if it is not open. The fd is then left as it was,
    ///   still the caller's.
    public init(adopting descriptor: FileDescriptor) throws(DMABufError) {
        try self.init(adopting: descriptor, accessMode: nil, closeOnExecIsSet: false)
    }

    /// Adopts an fd as ``init(adopting:)`` does, for an allocator that made the fd itself and so
    /// knows its access mode and that it is close-on-exec: the system calls for those are left
    /// out.
    package init(
        adopting descriptor: FileDescriptor, accessMode: FileDescriptor.AccessMode?, closeOnExecIsSet: Bool
    ) throws(DMABufError) {
        let operation = "adopt as dma-buf"
        let (metadata, type) = try Sys.metadataAndFileSystemType(descriptor).get(
            operation, on: Sys.name(descriptor),
            hint: { $0 == .badFileDescriptor ? "It is not an open file descriptor" : nil })
        guard type == Sys.dmaBufMagic else {
            throw DMABufError(
                .notADMABuf, operation: operation, target: Sys.name(descriptor),
                hint: "Its file system type is 0x\(String(type, radix: 16)), not dma-buf's "
                    + "0x\(String(Sys.dmaBufMagic, radix: 16)) (DMA_BUF_MAGIC)")
        }
        try self.init(
            trusting: descriptor, metadata: metadata, accessMode: accessMode, operation: operation,
            closeOnExecIsSet: closeOnExecIsSet)
    }

    /// Takes ownership of `descriptor` without checking its file system type (tests map memfds
    /// this way). Reads the stored metadata and sets FD_CLOEXEC unless `closeOnExecIsSet`; on
    /// failure the fd stays the caller's.
    package init(
        trusting descriptor: FileDescriptor, operation: String = "adopt as dma-buf", closeOnExecIsSet: Bool = false
    ) throws(DMABufError) {
        let status = try Sys.stat(descriptor).get(operation + ": fstat", on: "dma-buf fd \(descriptor.rawValue)")
        try self.init(
            trusting: descriptor, metadata: Metadata(status), accessMode: nil, operation: operation,
            closeOnExecIsSet: closeOnExecIsSet)
    }

    /// Takes ownership of `descriptor`, whose `fstat` gave `metadata`: reads the access mode
    /// unless given and sets FD_CLOEXEC unless `closeOnExecIsSet`. On failure the fd stays the
    /// caller's.
    package init(
        trusting descriptor: FileDescriptor, metadata: Metadata, accessMode: FileDescriptor.AccessMode?,
        operation: String, closeOnExecIsSet: Bool
    ) throws(DMABufError) {
        // Messages are made only on failure (`get` takes them as autoclosures): on every
        // allocation they cost as much as a system call (`dmabuf bench`).
        let target = { "dma-buf fd \(descriptor.rawValue)" }
        let mode: FileDescriptor.AccessMode
        if let accessMode {
            mode = accessMode
        } else {
            let flags = try Sys.statusFlags(descriptor).get(operation + ": fcntl(F_GETFL)", on: target())
            mode = FileDescriptor.AccessMode(rawValue: flags & O_ACCMODE)
        }
        if !closeOnExecIsSet {
            try Sys.setCloseOnExec(descriptor).get(operation + ": fcntl(F_SETFD, FD_CLOEXEC)", on: target())
        }
        self.init(owning: descriptor, size: metadata.size, accessMode: mode, identity: metadata.identity)
    }

    /// What `fstat` tells of a dma-buf fd that the value stores: since Linux 5.3 every dma-buf
    /// has an inode of its own, whose i_size is the buffer's size.
    package struct Metadata: Sendable {
        var size: Int
        var identity: Identity

        package init(_ status: Glibc.stat) {
            self.size = Int(status.st_size)
            self.identity = Identity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
        }
    }

    private init(
        owning descriptor: FileDescriptor, size: Int, accessMode: FileDescriptor.AccessMode, identity: Identity
    ) {
        self._owned = OwnedDescriptor(descriptor)
        self.size = size
        self.accessMode = accessMode
        self.identity = identity
    }

    /// Whether the fd is open for reading and writing (O_RDWR), so that mappings of it can be
    /// written. An O_WRONLY fd is not writable in this sense: it cannot be mapped at all.
    public var isWritable: Bool { accessMode == .readWrite }

    /// A second owner of the same buffer, through a new fd (`F_DUPFD_CLOEXEC`).
    public borrowing func duplicate() throws(DMABufError) -> DMABuffer {
        let copy = try Sys.duplicate(descriptor).get("duplicate", on: target)
        return DMABuffer(owning: copy, size: size, accessMode: accessMode, identity: identity)
    }

    /// Maps the whole buffer. A read-only fd gives a read-only mapping.
    ///
    /// - Throws: ``DMABufError/Code/permissionDenied`` for an O_WRONLY fd, which cannot be mapped;
    ///   mmap's errors.
    public borrowing func map() throws(DMABufError) -> Mapping {
        try map(0..<size)
    }

    /// Maps `range` of the buffer, which must be non-empty, start on a page boundary and lie
    /// within the buffer. A read-only fd gives a read-only mapping.
    ///
    /// - Throws: ``DMABufError/Code/invalidArgument`` for a range that does not fit, before any
    ///   system call; ``DMABufError/Code/permissionDenied`` for an O_WRONLY fd; mmap's errors.
    public borrowing func map(_ range: Range<Int>) throws(DMABufError) -> Mapping {
        guard !range.isEmpty, range.lowerBound >= 0, range.lowerBound % Sys.pageSize == 0, range.upperBound <= size
        else {
            throw DMABufError(
                .invalidArgument, operation: "mmap \(range)", target: target,
                hint: "A mapping must be non-empty, start on a page boundary (\(Sys.pageSize) bytes) "
                    + "and lie within the buffer's \(size) bytes")
        }
        guard accessMode != .writeOnly else {
            throw DMABufError(
                .permissionDenied, operation: "mmap \(range)", target: target,
                hint: "The fd was opened O_WRONLY, and mmap needs read access")
        }
        let own = try Sys.duplicate(descriptor).get("duplicate", on: target)
        return try Mapping(owning: own, range: range, writable: isWritable)
    }

    /// Names the buffer (DMA_BUF_SET_NAME). A name longer than the kernel's limit of
    /// `DMA_BUF_NAME_LEN - 1` (31) bytes is cut at the last whole UTF-8 character that fits; a
    /// NUL ends it.
    ///
    /// - Returns: the name the buffer now has.
    @discardableResult
    public borrowing func setName(_ name: String) throws(DMABufError) -> String {
        var bytes = Self.kernelName(name, capacity: Int(DMA_BUF_NAME_LEN))
        bytes.append(0)
        let descriptor = self.descriptor
        _ = try bytes.withUnsafeMutableBytes { Sys.ioctl(descriptor, CDMABuf_DMA_BUF_SET_NAME(), $0.baseAddress!) }
            .get("DMA_BUF_SET_NAME ioctl", on: target)
        return String(decoding: bytes.dropLast(), as: UTF8.self)
    }

    /// `name` as the kernel can take it in a `capacity`-byte C string: its UTF-8 up to the first
    /// NUL, cut to `capacity - 1` bytes at a character boundary. (No terminating NUL.)
    package static func kernelName(_ name: String, capacity: Int) -> [UInt8] {
        Array(name.utf8.prefix(kernelNameLength(name, capacity: capacity)))
    }

    /// Writes ``kernelName(_:capacity:)`` for a C string of `buffer.count` bytes to the start of
    /// `buffer`, and leaves the rest as it is. Makes no array: allocating a buffer names it.
    package static func copyKernelName(_ name: String, into buffer: UnsafeMutableRawBufferPointer) {
        let length = kernelNameLength(name, capacity: buffer.count)
        if length > 0 {
            UnsafeMutableRawBufferPointer(rebasing: buffer[..<length]).copyBytes(from: name.utf8.prefix(length))
        }
    }

    /// How many bytes of `name`'s UTF-8 ``kernelName(_:capacity:)`` keeps.
    private static func kernelNameLength(_ name: String, capacity: Int) -> Int {
        var length = 0
        for scalar in name.unicodeScalars {
            let width = UTF8.width(scalar)
            guard scalar != "\0", length + width < capacity else { break }
            length += width
        }
        return length
    }

    private var descriptor: FileDescriptor { _owned.rawValue }
    private var target: String { Self.target(descriptor) }
    private static func target(_ descriptor: FileDescriptor) -> String { "dma-buf fd \(descriptor.rawValue)" }
}

extension DMABuffer {
    /// Which buffer an fd refers to (the device and inode `fstat` gives): fds of one dma-buf
    /// have equal identities, fds of different buffers different ones.
    public struct Identity: Hashable, Sendable, CustomStringConvertible {
        /// The device number of dma-buf's pseudo file system.
        public var device: UInt64
        /// The buffer's inode number, also shown as `ino` in fdinfo.
        public var inode: UInt64

        /// An identity from its parts.
        public init(device: UInt64, inode: UInt64) {
            self.device = device
            self.inode = inode
        }

        /// "inode 1077".
        public var description: String { "inode \(inode)" }
    }
}
#endif  // os(Linux)
