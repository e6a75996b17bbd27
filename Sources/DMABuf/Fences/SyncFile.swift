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
public struct SyncFile: ~Copyable, Sendable, DescriptorOwner {
    /// The fd's ownership, which ``DescriptorOwner``'s methods use.
    public let _owned: OwnedDescriptor
    /// See ``DescriptorOwner``.
    public consuming func _releaseOwned() -> OwnedDescriptor { _owned }

    /// Takes ownership of `descriptor` after checking that it is a sync_file (SYNC_IOC_FILE_INFO
    /// answers on it). Sets FD_CLOEXEC. O_NONBLOCK makes no difference: waits use poll.
    ///
    /// - Throws: ``DMABufError/Code/notADMABuf`` if it is not a sync_file,
    ///   ``DMABufError/Code/badDescriptor`` if it is not open; the fd then stays the caller's, open.
    public init(adopting descriptor: FileDescriptor) throws(DMABufError) {
        let operation = "adopt as sync_file"
        self._owned = try OwnedDescriptor(adopting: descriptor, operation: operation) { (fd) throws(DMABufError) in
            try Self.verify(fd, operation: operation, afterwards: "the fd stays the caller's, open")
        }
    }

    /// Takes over the sync_file fd that `operation` on `target` returned (see
    /// ``OwnedDescriptor/returned(_:by:on:)``).
    package init(returned fd: CInt, by operation: @autoclosure () -> String, on target: @autoclosure () -> String)
        throws(DMABufError)
    {
        self._owned = OwnedDescriptor(try OwnedDescriptor.returned(fd, by: operation(), on: target()))
    }

    /// Takes ownership without a check: for fds the kernel just made as sync_files, or the
    /// receive path checked.
    package init(owning descriptor: FileDescriptor) {
        self._owned = OwnedDescriptor(descriptor)
    }

    /// Throws unless `descriptor` is a sync_file. `operation` is made only for the error, and
    /// `afterwards`, what became of the fd, ends its hint.
    package static func verify(
        _ descriptor: FileDescriptor, operation: @autoclosure () -> String, afterwards: @autoclosure () -> String
    ) throws(DMABufError) {
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
                hint: "It is not a sync_file (SYNC_IOC_FILE_INFO refused it); \(afterwards())")
        }
    }

    /// A second owner of the same fences, through a new fd.
    public borrowing func duplicate() throws(DMABufError) -> SyncFile {
        SyncFile(owning: try Sys.duplicate(_owned.rawValue).get("duplicate", on: target))
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
        _ = try Sys.ioctl(_owned.rawValue, CDMABuf_SYNC_IOC_MERGE(), &merge).get(operation, on: target)
        return try SyncFile(returned: merge.fence, by: operation, on: target)
    }

    /// The sync_file's name and status, and each of its fences (SYNC_IOC_FILE_INFO).
    public borrowing func info() throws(DMABufError) -> Info {
        var info = sync_file_info()
        let operation = "SYNC_IOC_FILE_INFO"
        _ = try Sys.ioctl(_owned.rawValue, CDMABuf_SYNC_IOC_FILE_INFO(), &info).get(operation, on: target)
        // Ask again with room for the fences it reported; a count that grew in between only
        // makes the kernel refuse with EINVAL, which is reported.
        var fences = [sync_fence_info](repeating: sync_fence_info(), count: Int(info.num_fences))
        if !fences.isEmpty {
            let count = info.num_fences
            info = sync_file_info()
            info.num_fences = count
            let descriptor = _owned.rawValue
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
        try Sys.poll(_owned.rawValue, events: Int16(POLLIN), until: Deadline(after: .zero)).get("poll", on: target) != 0
    }

    /// Waits until every fence has signalled (a fence signalled with an error counts: see
    /// ``info()``).
    ///
    /// - Parameter timeout: how long to wait at the most; nil waits without limit.
    /// - Throws: ``DMABufError/Code/timedOut`` when `timeout` passes first; poll's errors.
    public borrowing func wait(timeout: Duration?) throws(DMABufError) {
        try Readiness.block(
            on: _owned.rawValue, until: Deadline(after: timeout), operation: "wait for the fences", target: target)
    }

    /// Suspends until every fence has signalled, without blocking a thread.
    ///
    /// - Throws: ``DMABufError/Code/cancelled`` when the task is cancelled.
    public borrowing func wait() async throws(DMABufError) {
        try await Readiness.suspend(on: _owned.rawValue, operation: "wait for the fences", target: target)
    }

    private var target: String { "sync_file fd \(_owned.rawValue.rawValue)" }

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
