#if os(Linux)
internal import CDMABufDRM
import DMABuf
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemPackage

/// An open DRM device (`/dev/dri/card*` or `/dev/dri/renderD*`): GEM buffers and their
/// exchange with dma-bufs (PRIME).
///
/// ```swift
/// let vgem = try DRMDevice.open(driver: "vgem")
/// let dumb = try vgem.createDumbBuffer(width: 64, height: 64)
/// let buffer = try vgem.exportBuffer(dumb.handle)        // a DMABuffer, exporter "drm"
/// try vgem.closeHandle(dumb.handle)                     // the dma-buf keeps the object alive
/// ```
///
/// As a `DMABufAllocator` it hands out dumb buffers exported through PRIME.
public struct DRMDevice: ~Copyable, Sendable, DescriptorOwner, DMABufAllocator {
    /// The exporter name of dma-bufs a DRM driver exports through PRIME (fdinfo `exp_name`).
    public static let primeExporterName = "drm"

    /// The fd's ownership, which ``DescriptorOwner``'s methods use.
    public let _owned: OwnedDescriptor
    /// See ``DescriptorOwner``.
    public consuming func _releaseOwned() -> OwnedDescriptor { _owned }
    var descriptor: FileDescriptor { _owned.rawValue }
    /// The device's path.
    public let path: FilePath

    /// Opens the DRM device at `path`.
    ///
    /// - Throws: `.deviceMissing` if it does not exist,
    ///   `.permissionDenied` without permission.
    public init(path: FilePath, accessMode: FileDescriptor.AccessMode = .readWrite) throws(DMABufError) {
        self._owned = OwnedDescriptor(try Sys.open(path, accessMode.rawValue).get("open", on: path.string))
        self.path = path
    }

    /// The first device node under `/dev/dri` (card0...card15, then renderD128...renderD143)
    /// whose kernel driver is `driver` ("vgem", "i915", ...).
    ///
    /// - Throws: `.deviceMissing` if there is none.
    public static func open(driver: String) throws(DMABufError) -> DRMDevice {
        let candidates = (0..<16).map { "/dev/dri/card\($0)" } + (128..<144).map { "/dev/dri/renderD\($0)" }
        var refused: [String] = []
        for candidate in candidates {
            let device: DRMDevice
            do {
                device = try DRMDevice(path: FilePath(candidate))
            } catch {
                if error.code == .permissionDenied { refused.append(candidate) }
                continue
            }
            if (try? device.version().driverName) == driver { return device }
        }
        var hint = "No DRM device of driver \(driver) under /dev/dri"
        if let first = refused.first {
            hint +=
                " that this process may open; \(refused.count) could not be opened: "
                + DeviceAccess.permissionHint(FilePath(first))
        } else {
            hint += DeviceAccess.driverNotLoadedHint(driver)
        }
        throw DMABufError(
            .deviceMissing, operation: "find a DRM device of driver \(driver)", target: "/dev/dri", hint: hint)
    }

