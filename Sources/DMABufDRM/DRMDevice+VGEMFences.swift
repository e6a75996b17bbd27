#if os(Linux)
internal import CDMABufDRM
import DMABuf
import SystemPackage

extension DRMDevice {
    /// A fence vgem made on one of its objects (``attachFence(to:write:)``), signalled by
    /// ``signalFence(_:)``; vgem also signals it by itself after about 10 seconds.
    public struct VGEMFence: RawRepresentable, Hashable, Sendable {
        /// vgem's id for the fence.
        public var rawValue: UInt32

        /// A fence id as vgem gave it.
        public init(rawValue: UInt32) {
            self.rawValue = rawValue
        }
    }

    /// Attaches a new unsignalled fence to object `handle` (DRM_IOCTL_VGEM_FENCE_ATTACH): the
    /// fences of its dma-buf now include it, so readers of the buffer (with `write`, an exclusive
    /// fence) or writers (without) wait until it signals. vgem only: real fences for tests.
    ///
    /// - Throws: ENOTTY on a DRM device that is not vgem; EBUSY if an exclusive fence is pending.
    public func attachFence(to handle: Handle, write: Bool) throws(DMABufError) -> VGEMFence {
        var fence: UInt32 = 0
        let descriptor = self.descriptor
        _ = try syscallForVGEM("DRM_IOCTL_VGEM_FENCE_ATTACH", descriptor) {
            CDMABufDRM_vgem_fence_attach(descriptor.rawValue, handle.rawValue, write ? 1 : 0, &fence)
        }.get("DRM_IOCTL_VGEM_FENCE_ATTACH on handle \(handle.rawValue)", on: path.string, hint: Self.vgemHint)
        return VGEMFence(rawValue: fence)
    }

    /// Signals `fence` (DRM_IOCTL_VGEM_FENCE_SIGNAL): waiters on it go on.
    ///
    /// - Throws: ENOENT for an unknown fence or one signalled already (vgem forgets it then);
    ///   ETIMEDOUT if vgem had signalled it on its own timeout.
    public func signalFence(_ fence: VGEMFence) throws(DMABufError) {
        let descriptor = self.descriptor
        _ = try syscallForVGEM("DRM_IOCTL_VGEM_FENCE_SIGNAL", descriptor) {
            CDMABufDRM_vgem_fence_signal(descriptor.rawValue, fence.rawValue)
        }.get("DRM_IOCTL_VGEM_FENCE_SIGNAL of fence \(fence.rawValue)", on: path.string, hint: Self.vgemHint)
    }

    private static func vgemHint(_ error: Errno) -> String? {
        error == .inappropriateIOCTLForDevice ? "Fences can be attached and signalled on vgem only" : nil
    }
}

/// The vgem ioctls run in C (vgem_drm.h is seen there only), through the library's one
/// syscall wrapper all the same.
private func syscallForVGEM(
    _ name: String, _ descriptor: FileDescriptor, _ body: () -> CInt
) -> Result<CInt, Errno> {
    syscall(SystemCallDescription("ioctl(\(name))", descriptor: descriptor.rawValue), body)
}
#endif  // os(Linux)
