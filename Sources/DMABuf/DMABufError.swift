#if os(Linux)
internal import CDMABuf
import SystemPackage

/// The one error this library throws: what kind of failure, what was being done on what, the
/// kernel's errno if the kernel refused, and what to do about it.
///
/// Match failures by ``code``; ``description`` is for people:
///
/// ```
/// ALLOC ioctl on /dev/dmabuf_exporter: File too large [EFBIG]. The size is above the module's
/// limit for one buffer, /sys/module/dmabuf_exporter/parameters/max_buffer_bytes
/// ```
public struct DMABufError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure, from a fixed set. Compare it with the static members:
    /// `error.code == .notADMABuf`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let rawValue: UInt8

        private init(_ rawValue: UInt8) {
            self.rawValue = rawValue
        }

        /// The file descriptor is open but not a dma-buf.
        public static let notADMABuf = Code(1)
        /// The caller may not do this: a device's permissions (EACCES, EPERM), or write access
        /// through a read-only mapping or fd.
        public static let permissionDenied = Code(2)
        /// A limit was reached: a module's size or quota limits (EFBIG, EDQUOT, ENOSPC), the
        /// process's or system's fd limit (EMFILE, ENFILE), or a buffer's capacity.
        public static let limitExceeded = Code(3)
        /// The device is not there (ENOENT, ENODEV, ENXIO): a module that is not loaded, say.
        public static let deviceMissing = Code(4)
        /// An argument was refused, by the kernel (EINVAL, ENAMETOOLONG, ...) or by this library
        /// before asking the kernel (a negative size, a mapping range outside the buffer).
        public static let invalidArgument = Code(5)
        /// The file descriptor is not open (EBADF).
        public static let badDescriptor = Code(6)
        /// The kernel is out of memory or address space (ENOMEM).
        public static let outOfMemory = Code(7)
        /// The file does not support the operation (ENOTTY, EOPNOTSUPP, ESPIPE): an ioctl sent to
        /// the wrong kind of device, for example.
        public static let unsupported = Code(8)
        /// The resource is busy (EBUSY, EAGAIN).
        public static let busy = Code(9)
        /// Text the library parsed (such as fdinfo) is not in the expected form.
        public static let malformedInput = Code(10)
        /// A device or file answered in a way its protocol does not allow: an ioctl that
        /// succeeded without returning an fd, a file that reads longer than the device can be.
        public static let badResponse = Code(11)
        /// The peer of a channel is gone: it closed its end or died (EOF, ECONNRESET, EPIPE).
        public static let disconnected = Code(12)
        /// A wait ended at its timeout, before what it waited for happened. Every call that takes
        /// a timeout reports it so, never with a `false` or a `nil`; a socket's own receive
        /// timeout (SO_RCVTIMEO, EAGAIN) and ETIMEDOUT are this code too.
        public static let timedOut = Code(13)
        /// The task that waited was cancelled: an async wait ends so, at once, instead of
        /// waiting on.
        public static let cancelled = Code(14)
        /// Any other errno.
        public static let other = Code(0)

        /// The code for a kernel errno, as the library reports it unless it knows better.
        public init(_ errno: Errno) {
            switch errno {
            case .badFileDescriptor: self = .badDescriptor
            case .permissionDenied, .notPermitted, .readOnlyFileSystem: self = .permissionDenied
            case .noSuchFileOrDirectory, .operationNotSupportedByDevice, .noSuchAddressOrDevice: self = .deviceMissing
            case .invalidArgument, .fileNameTooLong, .isDirectory, .notDirectory, .tooManySymbolicLinkLevels,
                .badAddress, .overflow:
                self = .invalidArgument
            case .noMemory: self = .outOfMemory
            case .fileTooLarge, .diskQuotaExceeded, .noSpace, .tooManyOpenFiles, .tooManyOpenFilesInSystem:
                self = .limitExceeded
            case .inappropriateIOCTLForDevice, .notSupported, .notSupportedOnSocket, .noFunction, .illegalSeek:
                self = .unsupported
            case .resourceBusy, .resourceTemporarilyUnavailable: self = .busy
            case .badMessage: self = .malformedInput
            case .brokenPipe, .connectionReset, .socketNotConnected: self = .disconnected
            case .timedOut: self = .timedOut
            case .canceled: self = .cancelled
            default: self = .other
            }
        }

        /// A few words: "not a dma-buf", "permission denied", ...
        public var description: String {
            switch self {
            case .notADMABuf: "not a dma-buf"
            case .permissionDenied: "permission denied"
            case .limitExceeded: "limit exceeded"
            case .deviceMissing: "device missing"
            case .invalidArgument: "invalid argument"
            case .badDescriptor: "bad file descriptor"
            case .outOfMemory: "out of memory"
            case .unsupported: "unsupported"
            case .busy: "busy"
            case .malformedInput: "malformed input"
            case .badResponse: "bad response"
            case .disconnected: "peer disconnected"
            case .timedOut: "timed out"
            case .cancelled: "cancelled"
            default: "failed"
            }
        }
    }

    /// What kind of failure it is.
    public var code: Code
    /// The kernel's errno, if a system call failed; nil for failures the library finds itself
    /// (a file that is not a dma-buf, a range outside the buffer, malformed fdinfo).
    public var errno: Errno?
    /// What was being done: "open", "ALLOC ioctl", "mmap", "DMA_BUF_IOCTL_SYNC(START, READ)", ...
    public var operation: String
    /// What it was done on: a path ("/dev/dmabuf_exporter") or an fd ("dma-buf fd 5").
    public var target: String?
    /// An explanation or a remedy, as a sentence without a final full stop.
    public var hint: String?

    /// Creates an error. `code` defaults to the one `errno` implies.
    public init(
        _ code: Code? = nil, errno: Errno? = nil, operation: String, target: String? = nil, hint: String? = nil
    ) {
        precondition(code != nil || errno != nil, "a DMABufError needs a code or an errno")
        self.code = code ?? Code(errno!)
        self.errno = errno
        self.operation = operation
        self.target = target
        self.hint = hint
    }

    /// The errno's symbolic name, "ENOENT" for `.noSuchFileOrDirectory` ("errno 4242" if the C
    /// library knows none); nil without an errno.
    public var errnoName: String? {
        errno.map { errno in
            CDMABuf_errno_name(errno.rawValue).map { String(cString: $0) } ?? "errno \(errno.rawValue)"
        }
    }

    /// "operation on target: strerror [ENAME]. hint", or with the code's words in place of the
    /// errno for failures the library found itself.
    public var description: String {
        var text = operation
        if let target { text += " on \(target)" }
        if let errno, let errnoName {
            text += ": \(errno) [\(errnoName)]"
        } else {
            text += ": \(code)"
        }
        if let hint { text += ". \(hint)" }
        return text
    }
}

extension Result where Failure == Errno {
    /// The value, or a `DMABufError` saying what failed on what, with a hint chosen by errno.
    /// Inlinable, so that the other targets' calls are specialized, not generic ones.
    @inlinable
    package func get(
        _ operation: @autoclosure () -> String,
        on target: @autoclosure () -> String? = nil,
        code: (Errno) -> DMABufError.Code? = { _ in nil },
        hint: (Errno) -> String? = { _ in nil }
    ) throws(DMABufError) -> Success {
        switch self {
        case .success(let value): return value
        case .failure(let errno):
            throw DMABufError(
                code(errno), errno: errno, operation: operation(), target: target(), hint: hint(errno))
        }
    }
}
#endif  // os(Linux)
