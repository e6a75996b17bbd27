import CDMABuf
import SystemPackage

/// The one error this library throws: what failed, on what, with which errno, and what to do about it.
///
/// ```
/// ALLOC ioctl on /dev/dmabuf_exporter: File too large [EFBIG]. The size is above the module's
/// limit for one buffer, /sys/module/dmabuf_exporter/parameters/max_buffer_bytes.
/// ```
public struct DMABufError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Why it failed, as the kernel (or this library, for refused input) said.
    public var errno: Errno
    /// What was being done: "open", "ALLOC ioctl", "mmap", "DMA_BUF_IOCTL_SYNC(START, READ)", ...
    public var operation: String
    /// What it was done on: a path or device ("/dev/dmabuf_exporter") or an fd ("dma-buf fd 5").
    public var target: String?
    /// An explanation or a remedy, as a sentence.
    public var hint: String?

    public init(_ errno: Errno, operation: String, target: String? = nil, hint: String? = nil) {
        self.errno = errno
        self.operation = operation
        self.target = target
        self.hint = hint
    }

    /// "ENOENT" for `.noSuchFileOrDirectory`; the number if the C library knows no name.
    public var errnoName: String {
        CDMABuf_errno_name(errno.rawValue).map { String(cString: $0) } ?? "errno \(errno.rawValue)"
    }

    public var description: String {
        var text = operation
        if let target { text += " on \(target)" }
        text += ": \(errno) [\(errnoName)]"
        if let hint { text += ". \(hint)" }
        return text
    }
}

extension Result where Failure == Errno {
    /// The value, or a `DMABufError` saying what failed on what, with a hint chosen by errno.
    internal func get(
        _ operation: @autoclosure () -> String,
        on target: @autoclosure () -> String? = nil,
        hint: (Errno) -> String? = { _ in nil }
    ) throws(DMABufError) -> Success {
        switch self {
        case .success(let value): return value
        case .failure(let errno):
            throw DMABufError(errno, operation: operation(), target: target(), hint: hint(errno))
        }
    }
}
