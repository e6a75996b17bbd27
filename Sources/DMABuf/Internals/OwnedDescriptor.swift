#if os(Linux)
import SystemPackage

/// An fd closed exactly once: by `close()`, or silently when the value goes away unless `take()`
/// handed it over. The types that own an fd keep one of these instead of closing it themselves.
package struct OwnedDescriptor: ~Copyable, Sendable {
    package let rawValue: FileDescriptor

    package init(_ rawValue: FileDescriptor) {
        self.rawValue = rawValue
    }

    deinit {
        _ = Sys.close(rawValue)
    }

    package consuming func close() -> Result<Void, Errno> {
        Sys.close(take())
    }

    package consuming func take() -> FileDescriptor {
        let rawValue = self.rawValue
        discard self
        return rawValue
    }
}
#endif  // os(Linux)
