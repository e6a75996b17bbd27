#if os(Linux)
internal import CDMABuf
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemPackage

/// A software fence timeline (sw_sync), for tests: fences on it signal when the timeline's
/// counter reaches their value, which only ``advance(by:)`` moves. Kernels built with
/// CONFIG_SW_SYNC have it in debugfs; Debian's stock kernels do not.
///
/// Closing the timeline signals its pending fences with an error.
package struct SoftwareSyncTimeline: ~Copyable, Sendable {
    private let owned: OwnedDescriptor
    /// The debugfs file it was opened from.
    package let path: FilePath

    /// Where sw_sync lives when debugfs is mounted.
    package static let defaultPath: FilePath = "/sys/kernel/debug/sync/sw_sync"

    /// Opens a new timeline (each open is one), counter at 0.
    ///
    /// - Throws: ``DMABufError/Code/deviceMissing`` where the kernel has no sw_sync or debugfs is
    ///   not mounted.
    package init(path: FilePath = SoftwareSyncTimeline.defaultPath) throws(DMABufError) {
        let descriptor = try Sys.open(path, O_RDWR).get(
            "open", on: path.string,
            hint: {
                $0 == .noSuchFileOrDirectory
                    ? "The kernel has no sw_sync (CONFIG_SW_SYNC), or debugfs is not mounted at /sys/kernel/debug" : nil
            })
        self.owned = OwnedDescriptor(descriptor)
        self.path = path
    }

    /// A new fence that signals when the counter reaches `value` (SW_SYNC_IOC_CREATE_FENCE).
    ///
    /// - Parameters:
    ///   - value: the counter value at which it signals.
    ///   - name: the fence's name, cut to 31 bytes.
    package borrowing func makeFence(at value: UInt32, name: String = "dmabuf") throws(DMABufError) -> SyncFile {
        var create = sw_sync_create_fence_data()
        create.value = value
        create.fence = -1
        withUnsafeMutableBytes(of: &create.name) { DMABuffer.copyKernelName(name, into: $0) }
        let operation = "SW_SYNC_IOC_CREATE_FENCE at \(value)"
        _ = try Sys.ioctl(owned.rawValue, CDMABuf_SW_SYNC_IOC_CREATE_FENCE(), &create).get(operation, on: path.string)
        guard create.fence >= 0 else {
            throw DMABufError(.badResponse, operation: operation, target: path.string, hint: "It returned no fd")
        }
        return SyncFile(owning: FileDescriptor(rawValue: create.fence))
    }

    /// Moves the counter on by `steps` (SW_SYNC_IOC_INC), signalling the fences it passes.
    package borrowing func advance(by steps: UInt32 = 1) throws(DMABufError) {
        var steps = steps
        _ = try Sys.ioctl(owned.rawValue, CDMABuf_SW_SYNC_IOC_INC(), &steps).get(
            "SW_SYNC_IOC_INC by \(steps)", on: path.string)
    }

    /// Closes the timeline, reporting failure.
    package consuming func close() throws(DMABufError) {
        let path = self.path
        try owned.close().get("close", on: path.string)
    }
}
#endif  // os(Linux)
