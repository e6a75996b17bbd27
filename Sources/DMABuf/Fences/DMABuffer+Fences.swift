#if os(Linux)
internal import CDMABuf
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemPackage

extension DMABuffer {
    /// Which of a buffer's implicit fences a fence operation is about.
    public struct FenceAccess: Hashable, Sendable, CustomStringConvertible {
        let syncFlags: UInt64
        let event: Readiness.Event

        /// Reading the buffer: wait for its writers, the exclusive fences (DMA_BUF_SYNC_READ,
        /// POLLIN).
        public static let read = FenceAccess(syncFlags: CDMABuf_DMA_BUF_SYNC_READ(), event: .readable)
        /// Writing the buffer: wait for every fence, readers' too (DMA_BUF_SYNC_WRITE, POLLOUT).
        public static let write = FenceAccess(syncFlags: CDMABuf_DMA_BUF_SYNC_WRITE(), event: .writable)

        /// "READ" or "WRITE".
        public var description: String { self == .read ? "READ" : "WRITE" }
    }

    /// The buffer's current fences for `access` as a sync_file (DMA_BUF_IOCTL_EXPORT_SYNC_FILE):
    /// for `.read`, what a reader must wait for (the writers); for `.write`, every fence.
    ///
    /// - Throws: ``DMABufError/Code/unsupported`` (ENOTTY) on kernels before 6.0; the ioctl's
    ///   other errors.
    public borrowing func exportSyncFile(_ access: FenceAccess) throws(DMABufError) -> SyncFile {
        var export = dma_buf_export_sync_file(flags: UInt32(access.syncFlags), fd: -1)
        let operation = "DMA_BUF_IOCTL_EXPORT_SYNC_FILE(\(access))"
        _ = try withUnsafeDescriptor { (fd) throws(DMABufError) in
            try Sys.ioctl(fd, CDMABuf_DMA_BUF_IOCTL_EXPORT_SYNC_FILE(), &export).get(
                operation, on: fenceTarget(fd), hint: Self.syncFileHint)
        }
        return try SyncFile(returned: export.fd, by: operation, on: withUnsafeDescriptor { fenceTarget($0) })
    }

    /// Adds `fence` to the buffer's implicit fences for `access` (DMA_BUF_IOCTL_IMPORT_SYNC_FILE):
    /// with `.write` it becomes the exclusive fence that readers wait for. The sync_file stays
    /// the caller's.
    public borrowing func importSyncFile(_ fence: borrowing SyncFile, _ access: FenceAccess) throws(DMABufError) {
        var request = dma_buf_import_sync_file(
            flags: UInt32(access.syncFlags), fd: fence.withUnsafeDescriptor { $0.rawValue })
        _ = try withUnsafeDescriptor { (fd) throws(DMABufError) in
            try Sys.ioctl(fd, CDMABuf_DMA_BUF_IOCTL_IMPORT_SYNC_FILE(), &request).get(
                "DMA_BUF_IOCTL_IMPORT_SYNC_FILE(\(access)) of fd \(request.fd)", on: fenceTarget(fd),
                hint: Self.syncFileHint)
        }
    }

    /// Whether the kernel has DMA_BUF_IOCTL_EXPORT/IMPORT_SYNC_FILE: the probe asks EXPORT with
    /// flags 0, which a kernel with the ioctl refuses with EINVAL and one without with ENOTTY.
    ///
    /// - Throws: any other answer, as a ``DMABufError``.
    public borrowing func supportsSyncFileExport() throws(DMABufError) -> Bool {
        var export = dma_buf_export_sync_file(flags: 0, fd: -1)
        let result = withUnsafeDescriptor { fd in Sys.ioctl(fd, CDMABuf_DMA_BUF_IOCTL_EXPORT_SYNC_FILE(), &export) }
        switch result {
        case .failure(.invalidArgument): return true
        case .failure(.inappropriateIOCTLForDevice): return false
        case .failure(let error):
            throw DMABufError(
                errno: error, operation: "probe DMA_BUF_IOCTL_EXPORT_SYNC_FILE with flags 0",
                target: withUnsafeDescriptor { fenceTarget($0) })
        case .success:
            if export.fd >= 0 { _ = Sys.close(FileDescriptor(rawValue: export.fd)) }
            throw DMABufError(
                .badResponse, operation: "probe DMA_BUF_IOCTL_EXPORT_SYNC_FILE with flags 0",
                target: withUnsafeDescriptor { fenceTarget($0) },
                hint: "The kernel accepted flags 0, which it should refuse with EINVAL")
        }
    }

    /// Waits until the buffer's implicit fences for `access` have signalled: `poll` on the
    /// dma-buf fd, POLLIN for `.read`, POLLOUT for `.write`.
    ///
    /// - Parameters:
    ///   - access: which fences: `.read` waits for the writers, `.write` for every fence.
    ///   - timeout: how long to wait at the most; nil waits without limit.
    /// - Throws: ``DMABufError/Code/timedOut`` when `timeout` passes first; poll's errors.
    public borrowing func waitForFences(_ access: FenceAccess, timeout: Duration?) throws(DMABufError) {
        try withUnsafeDescriptor { (fd) throws(DMABufError) in
            try Readiness.block(
                on: fd, access.event, until: Deadline(after: timeout), operation: "wait for the \(access) fences",
                target: fenceTarget(fd))
        }
    }

    /// Suspends until the buffer's implicit fences for `access` have signalled, without blocking
    /// a thread.
    ///
    /// - Throws: ``DMABufError/Code/cancelled`` when the task is cancelled.
    public borrowing func waitForFences(_ access: FenceAccess) async throws(DMABufError) {
        let fd = withUnsafeDescriptor { $0 }
        try await Readiness.suspend(
            on: fd, access.event, operation: "wait for the \(access) fences", target: fenceTarget(fd))
    }

    private static func syncFileHint(_ error: Errno) -> String? {
        error == .inappropriateIOCTLForDevice
            ? "The kernel has no sync_file export/import for dma-bufs (it came in Linux 6.0)" : nil
    }
}

private func fenceTarget(_ fd: FileDescriptor) -> String { "dma-buf fd \(fd.rawValue)" }
#endif  // os(Linux)
