import CDMABuf
import Glibc
import SystemPackage

@testable import DMABuf

/// A vgem DRM device (the kernel's virtual GEM driver), to get dma-bufs from another exporter.
struct VGEM: ~Copyable {
    private let owned: OwnedDescriptor
    let path: String

    /// The first /dev/dri/card* whose driver is vgem.
    static func devicePath() -> String? {
        (0..<16).lazy.map { "/dev/dri/card\($0)" }.first { path in
            guard case .success(let fd) = Sys.open(path, O_RDWR) else { return false }
            defer { _ = Sys.close(fd) }
            return (try? driverName(fd)) == "vgem"
        }
    }

    init() throws {
        guard let path = Self.devicePath() else {
            throw DMABufError(.noSuchFileOrDirectory, operation: "find vgem", target: "/dev/dri", hint: "Load it: modprobe vgem")
        }
        self.owned = OwnedDescriptor(try Sys.open(path, O_RDWR).get("open", on: path))
        self.path = path
    }

    /// DRM_IOCTL_VERSION's driver name.
    static func driverName(_ fd: FileDescriptor) throws(DMABufError) -> String {
        var name = [CChar](repeating: 0, count: 64)
        let result = name.withUnsafeMutableBufferPointer { name in
            var version = drm_version()
            version.name = name.baseAddress
            version.name_len = UInt(name.count - 1)
            return Sys.ioctl(fd, CDMABuf_DRM_IOCTL_VERSION(), &version)
        }
        _ = try result.get("DRM_IOCTL_VERSION")
        return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A dumb buffer of `width` x `height` 32-bit pixels, exported as a dma-buf fd (the caller's).
    func exportDumbBuffer(width: UInt32, height: UInt32) throws(DMABufError) -> (fd: FileDescriptor, size: Int) {
        let device = owned.rawValue
        var create = drm_mode_create_dumb()
        (create.width, create.height, create.bpp) = (width, height, 32)
        _ = try Sys.ioctl(device, CDMABuf_DRM_IOCTL_MODE_CREATE_DUMB(), &create).get("MODE_CREATE_DUMB", on: path)
        defer {
            var close = drm_gem_close()
            close.handle = create.handle
            _ = Sys.ioctl(device, CDMABuf_DRM_IOCTL_GEM_CLOSE(), &close)
        }
        var prime = drm_prime_handle()
        (prime.handle, prime.flags, prime.fd) = (create.handle, CDMABuf_DRM_CLOEXEC() | CDMABuf_DRM_RDWR(), -1)
        _ = try Sys.ioctl(device, CDMABuf_DRM_IOCTL_PRIME_HANDLE_TO_FD(), &prime).get("PRIME_HANDLE_TO_FD", on: path)
        return (FileDescriptor(rawValue: prime.fd), Int(create.size))
    }
}
