#if os(Linux)
internal import CDMABuf
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemPackage

/// The owner of a memfd: anonymous shared memory, the producer's side of a udmabuf
/// (``UDMABufDevice``). Writing it with ``write(_:at:)`` changes the dma-buf's bytes without
/// mapping anything.
///
/// ``init(name:size:seals:)`` makes one the way udmabuf wants it: MFD_ALLOW_SEALING, its size set, then
/// F_SEAL_SHRINK (so the pages under a dma-buf cannot go away), and no write seal.
public struct Memfd: ~Copyable, Sendable, DescriptorOwner {
    /// The fd's ownership, which ``DescriptorOwner``'s methods use.
    public let _owned: OwnedDescriptor
    /// See ``DescriptorOwner``.
    public consuming func _releaseOwned() -> OwnedDescriptor { _owned }
    /// Bytes in the memfd when it was made (or adopted).
    public let size: Int

    /// The seals udmabuf needs: F_SEAL_SHRINK.
    public static var sealsUDMABufNeeds: Seals { .shrink }
    /// The seals udmabuf refuses: F_SEAL_WRITE and F_SEAL_FUTURE_WRITE.
    public static var sealsUDMABufRefuses: Seals { [.write, .futureWrite] }

    /// A new memfd of `size` bytes (MFD_ALLOW_SEALING | MFD_CLOEXEC), sealed with F_SEAL_SHRINK.
    ///
    /// - Parameters:
    ///   - name: the name /proc shows (`/memfd:<name>`).
    ///   - size: bytes; 0 or more. udmabuf needs whole pages.
    ///   - seals: the seals to add; by default F_SEAL_SHRINK.
    /// - Throws: a ``DMABufError`` from memfd_create, ftruncate or F_ADD_SEALS.
    public init(name: String = "dmabuf", size: Int, seals: Seals = .shrink) throws(DMABufError) {
        let fd = try Sys.memfdCreate(name, flags: CDMABuf_MFD_ALLOW_SEALING()).get("memfd_create", on: name)
        let owned = OwnedDescriptor(fd)
        try Sys.truncate(fd, size: size).get("ftruncate to \(size) bytes", on: "memfd \(name)")
        if !seals.isEmpty {
            _ = try Sys.fcntl(fd, CDMABuf_F_ADD_SEALS(), seals.rawValue).get(
                "fcntl(F_ADD_SEALS, \(seals))", on: "memfd \(name)")
        }
        self._owned = owned
        self.size = size
    }

    /// Takes ownership of an fd that is a memfd (or another file udmabuf could take); reads its
    /// size and sets FD_CLOEXEC. O_NONBLOCK makes no difference to a memfd.
    ///
    /// - Throws: fstat's and fcntl's errors; the fd then stays the caller's, open.
    public init(adopting descriptor: FileDescriptor) throws(DMABufError) {
        var size = 0
        self._owned = try OwnedDescriptor(adopting: descriptor, operation: "adopt as memfd") {
            (fd) throws(DMABufError) in
            size = try Sys.stat(fd).map { Int($0.st_size) }.get("adopt as memfd: fstat", on: Sys.name(fd))
        }
        self.size = size
    }

    /// The seals the memfd has now (F_GET_SEALS).
    public func seals() throws(DMABufError) -> Seals {
        Seals(rawValue: try Sys.fcntl(_owned.rawValue, CDMABuf_F_GET_SEALS()).get("fcntl(F_GET_SEALS)", on: target))
    }

    /// Adds `seals` (F_ADD_SEALS). Seals can never be removed.
    public func addSeals(_ seals: Seals) throws(DMABufError) {
        _ = try Sys.fcntl(_owned.rawValue, CDMABuf_F_ADD_SEALS(), seals.rawValue).get(
            "fcntl(F_ADD_SEALS, \(seals))", on: target)
    }

