internal import CDMABuf
import DMABuf
import DMABufDRM
import DMABufExporterClient
import Glibc
import SystemPackage
import Testing

// MARK: Where device tests run

/// Where the tests run: the host, or a VM with the devices.
package enum TestEnvironment {
    /// Set by the VM runner: the devices must be there, so device tests run (and fail) without them.
    package static let requiresDevices = getenv("DMABUF_VM").map { String(cString: $0) } == "1"

    /// Set by hand (DMABUF_HOST_DEVICES=1) to run the device tests on the host, against the devices
    /// and modules it already has. Without it, or DMABUF_VM=1, the tests touch no device of the
    /// host's and load no module.
    package static let usesHostDevices = getenv("DMABUF_HOST_DEVICES").map { String(cString: $0) } == "1"

    package static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
}

extension Trait where Self == ConditionTrait {
    /// Runs where DMABUF_VM=1, and on a host with /dev/dmabuf_exporter that DMABUF_HOST_DEVICES=1 lends.
    package static var exporterDevice: Self {
        .enabled(
            if: TestEnvironment.requiresDevices
                || (TestEnvironment.usesHostDevices && TestEnvironment.exists(DMABufExporter.defaultPath.string)),
            "needs \(DMABufExporter.defaultPath): runs in the VM (DMABUF_VM=1), or on the host with DMABUF_HOST_DEVICES=1"
        )
    }

    /// Runs where DMABUF_VM=1, and on a host with a vgem device that DMABUF_HOST_DEVICES=1 lends.
    package static var vgemDevice: Self {
        .enabled(
            if: TestEnvironment.requiresDevices
                || (TestEnvironment.usesHostDevices && (try? DRMDevice.open(driver: "vgem")) != nil),
            "needs a vgem DRM device: runs in the VM (DMABUF_VM=1), or on the host with DMABUF_HOST_DEVICES=1")
    }
}

// MARK: File descriptors

/// A memfd of `size` bytes, opened with `accessMode` (other modes reopen it through /proc).
package func makeMemfd(size: Int, accessMode: FileDescriptor.AccessMode = .readWrite) throws -> FileDescriptor {
    let fd = CDMABuf_memfd_create("dmabuf-test", UInt32(MFD_CLOEXEC))
    guard fd >= 0 else { throw Errno(rawValue: errno) }
    guard ftruncate(fd, off_t(size)) == 0 else { throw Errno(rawValue: errno) }
    guard accessMode != .readWrite else { return FileDescriptor(rawValue: fd) }
    defer { Glibc.close(fd) }
    return try FileDescriptor.open("/proc/self/fd/\(fd)", accessMode, options: .closeOnExec)
}

/// A `DMABuffer` over a memfd, which the library does not take for a dma-buf: for tests of
/// ownership and mapping that need no device.
package func memfdBuffer(size: Int, accessMode: FileDescriptor.AccessMode = .readWrite) throws -> DMABuffer {
    let fd = try makeMemfd(size: size, accessMode: accessMode)
    do {
        return try DMABuffer(trusting: fd)
    } catch {
        try? fd.close()
        throw error
    }
}

package func isOpen(_ fd: FileDescriptor) -> Bool {
    fcntl(fd.rawValue, F_GETFD) != -1
}

/// The lowest fd number no open can return: the hard RLIMIT_NOFILE (or above, if that is
/// infinite). Tests that close fds that are not open use these, never numbers that were open a
/// moment ago: another test's open could have taken such a number, and closing it is the very
/// bug the library guards against.
package func unusedDescriptor(_ above: CInt = 0) -> FileDescriptor {
    var limit = rlimit()
    getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    let bound = max(limit.rlim_cur, limit.rlim_max)
    return FileDescriptor(rawValue: CInt(clamping: bound) &+ above)
}

/// The bytes up to the first NUL, as UTF-8.
package func cString(_ bytes: RawSpan) -> String {
    bytes.withUnsafeBytes { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
}

// MARK: Errors

/// What errno an expected error carries.
package enum ExpectedErrno: Sendable, CustomStringConvertible {
    /// None: the library found the failure itself.
    case libraryMade
    /// This one, from the kernel.
    case kernel(Errno)
    /// Some errno, whichever.
    case anyKernel
    /// Either: the library or the kernel, as the source decides.
    case anyKernelOrLibrary

    package var description: String {
        switch self {
        case .libraryMade: "no errno"
        case .kernel(let errno): "\(errno)"
        case .anyKernel: "an errno"
        case .anyKernelOrLibrary: "an errno or none"
        }
    }
}

/// What is wrong with how `error` reads: it must be "operation [on target]: strerror [ENAME][.
/// hint]" (or the code's words in place of the errno), with nothing unprintable.
/// `quotesInput`: the error quotes input that may itself be long or hold control characters.
package func readabilityProblems(_ error: DMABufError, quotesInput: Bool = false) -> [String] {
    let text = error.description
    var problems: [String] = []
    if error.operation.isEmpty { problems.append("no operation") }
    if !text.hasPrefix(error.operation) { problems.append("does not start with the operation") }
    if let errno = error.errno {
        if errno.rawValue <= 0 || error.errnoName?.hasPrefix("E") != true { problems.append("errno has no name") }
        if !text.contains(": \(errno) [\(error.errnoName ?? "")]") { problems.append("no \"strerror [ENAME]\"") }
    } else if !text.contains(": \(error.code)") {
        problems.append("no code words")
    }
    if error.hint?.hasSuffix(".") == true { problems.append("hint ends with a full stop") }
    if !quotesInput {
        if text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\t" }) {
            problems.append("control characters")
        }
        if text.utf8.count >= 1024 { problems.append("\(text.utf8.count) bytes long") }
    }
    return problems
}

