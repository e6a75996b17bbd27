#if os(Linux)
// The one seam for system calls, in the style of swift-system's Internals/Mocking.swift: every
// call the library makes goes through `syscall(_:retry:_:)`, which, in debug builds
// (ENABLE_MOCKING), first asks the task's `SyscallMock`, if one is installed, whether to make the
// call, fail it with an errno or pretend it succeeded, and records what happened. Tests use it to
// inject EINTR, EAGAIN and errors, and to check that every fd the library opened was closed.
// Release builds compile none of it.

#if ENABLE_MOCKING
import Synchronization
import SystemPackage

/// One system call as the library is about to make it.
package struct SystemCall: Hashable, Sendable, CustomStringConvertible {
    /// The libc function: "open", "close", "ioctl", "fcntl", "fstatfs", "mmap", ...
    package var name: String
    /// The fd it is made on, if any.
    package var descriptor: CInt?
    /// The ioctl request or fcntl command, if any.
    package var request: UInt?
    /// A value worth matching on: the flags of DMA_BUF_IOCTL_SYNC, for example.
    package var argument: UInt64?
    /// Whether a successful call returns a new fd (open, F_DUPFD_CLOEXEC).
    package var createsDescriptor: Bool
    /// The bytes of an ioctl's argument as they went in, for checking what the library asked.
    package var argumentBytes: [UInt8]?

    package init(
        _ name: String, descriptor: CInt? = nil, request: UInt? = nil, argument: UInt64? = nil,
        createsDescriptor: Bool = false
    ) {
        self.name = name
        self.descriptor = descriptor
        self.request = request
        self.argument = argument
        self.createsDescriptor = createsDescriptor
    }

    package var description: String {
        var text = name + "("
        if let descriptor { text += "fd \(descriptor)" }
        if let request { text += ", 0x" + String(request, radix: 16) }
        if let argument { text += ", 0x" + String(argument, radix: 16) }
        return text + ")"
    }
}

/// Decides, for each system call made while it is installed, what happens to it, and records
/// every call with its result.
package final class SyscallMock: Sendable {
    /// What to do with one call.
    package enum Response: Sendable {
        /// Make the real call.
        case passThrough
        /// Don't make it; fail with this errno (retried like a real failure).
        case fail(Errno)
        /// Don't make it; return this value as a success.
        case succeed(Int)
    }

    /// A call and how it ended.
    package struct Record: Sendable, CustomStringConvertible {
        package var call: SystemCall
        package var result: Result<Int, Errno>
        /// Whether the mock answered instead of the kernel.
        package var injected: Bool

        package var description: String { "\(call) = \(result)\(injected ? " (injected)" : "")" }
    }

    /// The mock of the current task, if any. Child tasks inherit it.
    @TaskLocal package static var current: SyscallMock?

    private let respond: @Sendable (SystemCall) -> Response
    private let log = Mutex<[Record]>([])
    /// The dma-buf device number learned while this mock is installed (see
    /// `Sys.metadataAndFileSystemType`): each mock starts without one.
    let learnedDMABufDevice = Atomic<UInt64>(0)

    /// - Parameter respond: what to do with each call; by default every call is made and recorded.
    package init(_ respond: @escaping @Sendable (SystemCall) -> Response = { _ in .passThrough }) {
        self.respond = respond
    }

    /// Runs `body` with this mock installed for the current task.
    package func run<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        let result: Result<R, E> = Self.$current.withValue(self) {
            do throws(E) { return .success(try body()) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Every call so far, in order.
    package var records: [Record] { log.withLock { $0 } }

    /// The calls so far named `name`.
    package func calls(_ name: String) -> [Record] { records.filter { $0.call.name == name } }

    /// Fds that calls returned and no `close` has released since, in the order they came.
    package var leakedDescriptors: [CInt] {
        var open: [CInt] = []
        for record in records {
            if record.call.name == "close", let fd = record.call.descriptor {
                open.removeAll { $0 == fd }  // close releases the fd even when it fails
            } else if record.call.createsDescriptor, case .success(let fd) = record.result {
                open.append(CInt(truncatingIfNeeded: fd))
            }
        }
        return open
    }

    func response(to call: SystemCall) -> Response { respond(call) }

    func record(_ call: SystemCall, _ result: Result<Int, Errno>, injected: Bool) {
        log.withLock { $0.append(Record(call: call, result: result, injected: injected)) }
    }
}
#endif
#endif  // os(Linux)
