#if os(Linux)
internal import CDMABuf
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemPackage

/// The owner of a sync_file: an fd that stands for one or more fences, signalled when the work
/// they track (a device's write to a buffer, say) is done.
///
/// Get one from a buffer (``DMABuffer/exportSyncFile(_:)``), a peer (a channel message's fence),
/// or a fence source such as vgem or sw_sync. Wait for it with ``wait(timeout:)`` or
/// ``wait()``; combine two with ``merge(with:name:)``; see its fences with ``info()``.
public struct SyncFile: ~Copyable, Sendable {
    private let owned: OwnedDescriptor

    /// Takes ownership of `descriptor` after checking that it is a sync_file (SYNC_IOC_FILE_INFO
    /// answers on it). Sets FD_CLOEXEC.
    ///
    /// - Throws: ``DMABufError/Code/notADMABuf`` if it is not a sync_file,
    ///   ``DMABufError/Code/badDescriptor`` if it is not open; the fd then stays the caller's.
    public init(adopting descriptor: FileDescriptor) throws(DMABufError) {
        try Self.verify(descriptor, operation: "adopt as sync_file")
        try Sys.setCloseOnExec(descriptor).get("adopt as sync_file: fcntl(F_SETFD)", on: Sys.name(descriptor))
        self.owned = OwnedDescriptor(descriptor)
    }

    /// Takes ownership without a check: for fds the kernel just made as sync_files, or the
    /// receive path checked.
    package init(owning descriptor: FileDescriptor) {
        self.owned = OwnedDescriptor(descriptor)
    }

    /// Throws unless `descriptor` is a sync_file. `operation` is made only for the error.
    package static func verify(_ descriptor: FileDescriptor, operation: @autoclosure () -> String) throws(DMABufError) {
        var info = sync_file_info()
        switch Sys.ioctl(descriptor, CDMABuf_SYNC_IOC_FILE_INFO(), &info) {
        case .success: return
        case .failure(.badFileDescriptor):
            throw DMABufError(
                errno: .badFileDescriptor, operation: operation(), target: Sys.name(descriptor),
                hint: "It is not an open file descriptor")
        case .failure(let error):
            throw DMABufError(
                .notADMABuf, errno: error, operation: operation(), target: Sys.name(descriptor),
                hint: "It is not a sync_file (SYNC_IOC_FILE_INFO refused it); every fd of the message was closed")
        }
    }

    /// Closes the fd, reporting failure.
    public consuming func close() throws(DMABufError) {
        let target = self.target
        try owned.close().get("close", on: target)
    }

    /// Gives up ownership: the caller closes the returned fd.
    public consuming func takeDescriptor() -> FileDescriptor {
        owned.take()
    }

    /// Calls `body` with the raw fd, for calls this type does not wrap. Don't close it.
    public borrowing func withUnsafeDescriptor<R, E: Error>(_ body: (FileDescriptor) throws(E) -> R) throws(E) -> R {
        try body(owned.rawValue)
    }

    /// A second owner of the same fences, through a new fd.
    public borrowing func duplicate() throws(DMABufError) -> SyncFile {
        SyncFile(owning: try Sys.duplicate(owned.rawValue).get("duplicate", on: target))
    }

    /// A new sync_file with the fences of both, signalled when both are (SYNC_IOC_MERGE).
    ///
    /// - Parameters:
    ///   - other: the second sync_file; it stays the caller's.
    ///   - name: the new sync_file's name, cut to 31 bytes.
    public borrowing func merge(with other: borrowing SyncFile, name: String = "merged") throws(DMABufError)
        -> SyncFile
    {
        var merge = sync_merge_data()
        withUnsafeMutableBytes(of: &merge.name) { DMABuffer.copyKernelName(name, into: $0) }
        merge.fd2 = other.withUnsafeDescriptor { $0.rawValue }
        merge.fence = -1
        let operation = "SYNC_IOC_MERGE with fd \(merge.fd2)"
        _ = try Sys.ioctl(owned.rawValue, CDMABuf_SYNC_IOC_MERGE(), &merge).get(operation, on: target)
        guard merge.fence >= 0 else {
            throw DMABufError(.badResponse, operation: operation, target: target, hint: "It returned no fd")
        }
        return SyncFile(owning: FileDescriptor(rawValue: merge.fence))
    }

