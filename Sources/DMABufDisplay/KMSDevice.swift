#if os(Linux)
internal import CDMABufDRM
import DMABuf
import DMABufDRM
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemPackage

/// An open KMS device (`/dev/dri/card*` of a driver with atomic modesetting): its connectors,
/// CRTCs and planes, dma-bufs imported as framebuffers, and atomic commits that put them on
/// the screen.
///
/// ```swift
/// let device = try KMSDevice.open(driver: "vkms")
/// let output = try device.output(width: 1280, height: 720)
/// let layout = try ImageLayout.packed(width: 1280, height: 720, format: .xrgb8888)
/// let framebuffer = try device.addFramebuffer(buffer, layout: layout)
/// try device.show(framebuffer, on: output)
/// ```
///
/// The device sets the client capabilities UNIVERSAL_PLANES, ATOMIC and WRITEBACK_CONNECTORS
/// when it opens. Its fd is opened with O_NONBLOCK, which changes only `read` of its event
/// queue (``nextFlip(timeout:)`` waits in the readiness engine instead).
///
/// Framebuffers, imports and property blobs keep a second fd of the same open file, so the
/// kernel's objects stay valid after the device value is closed, and each is released exactly
/// once, by the last owner: see ``KMSFramebuffer``.
public struct KMSDevice: ~Copyable, Sendable, DescriptorOwner {
    /// The fd's ownership, which ``DescriptorOwner``'s methods use.
    public let _owned: OwnedDescriptor
    /// See ``DescriptorOwner``.
    public consuming func _releaseOwned() -> OwnedDescriptor { _owned }
    /// The device's path.
    public let path: FilePath
    /// Whether ADDFB2 takes modifiers (DRM_CAP_ADDFB2_MODIFIERS).
    public let supportsModifiers: Bool
    /// The bookkeeping framebuffers, imports and blobs share with the device.
    let state: KMSState

    /// Opens the KMS device at `path` and enables atomic modesetting on it.
    ///
    /// - Throws: `.deviceMissing` if it does not exist, `.permissionDenied` without permission,
    ///   `.unsupported` (with a hint) if its driver has no atomic modesetting, such as a
    ///   render node or vgem.
    public init(path: FilePath) throws(DMABufError) {
        let owned = OwnedDescriptor(
            try Sys.open(path, O_RDWR | O_NONBLOCK).get(
                "open", on: path.string, hint: { $0 == .permissionDenied ? DeviceAccess.permissionHint(path) : nil }))
        let descriptor = owned.rawValue
        for (capability, name) in [
            (CDMABufDRM_DRM_CLIENT_CAP_UNIVERSAL_PLANES(), "UNIVERSAL_PLANES"),
            (CDMABufDRM_DRM_CLIENT_CAP_ATOMIC(), "ATOMIC"),
            (CDMABufDRM_DRM_CLIENT_CAP_WRITEBACK_CONNECTORS(), "WRITEBACK_CONNECTORS"),
        ] {
            var cap = drm_set_client_cap(capability: capability, value: 1)
            _ = try Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_SET_CLIENT_CAP(), &cap).get(
                "DRM_IOCTL_SET_CLIENT_CAP \(name)", on: path.string, code: { _ in .unsupported },
                hint: { _ in
                    "The device has no atomic modesetting (KMS): a render node, a driver without a display"
                        + " (vgem), or a legacy driver; open a /dev/dri/card* of a KMS driver such as vkms"
                })
        }
        var modifiers = drm_get_cap(capability: CDMABufDRM_DRM_CAP_ADDFB2_MODIFIERS(), value: 0)
        let hasModifiers = Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_GET_CAP(), &modifiers)
        let second = try Sys.duplicate(descriptor).get("fcntl(F_DUPFD_CLOEXEC)", on: path.string)
        self.state = KMSState(descriptor: second, path: path.string)
        self._owned = owned
        self.path = path
        self.supportsModifiers = (try? hasModifiers.get("")) != nil && modifiers.value == 1
    }

    /// The first `/dev/dri/card*` whose driver is `driver` ("vkms", "i915", ...) and that has
    /// atomic modesetting.
    ///
    /// - Throws: `.deviceMissing` naming what was found (no such driver, or a module to load).
    public static func open(driver: String) throws(DMABufError) -> KMSDevice {
        var refused: [String] = []
        var found: [String] = []
        for index in 0..<16 {
            let path = FilePath("/dev/dri/card\(index)")
            let name: String
            do {
                name = try DRMDevice(path: path).version().driverName
            } catch {
                if error.code == .permissionDenied { refused.append(path.string) }
                continue
            }
            found.append("\(path.string) (\(name))")
            if name == driver { return try KMSDevice(path: path) }
        }
        var hint = "No /dev/dri/card* of driver \(driver)"
        if let first = refused.first {
            hint += " that this process may open; " + DeviceAccess.permissionHint(FilePath(first))
        } else {
            if !found.isEmpty { hint += " among " + found.joined(separator: ", ") }
            hint += DeviceAccess.driverNotLoadedHint(driver)
        }
        throw DMABufError(
            .deviceMissing, operation: "find a KMS device of driver \(driver)", target: "/dev/dri", hint: hint)
    }

    var descriptor: FileDescriptor { _owned.rawValue }
}
#endif  // os(Linux)