    /// The driver's name and version (DRM_IOCTL_VERSION).
    public func version() throws(DMABufError) -> Version {
        var name = [CChar](repeating: 0, count: 64)
        var date = [CChar](repeating: 0, count: 64)
        var description = [CChar](repeating: 0, count: 256)
        var version = drm_version()
        let descriptor = self.descriptor
        let result = name.withUnsafeMutableBufferPointer { name in
            date.withUnsafeMutableBufferPointer { date in
                description.withUnsafeMutableBufferPointer { description in
                    version.name = name.baseAddress
                    version.name_len = UInt(name.count - 1)
                    version.date = date.baseAddress
                    version.date_len = UInt(date.count - 1)
                    version.desc = description.baseAddress
                    version.desc_len = UInt(description.count - 1)
                    return Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_VERSION(), &version)
                }
            }
        }
        _ = try result.get("DRM_IOCTL_VERSION", on: path.string)
        func text(_ bytes: [CChar], _ length: UInt) -> String {
            String(
                decoding: bytes.prefix(Int(min(length, UInt(bytes.count - 1)))).map { UInt8(bitPattern: $0) },
                as: UTF8.self)
        }
        return Version(
            driverName: text(name, version.name_len), major: Int(version.version_major),
            minor: Int(version.version_minor), patchLevel: Int(version.version_patchlevel),
            date: text(date, version.date_len), description: text(description, version.desc_len))
    }

    /// A dumb buffer (DRM_IOCTL_MODE_CREATE_DUMB): `width` x `height` pixels of `bitsPerPixel`,
    /// zero-filled, that the CPU can map.
    public func createDumbBuffer(
        width: UInt32, height: UInt32, bitsPerPixel: UInt32 = 32
    ) throws(DMABufError) -> DumbBuffer {
        var create = drm_mode_create_dumb()
        (create.width, create.height, create.bpp) = (width, height, bitsPerPixel)
        _ = try Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_MODE_CREATE_DUMB(), &create)
            .get("DRM_IOCTL_MODE_CREATE_DUMB \(width)x\(height)x\(bitsPerPixel)", on: path.string)
        do throws(DMABufError) {
            return try DumbBuffer(
                handle: create.handle, width: width, height: height, bitsPerPixel: bitsPerPixel, pitch: create.pitch,
                size: create.size, device: path.string)
        } catch {
            // The object lives until its handle is closed: a refused answer must not leave it.
            try? closeHandle(Handle(rawValue: create.handle))
            throw error
        }
    }

    /// Exports the GEM object `handle` as a dma-buf (DRM_IOCTL_PRIME_HANDLE_TO_FD).
    ///
    /// - Parameters:
    ///   - handle: the object's GEM handle on this device.
    ///   - accessMode: `.readWrite` (DRM_RDWR) or `.readOnly`.
    public func exportBuffer(
        _ handle: Handle, accessMode: FileDescriptor.AccessMode = .readWrite
    ) throws(DMABufError) -> DMABuffer {
        let operation = "DRM_IOCTL_PRIME_HANDLE_TO_FD"
        var prime = drm_prime_handle()
        prime.handle = handle.rawValue
        prime.flags = CDMABufDRM_DRM_CLOEXEC() | (accessMode == .readWrite ? CDMABufDRM_DRM_RDWR() : 0)
        prime.fd = -1
        _ = try Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_PRIME_HANDLE_TO_FD(), &prime)
            .get(operation, on: path.string)
        // DRM_CLOEXEC; the access mode is read back, as drivers may ignore DRM_RDWR.
        return try DMABuffer(
            returned: prime.fd, by: operation, on: path.string, accessMode: nil, closeOnExecIsSet: true)
    }

    /// Imports `buffer` into the device (DRM_IOCTL_PRIME_FD_TO_HANDLE): the GEM handle of the
    /// device's object for it. Importing a dma-buf the device exported gives back its own object.
    public func importBuffer(_ buffer: borrowing DMABuffer) throws(DMABufError) -> Handle {
        var prime = drm_prime_handle()
        prime.fd = buffer.withUnsafeDescriptor { $0.rawValue }
        _ = try Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_PRIME_FD_TO_HANDLE(), &prime)
            .get("DRM_IOCTL_PRIME_FD_TO_HANDLE of fd \(prime.fd)", on: path.string)
        return Handle(rawValue: prime.handle)
    }

    /// A new zero-filled, read-write dma-buf of `size` bytes rounded up to whole pages: a dumb
    /// buffer one page wide at 32 bits per pixel, exported through PRIME, its handle closed again.
    ///
    /// - Parameters:
    ///   - size: bytes wanted; 1 or more.
    ///   - name: the buffer's name (DMA_BUF_SET_NAME), or nil.
    /// - Throws: as ``allocate(size:name:accessMode:)``.
    public func allocate(size: Int, name: String?) throws(DMABufError) -> DMABuffer {
        try allocate(size: size, name: name, accessMode: .readWrite)
    }

    /// A new zero-filled dma-buf of `size` bytes rounded up to whole pages, with an fd of
    /// `accessMode`: a dumb buffer exported through PRIME, its GEM handle closed again (the
    /// dma-buf keeps the object alive).
    ///
    /// - Parameters:
    ///   - size: bytes wanted; 1 or more.
    ///   - name: the buffer's name (DMA_BUF_SET_NAME), or nil.
    ///   - accessMode: `.readWrite` or `.readOnly`.
    /// - Throws: `.invalidArgument` for a size below 1 or one too large for a dumb buffer; the
    ///   ioctls' errors.
    public func allocate(
        size: Int, name: String? = nil, accessMode: FileDescriptor.AccessMode
    ) throws(DMABufError) -> DMABuffer {
        let operation = "allocate a dumb buffer"
        try AllocationRequest.check(size: size, operation: operation, target: path.string)
        let page = Sys.pageSize
        let rows = size / page + (size % page == 0 ? 0 : 1)
        guard let height = UInt32(exactly: rows) else {
            throw DMABufError(
                .invalidArgument, operation: operation, target: path.string, hint: "The size \(size) is too large")
        }
        let dumb = try createDumbBuffer(width: UInt32(page / 4), height: height, bitsPerPixel: 32)
        let exported: DMABuffer
        do {
            exported = try exportBuffer(dumb.handle, accessMode: accessMode)
        } catch {
            try? closeHandle(dumb.handle)
            throw error
        }
        try closeHandle(dumb.handle)
        if let name { try exported.setName(name) }
        return exported
    }

    /// Releases a GEM handle (DRM_IOCTL_GEM_CLOSE). Dma-bufs exported from it stay valid.
    public func closeHandle(_ handle: Handle) throws(DMABufError) {
        var close = drm_gem_close()
        close.handle = handle.rawValue
        _ = try Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_GEM_CLOSE(), &close)
            .get("DRM_IOCTL_GEM_CLOSE of handle \(handle.rawValue)", on: path.string)
    }
}