    /// The sync_file's name and status, and each of its fences (SYNC_IOC_FILE_INFO).
    public borrowing func info() throws(DMABufError) -> Info {
        var info = sync_file_info()
        let operation = "SYNC_IOC_FILE_INFO"
        _ = try Sys.ioctl(owned.rawValue, CDMABuf_SYNC_IOC_FILE_INFO(), &info).get(operation, on: target)
        // Ask again with room for the fences it reported; a count that grew in between only
        // makes the kernel refuse with EINVAL, which is reported.
        var fences = [sync_fence_info](repeating: sync_fence_info(), count: Int(info.num_fences))
        if !fences.isEmpty {
            let count = info.num_fences
            info = sync_file_info()
            info.num_fences = count
            let descriptor = owned.rawValue
            let result = fences.withUnsafeMutableBytes { fenceBytes in
                info.sync_fence_info = UInt64(UInt(bitPattern: fenceBytes.baseAddress))
                return Sys.ioctl(descriptor, CDMABuf_SYNC_IOC_FILE_INFO(), &info)
            }
            _ = try result.get(operation, on: target)
        }
        return Info(
            name: Self.text(info.name), status: Status(info.status),
            fences: fences.prefix(Int(info.num_fences)).map { fence in
                Fence(
                    timelineName: Self.text(fence.obj_name), driverName: Self.text(fence.driver_name),
                    status: Status(fence.status),
                    timestamp: fence.status == 0 ? nil : .nanoseconds(Int64(clamping: fence.timestamp_ns)))
            })
    }

    /// Whether every fence has signalled (poll without waiting).
    public borrowing func isSignaled() throws(DMABufError) -> Bool {
        try wait(timeout: .zero)
    }

    /// Waits until every fence has signalled, or `timeout` (nil: no limit) has passed.
    ///
    /// - Returns: true once signalled (a fence signalled with an error counts: see ``info()``),
    ///   false at the timeout.
    @discardableResult
    public borrowing func wait(timeout: Duration?) throws(DMABufError) -> Bool {
        try Sys.poll(owned.rawValue, events: Int16(POLLIN), timeout: timeout).get("poll", on: target) != 0
    }

    /// Suspends until every fence has signalled, without blocking a thread. Cancelling the task
    /// ends the wait with `CancellationError`.
    public borrowing func wait() async throws {
        while try !isSignaled() {
            try await Readiness.wait(for: owned.rawValue)
        }
    }

    private var target: String { "sync_file fd \(owned.rawValue.rawValue)" }

    static func text<T>(_ chars: T) -> String {
        withUnsafeBytes(of: chars) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}

extension SyncFile {
    /// Where a fence, or a sync_file as a whole, stands.
    public enum Status: Hashable, Sendable, CustomStringConvertible {
        /// Not signalled yet.
        case active
        /// Signalled.
        case signaled
        /// Signalled with an error: the work failed or was cancelled.
        case failed(Errno)

        init(_ raw: Int32) {
            self = raw == 0 ? .active : raw > 0 ? .signaled : .failed(Errno(rawValue: -raw))
        }

        /// "active", "signaled", "failed (...)".
        public var description: String {
            switch self {
            case .active: "active"
            case .signaled: "signaled"
            case .failed(let errno): "failed (\(errno))"
            }
        }
    }

    /// One fence of a sync_file.
    public struct Fence: Hashable, Sendable {
        /// The fence's timeline ("vgem_fence"'s object, a sw_sync timeline's name).
        public var timelineName: String
        /// The driver behind it: "vgem", "sw_sync", ...
        public var driverName: String
        /// Whether it has signalled.
        public var status: Status
        /// When it signalled, on CLOCK_MONOTONIC; nil while active.
        public var timestamp: Duration?
    }

    /// What SYNC_IOC_FILE_INFO says.
    public struct Info: Hashable, Sendable {
        /// The sync_file's name.
        public var name: String
        /// Signalled once all fences are.
        public var status: Status
        /// Its fences.
        public var fences: [Fence]
    }
}
#endif  // os(Linux)
