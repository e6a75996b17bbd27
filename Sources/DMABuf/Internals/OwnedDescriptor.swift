#if os(Linux)
import SystemPackage

/// The ownership of one fd, which every ``DescriptorOwner`` keeps: the fd is closed exactly
/// once, by `close()`, or silently when the value goes away unless `take()` handed it over.
/// Public only as the type of ``DescriptorOwner``'s plumbing; its members are the package's.
///
/// How an fd comes to be owned is one of two rules:
/// - `init(adopting:operation:check:)`, behind every public `init(adopting:)`: an fd from
///   the caller;
/// - `returned(_:by:on:)`: an fd a system call just returned.
public struct OwnedDescriptor: ~Copyable, Sendable {
    @usableFromInline package let rawValue: FileDescriptor

    package init(_ rawValue: FileDescriptor) {
        self.rawValue = rawValue
    }

    /// Takes over an fd from the caller, by the rule of every `init(adopting:)`: `check` it,
    /// then set FD_CLOEXEC, then own it. If anything fails, the fd is not closed: it stays the
    /// caller's, who may still use it or close it.
    package init(
        adopting descriptor: FileDescriptor, operation: @autoclosure () -> String,
        check: (FileDescriptor) throws(DMABufError) -> Void
    ) throws(DMABufError) {
        try check(descriptor)
        try Sys.setCloseOnExec(descriptor).get(operation() + ": fcntl(F_SETFD, FD_CLOEXEC)", on: Sys.name(descriptor))
        self.init(descriptor)
    }

    /// The fd that `operation` on `target` (an ioctl such as DMA_HEAP_IOCTL_ALLOC) returned in
    /// its argument, checked to be one: the one policy for every such fd.
    ///
    /// - Throws: ``DMABufError/Code/badResponse`` for a negative number: the call reported
    ///   success without making an fd.
    ///
    /// Whoever adopts the fd and fails leaves it open (as every `init(adopting:)` does) and says
    /// its number in the error: a device that answers wrongly may have returned a number that
    /// is not new, and closing it would close someone else's file.
    package static func returned(
        _ fd: CInt, by operation: @autoclosure () -> String, on target: @autoclosure () -> String
    ) throws(DMABufError) -> FileDescriptor {
        guard fd >= 0 else {
            throw DMABufError(
                .badResponse, operation: operation(), target: target(),
                hint: "It reported success but returned no fd (\(fd))")
        }
        return FileDescriptor(rawValue: fd)
    }

    deinit {
        _ = Sys.close(rawValue)
    }

    package consuming func close() -> Result<Void, Errno> {
        Sys.close(take())
    }

    /// Closes the fd; a failure is reported as a close of `target` (made only then). The fd is
    /// gone either way.
    @usableFromInline
    package consuming func close(reportingOn target: @autoclosure () -> String) throws(DMABufError) {
        try close().get("close", on: target())
    }

    @usableFromInline
    package consuming func take() -> FileDescriptor {
        let rawValue = self.rawValue
        discard self
        return rawValue
    }
}

extension DMABuffer {
    /// Takes over the dma-buf fd that `operation` on `target` returned (see
    /// ``OwnedDescriptor/returned(_:by:on:)``), with `accessMode` and `closeOnExecIsSet` as far as
    /// the call's request settles them. On failure the fd is left open and the error names it.
    package init(
        returned fd: CInt, by operation: String, on target: String, accessMode: FileDescriptor.AccessMode?,
        closeOnExecIsSet: Bool
    ) throws(DMABufError) {
        let descriptor = try OwnedDescriptor.returned(fd, by: operation, on: target)
        do {
            try self.init(adopting: descriptor, accessMode: accessMode, closeOnExecIsSet: closeOnExecIsSet)
        } catch {
            var error = error
            error.operation = operation + " returned fd \(fd)"
            error.target = target
            throw error
        }
    }
}
#endif  // os(Linux)
