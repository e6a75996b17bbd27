#if os(Linux)
internal import CDMABuf
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemPackage

/// Words for why a device node could not be opened, shared by every allocator and the source picker.
package enum DeviceAccess {
    /// "/dev/udmabuf: permission denied; it belongs to group kvm (mode 0660, owner root): run as root, or add
    /// the user to group kvm (usermod -aG kvm USER) and log in again". nil if the node cannot be stat'ed.
    package static func permissionHint(_ path: FilePath, udevSubsystem: String? = nil) -> String {
        guard case .success(let info) = stat(path) else {
            return "\(path): permission denied; run as root or ask for access to it"
        }
        let mode = "0" + String(info.st_mode & 0o7777, radix: 8)
        let group = groupName(info.st_gid) ?? "\(info.st_gid)"
        let owner = userName(info.st_uid) ?? "\(info.st_uid)"
        var text = "\(path.string): permission denied; it belongs to group \(group) (mode \(mode), owner \(owner))"
        if info.st_gid != 0, info.st_mode & 0o060 != 0 {
            text += ": run as root, or add the user to group \(group) (usermod -aG \(group) USER) and log in again"
        } else {
            text += ": run as root, or give a group access with a udev rule"
            if let udevSubsystem {
                text += " such as SUBSYSTEM==\"\(udevSubsystem)\", GROUP=\"video\", MODE=\"0660\""
            }
        }
        return text
    }

    /// `stat(path)`.
    package static func stat(_ path: FilePath) -> Result<Glibc.stat, Errno> {
        Sys.open(path, CDMABuf_O_PATH()).flatMap { fd in
            defer { _ = Sys.close(fd) }
            return Sys.stat(fd)
        }
    }

    /// Whether anything exists at `path` (`access(F_OK)`).
    package static func exists(_ path: FilePath) -> Bool {
        path.withPlatformString { cPath in syscall(SystemCallDescription("access")) { Glibc.access(cPath, F_OK) } }
            .map { _ in true }.get(or: false)
    }

    /// The name of group `gid` in /etc/group.
    package static func groupName(_ gid: Glibc.gid_t) -> String? { lookUp(gid, in: "/etc/group") }

    /// The name of user `uid` in /etc/passwd.
    package static func userName(_ uid: Glibc.uid_t) -> String? { lookUp(uid, in: "/etc/passwd") }

    private static func lookUp(_ id: UInt32, in file: FilePath) -> String? {
        guard case .success(let bytes) = Sys.readFile(file) else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            if fields.count > 2, UInt32(fields[2]) == id { return String(fields[0]) }
        }
        return nil
    }

    /// The running kernel's release (`uname -r`).
    package static var kernelRelease: String {
        var names = utsname()
        guard uname(&names) == 0 else { return "" }
        return withUnsafeBytes(of: &names.release) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// Whether the running kernel was built with `option` ("CONFIG_DMABUF_HEAPS_CMA"), as
    /// `/boot/config-<release>` says: nil where that file cannot be read.
    package static func kernelConfig(_ option: String) -> Bool? {
        guard case .success(let bytes) = Sys.readFile(FilePath("/boot/config-\(kernelRelease)")) else { return nil }
        return configValue(option, in: String(decoding: bytes, as: UTF8.self))
    }

    /// Whether a kernel config's text sets `option` to y or m (false when it says "is not set" or
    /// does not mention it).
    package static func configValue(_ option: String, in text: String) -> Bool {
        text.split(separator: "\n").contains { $0 == "\(option)=y" || $0 == "\(option)=m" }
    }

    /// What to say when no device of kernel driver `driver` was found and none was refused:
    /// "; its kernel module is not loaded (modprobe ...)" where the kernel has it as a module, a
    /// question otherwise (built without it, or built in and absent).
    package static func driverNotLoadedHint(_ driver: String) -> String {
        hasLoadableModule(driver)
            ? "; its kernel module is not loaded (modprobe \(driver))"
            : "; is its kernel module loaded (modprobe \(driver)), or is the kernel built without it?"
    }

    /// Whether the running kernel has `name` as a loadable module (listed in modules.dep), so that
    /// `modprobe name` would bring it in; false when it is built in or absent.
    package static func hasLoadableModule(_ name: String) -> Bool {
        guard case .success(let bytes) = Sys.readFile(FilePath("/lib/modules/\(kernelRelease)/modules.dep")) else {
            return false
        }
        let needle = "/\(name).ko"
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").contains { line in
            guard let colon = line.firstIndex(of: ":") else { return false }
            let path = line[..<colon]
            return path.hasSuffix(needle) || path.contains(needle + ".")
        }
    }
}

extension Result {
    fileprivate func get(or fallback: Success) -> Success {
        if case .success(let value) = self { value } else { fallback }
    }
}
#endif  // os(Linux)
