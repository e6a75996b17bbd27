#if os(Linux)
internal import CDMABuf
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemPackage

extension DMABuffer {
    /// Read access by the CPU, for ``Mapping/withCPUAccess(_:_:)-(_,(RawSpan)->R)``: the body
    /// gets a `RawSpan`.
    public struct CPUReadAccess: Hashable, Sendable, CustomStringConvertible {
        // Computed and inlinable: a stored `static let` costs a call to its accessor on every
        // access, in CPU access's hot path.
        /// The CPU reads the buffer (DMA_BUF_SYNC_READ).
        @inlinable public static var read: CPUReadAccess { CPUReadAccess() }

        @usableFromInline init() {}

        /// "READ".
        public var description: String { SyncDirection.read.name.description }
    }

    /// Write access by the CPU, for ``Mapping/withCPUAccess(_:_:)-(_,(MutableRawSpan)->R)``: the
    /// body gets an `inout MutableRawSpan`.
    public struct CPUWriteAccess: Hashable, Sendable, CustomStringConvertible {
        @usableFromInline let reads: Bool

        private init(reads: Bool) {
            self.reads = reads
        }

        /// The CPU writes the buffer (DMA_BUF_SYNC_WRITE).
        public static let write = CPUWriteAccess(reads: false)
        /// The CPU reads and writes the buffer (DMA_BUF_SYNC_RW).
        public static let readWrite = CPUWriteAccess(reads: true)

        /// "WRITE" or "RW".
        public var description: String { direction.name.description }

        @inlinable var direction: SyncDirection { reads ? .readWrite : .write }
    }

    /// What DMA_BUF_IOCTL_SYNC is told the CPU does: its READ and WRITE flags.
    @usableFromInline enum SyncDirection: Sendable {
        case read, write, readWrite

        var flags: UInt64 {
            switch self {
            case .read: CDMABuf_DMA_BUF_SYNC_READ()
            case .write: CDMABuf_DMA_BUF_SYNC_WRITE()
            case .readWrite: CDMABuf_DMA_BUF_SYNC_READ() | CDMABuf_DMA_BUF_SYNC_WRITE()
            }
        }

        /// "READ", "WRITE" or "RW", for messages.
        var name: StaticString {
            switch self {
            case .read: "READ"
            case .write: "WRITE"
            case .readWrite: "RW"
            }
        }
    }

    /// The START or END of CPU access.
    @usableFromInline enum SyncPhase: Sendable {
        case start, end
    }

    /// A shared memory mapping of a dma-buf, or of a page-aligned part of it, unmapped when the
    /// value goes away. It keeps its own fd for the buffer, so it outlives the ``DMABuffer`` it
    /// came from.
    ///
    /// Touch the bytes inside ``withCPUAccess(_:_:)-(_,(RawSpan)->R)`` or
    /// ``withCPUAccess(_:_:)-(_,(MutableRawSpan)->R)``, which tell the exporter (DMA_BUF_IOCTL_SYNC)
    /// so that caches and devices agree with what the CPU sees. The body gets a view of the
    /// bytes that matches the access, never the mapping itself.
    ///
    /// A dma-buf is shared memory: other processes and devices may write it at any time, so the
    /// bytes under a `RawSpan` of a mapping can change while you read them. Read each value once
    /// and check what you read, rather than assuming two reads agree.
    ///
    /// Sendable because it is the only owner of its mapping: sending it moves the mapping to
    /// another task, and its mutable views need exclusive (`mutating`) access.
    public struct Mapping: ~Copyable, @unchecked Sendable {
        private let owned: OwnedDescriptor
        @usableFromInline let base: UnsafeMutableRawPointer
        /// Bytes mapped.
        public let count: Int
        /// Where the mapping starts in the buffer.
        public let offset: Int
        /// False for a mapping of a read-only fd: its pages are mapped PROT_READ only.
        public let isWritable: Bool

        /// Maps `range` of the buffer `descriptor`, which the mapping takes over, closing it even
        /// on failure. The caller has checked the range.
        package init(owning descriptor: FileDescriptor, range: Range<Int>, writable: Bool) throws(DMABufError) {
            let owned = OwnedDescriptor(descriptor)  // closes it if mapping fails
            self.base = try Sys.mmap(
                descriptor, count: range.count, offset: range.lowerBound,
                protection: writable ? PROT_READ | PROT_WRITE : PROT_READ
            ).get("mmap \(range)", on: "dma-buf fd \(descriptor.rawValue)")
            self.count = range.count
            self.offset = range.lowerBound
            self.isWritable = writable
            self.owned = owned
        }

        deinit {
            _ = Sys.munmap(base, count: count)
        }

        // MARK: CPU access

