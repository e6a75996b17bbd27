#if os(Linux)
import SystemPackage

/// A noncopyable value that owns one file descriptor, closed exactly once: by ``close()``,
/// which reports errors, or silently when the value goes away, unless ``takeDescriptor()``
/// handed it over.
///
/// Every owner of an fd in the package is one: ``DMABuffer``, ``SyncFile``, ``Memfd``,
/// ``DMABufChannel``, the allocators and the devices. They share this implementation, and the
/// rules of their `init(adopting:)`: the fd is checked, FD_CLOEXEC is set, and on any failure the
/// fd is left open and the caller's; each says what O_NONBLOCK does to it.
///
/// The two requirements are the plumbing that lets the methods below reach the fd: call those.
/// The methods are inlinable, so that a call from another module costs what the type's own
/// method would (`dmabuf bench` closes a buffer in its alloc-map-touch-unmap-close loop).
public protocol DescriptorOwner: ~Copyable {
    /// The fd's ownership. Use ``withUnsafeDescriptor(_:)``.
    var _owned: OwnedDescriptor { get }
    /// Gives up the fd's ownership, for ``close()`` and ``takeDescriptor()``. Use those.
    consuming func _releaseOwned() -> OwnedDescriptor
}

extension DescriptorOwner where Self: ~Copyable {
    /// Closes the fd, reporting failure; the fd is gone either way (Linux closes it even when
    /// `close` reports EINTR or EIO, so nothing is retried).
    @inlinable
    public consuming func close() throws(DMABufError) {
        let owned = _releaseOwned()
        let descriptor = owned.rawValue.rawValue
        try owned.close(reportingOn: "\(Self.self) fd \(descriptor)")
    }

    /// Gives up ownership: the caller closes the returned fd.
    @inlinable
    public consuming func takeDescriptor() -> FileDescriptor {
        _releaseOwned().take()
    }

    /// Calls `body` with the raw fd, for system calls the type does not wrap. Don't close it,
    /// and don't keep it beyond the call.
    @inlinable
    public borrowing func withUnsafeDescriptor<R, E: Error>(_ body: (FileDescriptor) throws(E) -> R) throws(E) -> R {
        try body(_owned.rawValue)
    }
}
#endif  // os(Linux)