/// Runs `body`, which must throw a `DMABufError` with `code` and `errno`, that reads well, and
/// must not leak an fd: every fd the library opened while it ran is closed again (checked through
/// `mock`, which records every system call; pass one that injects failures to test those).
/// Returns the error.
@discardableResult
package func expectError<R: ~Copyable>(
    _ code: DMABufError.Code, _ errno: ExpectedErrno, _ what: @autoclosure () -> String = "",
    quotesInput: Bool = false, mock: SyscallMock = SyscallMock(),
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> R
) -> DMABufError? {
    var caught: DMABufError?
    mock.run {
        do {
            _ = try body()
            Issue.record("\(what()): expected \(code) (\(errno)), got success", sourceLocation: sourceLocation)
        } catch let error as DMABufError {
            caught = error
            #expect(error.code == code, "\(what()): \(error)", sourceLocation: sourceLocation)
            switch errno {
            case .libraryMade: #expect(error.errno == nil, "\(what()): \(error)", sourceLocation: sourceLocation)
            case .kernel(let expected):
                #expect(error.errno == expected, "\(what()): \(error)", sourceLocation: sourceLocation)
            case .anyKernel: #expect(error.errno != nil, "\(what()): \(error)", sourceLocation: sourceLocation)
            case .anyKernelOrLibrary: break
            }
            for problem in readabilityProblems(error, quotesInput: quotesInput) {
                Issue.record(
                    "\(what()): \(problem): \(error.description.debugDescription)", sourceLocation: sourceLocation)
            }
        } catch {
            Issue.record(
                "\(what()): expected a DMABufError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
        }
    }
    #expect(mock.leakedDescriptors.isEmpty, "\(what()): fds leaked", sourceLocation: sourceLocation)
    return caught
}

/// Runs `body` with a recording `SyscallMock` and expects every fd the library opened in it to
/// be closed by its end. Returns the mock, for more checks of the calls made.
@discardableResult
package func expectNoLeaks(
    mock: SyscallMock = SyscallMock(), sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) rethrows -> SyscallMock {
    try mock.run(body)
    #expect(mock.leakedDescriptors.isEmpty, "fds leaked: \(mock.leakedDescriptors)", sourceLocation: sourceLocation)
    return mock
}

/// A string test argument shown escaped and cut short ("a\\nb"), so that test logs stay one
/// line per case.
package struct Quoted: Sendable, CustomTestStringConvertible {
    package var text: String

    package init(_ text: String) {
        self.text = text
    }

    package var testDescription: String {
        text.count > 40 ? "\(text.prefix(40).debugDescription)... (\(text.utf8.count) bytes)" : text.debugDescription
    }
}

// MARK: Fds that are not dma-bufs

/// An open fd of a kind other than dma-buf, to hand to the library where it expects one.
package enum ForeignDescriptor: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case memfd, emptyMemfd, readOnlyMemfd, pipeReadEnd, pipeWriteEnd, devNull, devZero, unixSocket, directory, procFile

    package var testDescription: String { rawValue }

    /// Opens one. The second fd, if any, is the other end of a pipe or socket; close both.
    package func open() throws -> (fd: FileDescriptor, other: FileDescriptor?) {
        switch self {
        case .memfd: return (try makeMemfd(size: 3 * 4096), nil)
        case .emptyMemfd: return (try makeMemfd(size: 0), nil)
        case .readOnlyMemfd: return (try makeMemfd(size: 4096, accessMode: .readOnly), nil)
        case .pipeReadEnd, .pipeWriteEnd:
            let (read, write) = try FileDescriptor.pipe()
            for end in [read, write] { _ = fcntl(end.rawValue, F_SETFD, FD_CLOEXEC) }
            return self == .pipeReadEnd ? (read, write) : (write, read)
        case .devNull: return (try FileDescriptor.open("/dev/null", .readWrite, options: .closeOnExec), nil)
        case .devZero: return (try FileDescriptor.open("/dev/zero", .readWrite, options: .closeOnExec), nil)
        case .unixSocket:
            var ends: [CInt] = [-1, -1]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
                throw Errno(rawValue: errno)
            }
            return (FileDescriptor(rawValue: ends[0]), FileDescriptor(rawValue: ends[1]))
        case .directory: return (try FileDescriptor.open("/", .readOnly, options: [.directory, .closeOnExec]), nil)
        case .procFile:
            return (try FileDescriptor.open("/proc/self/status", .readOnly, options: .closeOnExec), nil)
        }
    }
}

// MARK: DMA_BUF_IOCTL_SYNC

/// The flags of DMA_BUF_IOCTL_SYNC, for checking what the library asked for.
package let syncStart: UInt64 = CDMABuf_DMA_BUF_SYNC_START()
package let syncEnd: UInt64 = CDMABuf_DMA_BUF_SYNC_END()
package let syncRead: UInt64 = CDMABuf_DMA_BUF_SYNC_READ()
package let syncWrite: UInt64 = CDMABuf_DMA_BUF_SYNC_WRITE()
/// The ioctl request number of DMA_BUF_IOCTL_SYNC.
package let syncRequest: UInt = CDMABuf_DMA_BUF_IOCTL_SYNC()
