import SystemPackage

/// An fd closed exactly once: by `close()`, or silently when the value goes away unless `take()`
/// handed it over. The types that own an fd keep one of these instead of closing it themselves.
internal struct OwnedDescriptor: ~Copyable, Sendable {
    let rawValue: FileDescriptor

    init(_ rawValue: FileDescriptor) {
        self.rawValue = rawValue
    }

    deinit {
        _ = Sys.close(rawValue)
    }

    consuming func close() -> Result<Void, Errno> {
        Sys.close(take())
    }

    consuming func take() -> FileDescriptor {
        let rawValue = self.rawValue
        discard self
        return rawValue
    }
}
