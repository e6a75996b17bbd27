import CDMABuf
import Glibc
import SystemPackage

/// What the CPU is about to do with a mapping, for `DMABufferMapping.withCPUAccess(_:_:)`.
public enum CPUAccess: Sendable, Hashable, CustomStringConvertible {
    case read, write, readWrite

    var writes: Bool { self != .read }

    var syncFlags: UInt64 {
        switch self {
        case .read: CDMABuf_DMA_BUF_SYNC_READ()
        case .write: CDMABuf_DMA_BUF_SYNC_WRITE()
        case .readWrite: CDMABuf_DMA_BUF_SYNC_READ() | CDMABuf_DMA_BUF_SYNC_WRITE()
        }
    }

    public var description: String {
        switch self {
        case .read: "READ"
        case .write: "WRITE"
        case .readWrite: "RW"
        }
    }
}

/// A shared memory mapping of a dma-buf (or of a page-aligned part of it), unmapped when the value
/// goes away. It keeps its own fd for the buffer, so it outlives the `DMABuffer` it came from.
///
/// Touch the bytes inside `withCPUAccess(_:_:)`, which tells the exporter (DMA_BUF_IOCTL_SYNC)
/// so that caches and devices agree with what the CPU sees.
///
/// Sendable because it is the only owner of its mapping: sending it moves the mapping to another
/// task, and its mutable views need exclusive (`mutating`) access.
public struct DMABufferMapping: ~Copyable, @unchecked Sendable {
    /// Issues DMA_BUF_IOCTL_SYNC with the given flags on the fd. A parameter only for tests, which
    /// map a memfd (where the ioctl fails) to test the bracketing.
    internal typealias Synchronizer = @Sendable (FileDescriptor, UInt64) -> Result<Void, Errno>

    private let owned: OwnedDescriptor
    private var descriptor: FileDescriptor { owned.rawValue }
    private let base: UnsafeMutableRawPointer
    private let synchronizer: Synchronizer
    /// Bytes mapped.
    public let count: Int
    /// Where the mapping starts in the buffer.
    public let offset: Int
    /// False for a mapping of a read-only fd: its pages are mapped PROT_READ only.
    public let isWritable: Bool

    /// Maps `range` (all if nil) of the buffer `descriptor`, which the mapping takes over, closing
    /// it even on failure.
    internal init(
        owning descriptor: FileDescriptor, range: Range<Int>?,
        synchronizer: @escaping Synchronizer = DMABufferMapping.syncIoctl
    ) throws(DMABufError) {
        let owned = OwnedDescriptor(descriptor)  // closes it if mapping fails
        let target = "dma-buf fd \(descriptor.rawValue)"
        let size = try Sys.sizeBySeekingToEnd(descriptor).get("lseek(SEEK_END)", on: target)
        let range = range ?? 0..<size
        guard !range.isEmpty, range.lowerBound >= 0, range.lowerBound % Sys.pageSize == 0,
            range.upperBound <= size
        else {
            throw DMABufError(
                .invalidArgument, operation: "mmap \(range)", target: target,
                hint: "A mapping must be non-empty, start on a page boundary (\(Sys.pageSize) bytes) "
                    + "and lie within the buffer's \(size) bytes")
        }
        let flags = try Sys.statusFlags(descriptor).get("fcntl(F_GETFL)", on: target)
        let writable = flags & O_ACCMODE != O_RDONLY
        self.base = try Sys.mmap(
            descriptor, count: range.count, offset: range.lowerBound,
            protection: writable ? PROT_READ | PROT_WRITE : PROT_READ
        ).get("mmap \(range)", on: target)
        self.count = range.count
        self.offset = range.lowerBound
        self.isWritable = writable
        self.owned = owned
        self.synchronizer = synchronizer
    }

    deinit {
        _ = Sys.munmap(base, count: count)
    }

    // MARK: CPU access

    /// Runs `body` between DMA_BUF_IOCTL_SYNC START and END for `access`.
    ///
    /// END is issued whenever START succeeded, also when `body` throws. EINTR and EAGAIN are
    /// retried. `body` gets the mapping itself, to use its views.
    ///
    /// - Throws: EACCES, before any ioctl, for `.write`/`.readWrite` on a read-only mapping; the
    ///   SYNC ioctl's error; or what `body` throws.
    @discardableResult
    public mutating func withCPUAccess<R>(
        _ access: CPUAccess, _ body: (inout DMABufferMapping) throws -> R
    ) throws -> R {
        guard isWritable || !access.writes else {
            throw DMABufError(
                .permissionDenied, operation: "CPU \(access) access", target: target,
                hint: "The mapping is read-only because its dma-buf fd was opened O_RDONLY")
        }
        try synchronize(access, CDMABuf_DMA_BUF_SYNC_START(), "START")
        let result: R
        do {
            result = try body(&self)
        } catch {
            try? synchronize(access, CDMABuf_DMA_BUF_SYNC_END(), "END")
            throw error
        }
        try synchronize(access, CDMABuf_DMA_BUF_SYNC_END(), "END")
        return result
    }

    private func synchronize(_ access: CPUAccess, _ phase: UInt64, _ phaseName: String) throws(DMABufError) {
        try synchronizer(descriptor, access.syncFlags | phase)
            .get("DMA_BUF_IOCTL_SYNC(\(phaseName), \(access))", on: target)
    }

    /// DMA_BUF_IOCTL_SYNC with raw `flags`, retrying EINTR and EAGAIN.
    internal static func syncIoctl(_ descriptor: FileDescriptor, _ flags: UInt64) -> Result<Void, Errno> {
        var sync = dma_buf_sync(flags: flags)
        return Sys.ioctl(descriptor, CDMABuf_DMA_BUF_IOCTL_SYNC(), &sync, retryBusy: true).map { _ in }
    }

    private var target: String { "mapping of dma-buf fd \(descriptor.rawValue)" }
}

// MARK: Views

extension DMABufferMapping {
    /// The mapped bytes, for reading.
    public var bytes: RawSpan {
        @_lifetime(borrow self)
        borrowing get {
            let span = RawSpan(_unsafeBytes: UnsafeRawBufferPointer(start: base, count: count))
            return _overrideLifetime(span, borrowing: self)
        }
    }

    /// The mapped bytes, for writing. The mapping must be writable (`isWritable`).
    public var mutableBytes: MutableRawSpan {
        @_lifetime(&self)
        mutating get {
            precondition(isWritable, "mutableBytes of a read-only dma-buf mapping")
            let span = MutableRawSpan(_unsafeBytes: UnsafeMutableRawBufferPointer(start: base, count: count))
            return _overrideLifetime(span, mutating: &self)
        }
    }

    /// Calls `body` with the mapped bytes, for reading.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// Calls `body` with the mapped bytes, for writing. The mapping must be writable (`isWritable`).
    public mutating func withUnsafeMutableBytes<R, E: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        precondition(isWritable, "withUnsafeMutableBytes of a read-only dma-buf mapping")
        return try body(UnsafeMutableRawBufferPointer(start: base, count: count))
    }
}