        /// Runs `body` with the mapped bytes, between DMA_BUF_IOCTL_SYNC START and END for reading.
        ///
        /// END is issued whenever START succeeded, also when `body` throws. EINTR and EAGAIN are
        /// retried.
        ///
        /// - Throws: the SYNC ioctl's error as a ``DMABufError``, or what `body` throws (which
        ///   wins over a failed END).
        @inlinable
        @discardableResult
        public borrowing func withCPUAccess<R>(
            _ access: CPUReadAccess, _ body: (RawSpan) throws -> R
        ) throws -> R {
            try synchronized(.read) { try body(unsynchronizedBytes) }
        }

        /// Runs `body` with the mapped bytes, between DMA_BUF_IOCTL_SYNC START and END for
        /// writing (`.write`) or reading and writing (`.readWrite`).
        ///
        /// END is issued whenever START succeeded, also when `body` throws. EINTR and EAGAIN are
        /// retried.
        ///
        /// - Throws: ``DMABufError/Code/permissionDenied``, before any ioctl, on a read-only
        ///   mapping; the SYNC ioctl's error; or what `body` throws (which wins over a failed END).
        @inlinable
        @discardableResult
        public mutating func withCPUAccess<R>(
            _ access: CPUWriteAccess, _ body: (inout MutableRawSpan) throws -> R
        ) throws -> R {
            let direction = access.direction
            guard isWritable else { throw readOnlyError(direction) }
            let bytes = UnsafeMutableRawBufferPointer(start: base, count: count)
            return try synchronized(direction) {
                var span = MutableRawSpan(_unsafeBytes: bytes)
                return try body(&span)
            }
        }

        /// `body` between SYNC START and END. Inlinable, with the ioctls in `synchronize`, so that
        /// a caller's access compiles to two calls around its body: a SYNC pair takes two
        /// microseconds under TCG, and the generic function and closures between the caller and
        /// the ioctls added a tenth to it (`dmabuf bench`, sync-pair).
        @inlinable
        borrowing func synchronized<R>(_ direction: SyncDirection, _ body: () throws -> R) throws -> R {
            try synchronize(direction, .start)
            let result: R
            do {
                result = try body()
            } catch {
                try? synchronize(direction, .end)
                throw error
            }
            try synchronize(direction, .end)
            return result
        }

        /// One DMA_BUF_IOCTL_SYNC. The error's text is made only on failure: making it every time
        /// doubled the cost of a SYNC pair (`dmabuf bench`, sync-pair).
        @usableFromInline
        borrowing func synchronize(_ direction: SyncDirection, _ phase: SyncPhase) throws(DMABufError) {
            let descriptor = owned.rawValue
            let phaseFlag = phase == .start ? CDMABuf_DMA_BUF_SYNC_START() : CDMABuf_DMA_BUF_SYNC_END()
            if case .failure(let error) = Sys.dmaBufSync(descriptor, flags: direction.flags | phaseFlag) {
                throw Self.syncError(error, direction, phase, descriptor)
            }
        }

        /// Out of line, so that the hot path above needs no room for a message.
        @inline(never)
        private static func syncError(
            _ error: Errno, _ direction: SyncDirection, _ phase: SyncPhase, _ descriptor: FileDescriptor
        ) -> DMABufError {
            DMABufError(
                errno: error, operation: "DMA_BUF_IOCTL_SYNC(\(phase == .start ? "START" : "END"), \(direction.name))",
                target: target(descriptor))
        }

        @usableFromInline
        borrowing func readOnlyError(_ direction: SyncDirection) -> DMABufError {
            DMABufError(
                .permissionDenied, operation: "CPU \(direction.name) access", target: target,
                hint: "The mapping is read-only because its dma-buf fd was opened O_RDONLY")
        }

        private var target: String { Self.target(owned.rawValue) }

        private static func target(_ descriptor: FileDescriptor) -> String {
            "mapping of dma-buf fd \(descriptor.rawValue)"
        }

        // MARK: Unsynchronised views

        /// The mapped bytes for reading, without DMA_BUF_IOCTL_SYNC: what the CPU sees may not
        /// yet include a device's writes, and may change while you read it. Prefer
        /// ``withCPUAccess(_:_:)-(_,(RawSpan)->R)``.
        public var unsynchronizedBytes: RawSpan {
            @_lifetime(borrow self)
            @inlinable
            borrowing get {
                let span = RawSpan(_unsafeBytes: UnsafeRawBufferPointer(start: base, count: count))
                return _overrideLifetime(span, borrowing: self)
            }
        }

        /// The mapped bytes for writing, without DMA_BUF_IOCTL_SYNC: devices may not see the
        /// writes. The mapping must be writable (``isWritable``). Prefer
        /// ``withCPUAccess(_:_:)-(_,(MutableRawSpan)->R)``.
        public var unsynchronizedMutableBytes: MutableRawSpan {
            @_lifetime(&self)
            mutating get {
                precondition(isWritable, "unsynchronizedMutableBytes of a read-only dma-buf mapping")
                let span = MutableRawSpan(_unsafeBytes: UnsafeMutableRawBufferPointer(start: base, count: count))
                return _overrideLifetime(span, mutating: &self)
            }
        }
    }
}
#endif  // os(Linux)
