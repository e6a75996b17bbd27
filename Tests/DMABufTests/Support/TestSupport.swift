import CDMABuf
import Glibc
import SystemPackage
import Testing

@testable import DMABuf

/// Every suite nests in this one, so that the tests run one at a time: several count the open
/// fds of the process, and the device tests change module parameters and send signals.
@Suite(.serialized)
struct DMABufTests {}

// MARK: Where device tests run

enum TestEnvironment {
    /// Set by the VM runner: the devices must be there, so device tests run (and fail) without them.
    static let requiresDevices = getenv("DMABUF_VM").map { String(cString: $0) } == "1"

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
}

extension Trait where Self == ConditionTrait {
    /// Runs where /dev/dmabuf_exporter exists, and always where DMABUF_VM=1.
    static var exporterDevice: Self {
        .enabled(
            if: TestEnvironment.requiresDevices || TestEnvironment.exists(DMABufExporter.defaultPath),
            "needs \(DMABufExporter.defaultPath); DMABUF_VM=1 makes its absence a failure")
    }

    /// Runs where a vgem DRM device exists, and always where DMABUF_VM=1.
    static var vgemDevice: Self {
        .enabled(
            if: TestEnvironment.requiresDevices || VGEM.devicePath() != nil,
            "needs a vgem DRM device (modprobe vgem); DMABUF_VM=1 makes its absence a failure")
    }
}

// MARK: File descriptors

/// A memfd of `size` bytes; read-only if `readOnly` (reopened O_RDONLY through /proc).
func makeMemfd(size: Int, readOnly: Bool = false) throws -> FileDescriptor {
    let fd = try syscall { CDMABuf_memfd_create("dmabuf-test", UInt32(MFD_CLOEXEC)) }.get("memfd_create")
    _ = try syscall { ftruncate(fd, off_t(size)) }.get("ftruncate")
    guard readOnly else { return FileDescriptor(rawValue: fd) }
    defer { close(fd) }
    return try Sys.open("/proc/self/fd/\(fd)", O_RDONLY).get("reopen read-only")
}

/// How many fds the process has open.
func openDescriptorCount() -> Int {
    guard let directory = opendir("/proc/self/fd") else { return -1 }
    defer { closedir(directory) }
    var count = 0
    while readdir(directory) != nil { count += 1 }
    return count
}

func isOpen(_ fd: FileDescriptor) -> Bool {
    fcntl(fd.rawValue, F_GETFD) != -1
}

/// Runs `body` and expects it to throw a `DMABufError` with `errno`; returns the error.
@discardableResult
func expectError<R: ~Copyable>(
    _ errno: Errno, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> R
) -> DMABufError? {
    do {
        _ = try body()
        Issue.record("expected \(errno), got success", sourceLocation: sourceLocation)
    } catch let error as DMABufError {
        #expect(error.errno == errno, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected DMABufError \(errno), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// The bytes up to the first NUL, as UTF-8.
func cString(_ bytes: UnsafeRawBufferPointer) -> String {
    String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
}