    /// Writes `bytes` at `offset` (pwrite), all of them.
    ///
    /// - Throws: a ``DMABufError``: ``DMABufError/Code/invalidArgument`` for a negative offset or
    ///   one the bytes would run past Int.max from; ``DMABufError/Code/badResponse`` if the file
    ///   takes no bytes.
    public func write(_ bytes: some Collection<UInt8>, at offset: Int) throws(DMABufError) {
        let bytes = Array(bytes)
        try checkRange(count: bytes.count, at: offset, "pwrite")
        var written = 0
        let descriptor = _owned.rawValue
        while written < bytes.count {
            let count = try bytes[written...].withUnsafeBytes { Sys.write(descriptor, $0, at: offset + written) }
                .get("pwrite at \(offset + written)", on: target)
            guard count > 0 else {
                throw DMABufError(.badResponse, operation: "pwrite", target: target, hint: "The memfd took no bytes")
            }
            written += count
        }
    }

    /// Reads `count` bytes at `offset` (pread); fewer at the end of the file.
    ///
    /// - Throws: a ``DMABufError``: ``DMABufError/Code/invalidArgument`` for a negative count or
    ///   offset, or a range that runs past Int.max.
    public func read(count: Int, at offset: Int) throws(DMABufError) -> [UInt8] {
        try checkRange(count: count, at: offset, "pread")
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        let descriptor = _owned.rawValue
        while done < count {
            let n = try bytes.withUnsafeMutableBytes { buffer in
                Sys.read(descriptor, into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]), at: offset + done)
            }.get("pread at \(offset + done)", on: target)
            if n == 0 { break }
            done += n
        }
        return Array(bytes[..<done])
    }

    /// Refuses what pread and pwrite cannot take before an Array or the offset arithmetic traps.
    private func checkRange(count: Int, at offset: Int, _ call: String) throws(DMABufError) {
        guard count >= 0, offset >= 0, !offset.addingReportingOverflow(count).overflow else {
            throw DMABufError(
                .invalidArgument, operation: "\(call) \(count) bytes at \(offset)", target: target,
                hint: "The count and the offset must be 0 or more, and their sum must fit in an Int")
        }
    }

    private var target: String { "memfd fd \(_owned.rawValue.rawValue)" }
}

extension Memfd {
    /// A set of memfd seals (F_SEAL_*).
    public struct Seals: OptionSet, Hashable, Sendable, CustomStringConvertible {
        /// The F_SEAL_* bits.
        public var rawValue: CInt

        /// Seals from their bits.
        public init(rawValue: CInt) {
            self.rawValue = rawValue
        }

        /// F_SEAL_SEAL: no more seals can be added (what a memfd made without MFD_ALLOW_SEALING has).
        public static let seal = Seals(rawValue: CDMABuf_F_SEAL_SEAL())
        /// F_SEAL_SHRINK: the file cannot get smaller.
        public static let shrink = Seals(rawValue: CDMABuf_F_SEAL_SHRINK())
        /// F_SEAL_GROW: the file cannot get larger.
        public static let grow = Seals(rawValue: CDMABuf_F_SEAL_GROW())
        /// F_SEAL_WRITE: the file's contents cannot change.
        public static let write = Seals(rawValue: CDMABuf_F_SEAL_WRITE())
        /// F_SEAL_FUTURE_WRITE: no new writable mapping or write.
        public static let futureWrite = Seals(rawValue: CDMABuf_F_SEAL_FUTURE_WRITE())

        /// "F_SEAL_SHRINK|F_SEAL_WRITE", or "none".
        public var description: String {
            let names: [(Seals, String)] = [
                (.seal, "F_SEAL_SEAL"), (.shrink, "F_SEAL_SHRINK"), (.grow, "F_SEAL_GROW"),
                (.write, "F_SEAL_WRITE"), (.futureWrite, "F_SEAL_FUTURE_WRITE"),
            ]
            let present = names.filter { contains($0.0) }.map(\.1)
            return present.isEmpty ? "none" : present.joined(separator: "|")
        }
    }
}
#endif  // os(Linux)
