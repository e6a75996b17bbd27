#if os(Linux)
internal import CDMABufDRM
import DMABuf
import Synchronization
import SystemPackage

/// What a device, its imports, framebuffers and blobs share: a second fd of the device's open
/// file, and the books that release each kernel object exactly once and never while it is in use.
///
/// The rules, all under one lock:
/// - A GEM handle is counted per device: PRIME returns the same handle for a buffer the file
///   already imported, so each import and framebuffer holds one count, and the last release
///   closes the handle (DRM_IOCTL_GEM_CLOSE).
/// - A framebuffer is on screen from the commit that shows it until a commit that replaces it
///   has completed: a blocking commit when it returns, a flip when its event has been read.
///   RMFB of a framebuffer on screen would make the kernel switch the plane off, so a
///   framebuffer whose owner goes away while it is on screen becomes an orphan, removed by the
///   first completed commit that no longer shows it (or with the device file, when the last fd
///   closes).
/// - The fd closes when the device and every object of it have gone.
final class KMSState: Sendable {
    let descriptor: FileDescriptor
    let path: String

    struct Books: ~Copyable {
        var handleCounts: [UInt32: Int] = [:]
        /// Plane -> framebuffer that a completed commit shows.
        var shown: [UInt32: UInt32] = [:]
        /// CRTC -> a flip whose event is not read yet.
        var pending: [UInt32: PendingFlip] = [:]
        /// Framebuffers whose owner went away while in use, with the handles they hold.
        var orphans: [UInt32: [UInt32]] = [:]
        var events: [KMSFlipEvent] = []
        var propertyIDs: [UInt32: [String: UInt32]] = [:]

        func isInUse(_ framebuffer: UInt32) -> Bool {
            shown.values.contains(framebuffer)
                || pending.values.contains { $0.planes.values.contains(framebuffer) || $0.others.contains(framebuffer) }
        }
    }

    /// What a flip uses until its event: the framebuffers it puts on planes (on screen after
    /// it), and others it uses until then only (a writeback target).
    struct PendingFlip {
        var planes: [UInt32: UInt32]
        var others: [UInt32] = []
    }
    let books = Mutex(Books())

    init(descriptor: FileDescriptor, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit {
        // Closing the last fd of the file makes the kernel remove what is left of it.
        _ = Sys.close(descriptor)
    }

    /// PRIME FD_TO_HANDLE of `buffer`'s fd, counted: under the lock, so that no release closes
    /// the handle between the kernel's answer and the count.
    func importHandle(_ fd: FileDescriptor) throws(DMABufError) -> UInt32 {
        try books.withLock { (books) throws(DMABufError) -> UInt32 in
            var prime = drm_prime_handle()
            prime.fd = fd.rawValue
            _ = try Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_PRIME_FD_TO_HANDLE(), &prime).get(
                "DRM_IOCTL_PRIME_FD_TO_HANDLE of fd \(fd.rawValue)", on: path,
                code: { $0 == .badFileDescriptor || $0 == .invalidArgument ? .notADMABuf : nil },
                hint: { errno in
                    switch errno {
                    case .badFileDescriptor, .invalidArgument: "The fd is not a dma-buf this device can import"
                    case .notSupported:
                        "The exporter cannot be imported here: KMS drivers such as vkms need its vmap, which"
                            + " udmabuf before Linux 6.2 lacks; use another source"
                    default: nil
                    }
                })
            books.handleCounts[prime.handle, default: 0] += 1
            return prime.handle
        }
    }

    func retainHandle(_ handle: UInt32) {
        books.withLock { $0.handleCounts[handle, default: 0] += 1 }
    }

    func releaseHandles(_ handles: [UInt32]) {
        books.withLock { books in
            for handle in handles { release(handle, in: &books) }
        }
    }

    private func release(_ handle: UInt32, in books: inout Books) {
        guard let count = books.handleCounts[handle] else { return }
        if count > 1 {
            books.handleCounts[handle] = count - 1
            return
        }
        books.handleCounts[handle] = nil
        var close = drm_gem_close()
        close.handle = handle
        _ = Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_GEM_CLOSE(), &close)
    }

    /// The owner of `framebuffer` lets it go: removed now, or once no commit uses it.
    func releaseFramebuffer(_ framebuffer: UInt32, handles: [UInt32]) {
        books.withLock { books in
            if books.isInUse(framebuffer) {
                books.orphans[framebuffer] = handles
            } else {
                remove(framebuffer, handles: handles, in: &books)
            }
        }
    }

    private func remove(_ framebuffer: UInt32, handles: [UInt32], in books: inout Books) {
        var id = framebuffer
        _ = Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_MODE_RMFB(), &id)
        for handle in handles { release(handle, in: &books) }
    }

    private func sweepOrphans(in books: inout Books) {
        for (framebuffer, handles) in books.orphans where !books.isInUse(framebuffer) {
            books.orphans[framebuffer] = nil
            remove(framebuffer, handles: handles, in: &books)
        }
    }

    /// A blocking commit completed: `planes` show these framebuffers (0: none), nothing is
    /// pending on `crtc` any more.
    func completed(crtc: UInt32, shown planes: [UInt32: UInt32]) {
        books.withLock { books in
            books.pending[crtc] = nil
            for (plane, framebuffer) in planes { books.shown[plane] = framebuffer == 0 ? nil : framebuffer }
            sweepOrphans(in: &books)
        }
    }

    /// A nonblocking commit on `crtc` was accepted; its framebuffers are in use until its event.
    func flipQueued(crtc: UInt32, _ flip: PendingFlip) {
        books.withLock { $0.pending[crtc] = flip }
    }

    /// Flip events read from the device: what was pending on their CRTCs is on screen now.
    func flipped(_ events: [KMSFlipEvent]) {
        books.withLock { books in
            for event in events {
                guard let flip = books.pending.removeValue(forKey: event.crtcID) else { continue }
                for (plane, framebuffer) in flip.planes { books.shown[plane] = framebuffer }
            }
            books.events += events
            sweepOrphans(in: &books)
        }
    }

    /// Framebuffers the books hold for orphans (for tests and diagnostics).
    var orphanCount: Int { books.withLock { $0.orphans.count } }
    /// Handles with a count.
    var openHandles: Set<UInt32> { books.withLock { Set($0.handleCounts.keys) } }
}
#endif  // os(Linux)