extension DRMDevice {
    /// A GEM handle: the device file's name for one buffer object.
    public struct Handle: RawRepresentable, Hashable, Sendable {
        /// The handle number.
        public var rawValue: UInt32

        /// A handle from its number.
        public init(rawValue: UInt32) {
            self.rawValue = rawValue
        }
    }

    /// A dumb buffer: its handle and layout.
    public struct DumbBuffer: Hashable, Sendable {
        /// The GEM handle.
        public var handle: Handle
        /// Width in pixels.
        public var width: UInt32
        /// Height in pixels.
        public var height: UInt32
        /// Bits per pixel.
        public var bitsPerPixel: UInt32
        /// Bytes from one row to the next.
        public var pitch: Int
        /// Bytes in the buffer.
        public var size: Int

        /// The buffer DRM_IOCTL_MODE_CREATE_DUMB describes: its answer is the driver's, and a size
        /// that does not fit in an Int is refused.
        package init(
            handle: UInt32, width: UInt32, height: UInt32, bitsPerPixel: UInt32, pitch: UInt32, size: UInt64,
            device: String
        ) throws(DMABufError) {
            guard let bytes = Int(exactly: size) else {
                throw DMABufError(
                    .badResponse, operation: "DRM_IOCTL_MODE_CREATE_DUMB \(width)x\(height)x\(bitsPerPixel)",
                    target: device, hint: "The driver made a buffer of \(size) bytes, more than an Int holds")
            }
            (self.handle, self.width, self.height, self.bitsPerPixel) = (
                Handle(rawValue: handle), width, height, bitsPerPixel
            )
            (self.pitch, self.size) = (Int(pitch), bytes)
        }
    }

    /// What DRM_IOCTL_VERSION says about the driver.
    public struct Version: Hashable, Sendable {
        /// The driver's name: "vgem", "i915", "amdgpu", ...
        public var driverName: String
        /// The driver's major version.
        public var major: Int
        /// The driver's minor version.
        public var minor: Int
        /// The driver's patch level.
        public var patchLevel: Int
        /// The driver's date, as it gives it.
        public var date: String
        /// The driver's description.
        public var description: String
    }
}
#endif  // os(Linux)
