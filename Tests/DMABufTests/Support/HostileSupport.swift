import CDMABuf
import Glibc
import SystemPackage
import Testing

@testable import DMABuf

// MARK: Errors that explain themselves

/// Checks that `error` reads as a sentence a person can act on: "operation [on target]: strerror
/// [ENAME][. hint]", with a known errno name and nothing unprintable.
/// `quotesInput`: the error quotes input that may itself be long or hold control characters (a path).
func expectReadable(_ error: DMABufError, quotesInput: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) {
    for problem in readabilityProblems(error, quotesInput: quotesInput) {
        Issue.record("\(problem): \(error.description.debugDescription)", sourceLocation: sourceLocation)
    }
}

/// What `expectReadable` finds wrong with `error`, without recording it (for the fuzzers' loops).
func readabilityProblems(_ error: DMABufError, quotesInput: Bool = false) -> [String] {
    let text = error.description
    var problems: [String] = []
    if error.operation.isEmpty { problems.append("no operation") }
    if !text.hasPrefix(error.operation) { problems.append("does not start with the operation") }
    if error.errno.rawValue <= 0 || !error.errnoName.hasPrefix("E") { problems.append("errno \(error.errno.rawValue) has no name") }
    if !text.contains(": \(error.errno) [\(error.errnoName)]") { problems.append("no \"strerror [ENAME]\"") }
    if !quotesInput {
        if text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\t" }) { problems.append("control characters") }
        if text.utf8.count >= 1024 { problems.append("\(text.utf8.count) bytes long") }
    }
    return problems
}

/// Runs `body`, which must throw a `DMABufError` with `errno` (any errno if nil) that reads well,
/// and must leave the process with as many open fds as before.
@discardableResult
func expectHostile<R: ~Copyable>(
    _ errno: Errno?, _ what: @autoclosure () -> String = "", quotesInput: Bool = false,
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> R
) -> DMABufError? {
    let before = openDescriptorCount()
    var caught: DMABufError?
    do {
        _ = try body()
        Issue.record("\(what()): expected \(errno.map { "\($0)" } ?? "an error"), got success", sourceLocation: sourceLocation)
    } catch let error as DMABufError {
        caught = error
        if let errno {
            #expect(error.errno == errno, "\(what()): \(error)", sourceLocation: sourceLocation)
        }
        expectReadable(error, quotesInput: quotesInput, sourceLocation: sourceLocation)
    } catch {
        Issue.record("\(what()): expected a DMABufError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
    }
    #expect(openDescriptorCount() == before, "\(what()): fds leaked", sourceLocation: sourceLocation)
    return caught
}

/// Runs `body`, which may succeed or throw a readable `DMABufError`, but nothing else.
func expectValueOrReadableError<R: ~Copyable>(
    _ what: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> R
) {
    do {
        _ = try body()
    } catch let error as DMABufError {
        expectReadable(error, sourceLocation: sourceLocation)
    } catch {
        Issue.record("\(what()): expected a DMABufError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
    }
}

/// A string test argument shown escaped and cut short ("a\\nb"), so that test logs stay one
/// line per case.
struct Quoted: Sendable, CustomTestStringConvertible {
    var text: String
    var testDescription: String {
        text.count > 40 ? "\(text.prefix(40).debugDescription)... (\(text.utf8.count) bytes)" : text.debugDescription
    }
}

// MARK: Fds that are not dma-bufs

/// An open fd of a kind other than dma-buf, to hand to the library where it expects one.
enum ForeignDescriptor: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case memfd, emptyMemfd, readOnlyMemfd, pipeReadEnd, pipeWriteEnd, devNull, devZero, unixSocket, directory, procFile

    var testDescription: String { rawValue }

    /// Opens one. The second fd, if any, is the other end of a pipe; close both.
    func open() throws -> (fd: FileDescriptor, other: FileDescriptor?) {
        func fd(_ raw: CInt, _ what: String) throws -> FileDescriptor {
            try syscall { raw }.map(FileDescriptor.init(rawValue:)).get(what)
        }
        switch self {
        case .memfd: return (try makeMemfd(size: 3 * Sys.pageSize), nil)
        case .emptyMemfd: return (try makeMemfd(size: 0), nil)
        case .readOnlyMemfd: return (try makeMemfd(size: Sys.pageSize, readOnly: true), nil)
        case .pipeReadEnd, .pipeWriteEnd:
            var ends: [CInt] = [-1, -1]
            _ = try syscall { pipe(&ends) }.get("pipe")
            for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
            let (read, write) = (FileDescriptor(rawValue: ends[0]), FileDescriptor(rawValue: ends[1]))
            return self == .pipeReadEnd ? (read, write) : (write, read)
        case .devNull: return (try fd(Glibc.open("/dev/null", O_RDWR | O_CLOEXEC), "open /dev/null"), nil)
        case .devZero: return (try fd(Glibc.open("/dev/zero", O_RDWR | O_CLOEXEC), "open /dev/zero"), nil)
        case .unixSocket:
            var ends: [CInt] = [-1, -1]
            _ = try syscall { socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) }
                .get("socketpair")
            return (FileDescriptor(rawValue: ends[0]), FileDescriptor(rawValue: ends[1]))
        case .directory: return (try fd(Glibc.open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC), "open /"), nil)
        case .procFile: return (try fd(Glibc.open("/proc/self/status", O_RDONLY | O_CLOEXEC), "open /proc/self/status"), nil)
        }
    }

    /// Whether the kernel answers any unknown ioctl with ENOTTY on every kernel (a directory's
    /// answer depends on its file system).
    var refusesUnknownIoctlsWithENOTTY: Bool { self != .directory }
}

/// An fd number that is not open.
enum BadDescriptor: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case minusOne, minusTwo, int32Min, int32Max, beyondTheFdLimit, justClosed

    var testDescription: String { rawValue }

    /// The number. `justClosed` is the lowest free fd, which the next open takes.
    func number() throws -> FileDescriptor {
        switch self {
        case .minusOne: return FileDescriptor(rawValue: -1)
        case .minusTwo: return FileDescriptor(rawValue: -2)
        case .int32Min: return FileDescriptor(rawValue: .min)
        case .int32Max: return FileDescriptor(rawValue: .max)
        case .beyondTheFdLimit:
            var limit = rlimit()
            getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
            return FileDescriptor(rawValue: CInt(clamping: limit.rlim_cur))
        case .justClosed:
            let fd = try makeMemfd(size: 0)
            try fd.close()
            return fd
        }
    }
}
