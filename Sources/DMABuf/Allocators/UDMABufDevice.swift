#if os(Linux)
internal import CDMABuf
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemPackage

/// The udmabuf device, `/dev/udmabuf` (CONFIG_UDMABUF): turns pages of a memfd into a dma-buf.
///
/// The memfd stays the producer's way in: what ``Memfd/write(_:at:)`` writes, every mapping of the
/// dma-buf sees, without the producer mapping anything. udmabuf's fds are always read-write.
///
/// Before every ioctl the library checks what the kernel would refuse with a bare EINVAL (see
/// ``check(_:limits:)``) and says what to fix. After it, the library issues one SYNC for reading and
/// writing, so that udmabuf maps its CPU-access sg table bidirectionally (6.1 maps it with the
/// direction of the first SYNC, and DMA_API_DEBUG then reports every SYNC of the other direction).
///
/// ```swift
/// let udmabuf = try UDMABufDevice()
/// let memfd = try Memfd(size: 1 << 20)  // MFD_ALLOW_SEALING, F_SEAL_SHRINK
/// try memfd.write(Array("hello".utf8), at: 0)
/// let buffer = try udmabuf.create(from: memfd, name: "frame")  // exporter "udmabuf"
/// ```
public struct UDMABufDevice: ~Copyable, Sendable, DescriptorOwner, DMABufAllocator {
    /// `/dev/udmabuf`.
    public static let defaultPath = FilePath("/dev/udmabuf")
    /// The exporter name its dma-bufs carry (fdinfo `exp_name`).
    public static let exporterName = "udmabuf"
    /// Where the module's limits are, `/sys/module/udmabuf/parameters`.
    public static let parameters = FilePath("/sys/module/udmabuf/parameters")

    /// The fd's ownership, which ``DescriptorOwner``'s methods use.
    public let _owned: OwnedDescriptor
    /// See ``DescriptorOwner``.
    public consuming func _releaseOwned() -> OwnedDescriptor { _owned }
    /// The device's path.
    public let path: FilePath

    /// Opens the device.
    ///
    /// - Parameter path: the device node.
    /// - Throws: ``DMABufError/Code/deviceMissing`` with a hint saying whether the module can be
    ///   loaded or the kernel lacks CONFIG_UDMABUF; ``DMABufError/Code/permissionDenied`` with a
    ///   hint naming the node's group and how to join it.
    public init(path: FilePath = UDMABufDevice.defaultPath) throws(DMABufError) {
        self._owned = OwnedDescriptor(
            try Sys.open(path, O_RDWR).get("open", on: path.string, hint: { Self.openHint($0, path: path) }))
        self.path = path
    }

    /// A new zero-filled buffer of `size` bytes rounded up to whole pages, over a memfd made for it
    /// and closed again (the dma-buf holds its pages).
    ///
    /// - Parameters:
    ///   - size: bytes wanted; 1 or more.
    ///   - name: the buffer's name (DMA_BUF_SET_NAME), or nil.
    /// - Throws: as ``create(from:range:name:)``.
    public func allocate(size: Int, name: String?) throws(DMABufError) -> DMABuffer {
        let backed = try allocateWithMemfd(size: size, name: name)
        return backed.buffer  // the memfd closes here
    }

    /// A new zero-filled buffer of `size` bytes rounded up to whole pages, with the memfd under it.
    ///
    /// - Parameters:
    ///   - size: bytes wanted; 1 or more.
    ///   - name: the buffer's name (DMA_BUF_SET_NAME), or nil.
    /// - Throws: as ``create(from:range:name:)``.
    public func allocateWithMemfd(size: Int, name: String? = nil) throws(DMABufError) -> Backed {
        try AllocationRequest.check(size: size, operation: "UDMABUF_CREATE", target: path.string)
        let rounded = try AllocationRequest.pageRounded(size, operation: "UDMABUF_CREATE", target: path.string)
        let memfd = try Memfd(name: name ?? "udmabuf", size: rounded)
        let buffer = try create(from: memfd, name: name)
        return Backed(buffer: buffer, memfd: memfd)
    }

    /// A dma-buf over `range` of `memfd` (UDMABUF_CREATE), or over all of it.
    ///
    /// - Parameters:
    ///   - memfd: the memory; it stays the caller's.
    ///   - range: the bytes to share, page-aligned; nil for the whole memfd.
    ///   - name: the buffer's name (DMA_BUF_SET_NAME), or nil.
    /// - Throws: ``DMABufError/Code/invalidArgument`` with what to fix, before the ioctl, for
    ///   anything ``check(_:limits:)`` finds; the kernel's errors.
    public func create(
        from memfd: borrowing Memfd, range: Range<Int>? = nil, name: String? = nil
    ) throws(DMABufError) -> DMABuffer {
        let segment = memfd.withUnsafeDescriptor { Segment(memfd: $0, range: range ?? 0..<memfd.size) }
        return try create(from: [segment], name: name)
    }

    /// A dma-buf over one or more memfd ranges, in order: UDMABUF_CREATE for one,
    /// UDMABUF_CREATE_LIST for more.
    ///
    /// - Parameters:
    ///   - segments: the memfd ranges; the fds stay the caller's.
    ///   - name: the buffer's name (DMA_BUF_SET_NAME), or nil.
    /// - Throws: ``DMABufError/Code/invalidArgument`` with what to fix, before the ioctl, for
    ///   anything ``check(_:limits:)`` finds; the kernel's errors.
    public func create(from segments: [Segment], name: String? = nil) throws(DMABufError) -> DMABuffer {
        try Self.check(segments, limits: Limits.current())
        let operation = segments.count == 1 ? "UDMABUF_CREATE" : "UDMABUF_CREATE_LIST"
        let fd = try createUnchecked(segments).get(
            operation, on: path.string,
            hint: { $0 == .invalidArgument ? "udmabuf refused the memfd ranges" : nil })
        let buffer = try DMABuffer(
            returned: fd.rawValue, by: operation, on: path.string, accessMode: nil,
            closeOnExecIsSet: true)  // UDMABUF_FLAGS_CLOEXEC
        try Self.prime(buffer)
        return try AllocationRequest.name(buffer, name)
    }

    /// One DMA_BUF_IOCTL_SYNC START and END for reading and writing, right after creation.
    ///
    /// udmabuf (6.1 at least) maps the sg table it uses for CPU access once, at the first SYNC, with
    /// that SYNC's direction, and syncs it later with each later SYNC's direction; a read after a
    /// first write syncs a DMA_TO_DEVICE mapping for DMA_FROM_DEVICE, which DMA_API_DEBUG reports
    /// (a WARN, fatal with panic_on_warn). Mapped bidirectionally first, every later direction is
    /// valid.
    private static func prime(_ buffer: borrowing DMABuffer) throws(DMABufError) {
        let both = CDMABuf_DMA_BUF_SYNC_READ() | CDMABuf_DMA_BUF_SYNC_WRITE()
        try buffer.withUnsafeDescriptor { fd throws(DMABufError) in
            try Sys.dmaBufSync(fd, flags: CDMABuf_DMA_BUF_SYNC_START() | both)
                .get("DMA_BUF_IOCTL_SYNC(START, RW) of a new udmabuf", on: "dma-buf fd \(fd.rawValue)")
            try Sys.dmaBufSync(fd, flags: CDMABuf_DMA_BUF_SYNC_END() | both)
                .get("DMA_BUF_IOCTL_SYNC(END, RW) of a new udmabuf", on: "dma-buf fd \(fd.rawValue)")
        }
    }

    /// The ioctl without the library's checks, for tests that show the kernel refuses what
    /// ``check(_:limits:)`` refuses.
    package func createUnchecked(_ segments: [Segment]) -> Result<FileDescriptor, Errno> {
        let result: Result<CInt, Errno>
        if segments.count == 1 {
            var request = udmabuf_create()
            request.memfd = UInt32(bitPattern: segments[0].memfd.rawValue)
            request.flags = CDMABuf_UDMABUF_FLAGS_CLOEXEC()
            request.offset = UInt64(clamping: segments[0].range.lowerBound)
            request.size = UInt64(clamping: segments[0].range.count)
            result = Sys.ioctl(_owned.rawValue, CDMABuf_UDMABUF_CREATE(), &request)
        } else {
            let bytes = Int(CDMABuf_udmabuf_create_list_size(UInt32(segments.count)))
            let storage = UnsafeMutableRawPointer.allocate(
                byteCount: bytes, alignment: MemoryLayout<udmabuf_create_list>.alignment)
            defer { storage.deallocate() }
            storage.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
            let head = storage.bindMemory(to: udmabuf_create_list.self, capacity: 1)
            head.pointee.flags = CDMABuf_UDMABUF_FLAGS_CLOEXEC()
            head.pointee.count = UInt32(segments.count)
            let items = (storage + MemoryLayout<udmabuf_create_list>.size).bindMemory(
                to: udmabuf_create_item.self, capacity: segments.count)
            for (index, segment) in segments.enumerated() {
                items[index].memfd = UInt32(bitPattern: segment.memfd.rawValue)
                items[index].offset = UInt64(clamping: segment.range.lowerBound)
                items[index].size = UInt64(clamping: segment.range.count)
            }
            result = Sys.ioctl(_owned.rawValue, CDMABuf_UDMABUF_CREATE_LIST(), storage)
        }
        return result.map(FileDescriptor.init(rawValue:))
    }

    /// Refuses, with what to fix, every range udmabuf would refuse with a bare EINVAL: an fd that is
    /// not a memfd (or a hugetlbfs file), one without F_SEAL_SHRINK, one sealed against writing, an
    /// offset or size that is not whole pages, a range past the end of the file, more bytes than
    /// `size_limit_mb` or more ranges than `list_limit`.
    ///
    /// - Parameters:
    ///   - segments: the memfd ranges.
    ///   - limits: the module's limits; nil to skip those checks.
    /// - Throws: ``DMABufError/Code/invalidArgument`` (no errno) with a hint naming the fix;
    ///   ``DMABufError/Code/badDescriptor`` for an fd that is not open.
    public static func check(_ segments: [Segment], limits: Limits?) throws(DMABufError) {
        let operation = "check memfd for udmabuf"
        guard !segments.isEmpty else {
            throw DMABufError(.invalidArgument, operation: operation, hint: "No memfd ranges were given")
        }
        let page = Sys.pageSize
        var total = 0
        for (index, segment) in segments.enumerated() {
            let fd = segment.memfd
            let target = Sys.name(fd) + (segments.count > 1 ? " (range \(index + 1) of \(segments.count))" : "")
            func refuse(_ hint: String) -> DMABufError {
                DMABufError(.invalidArgument, operation: operation, target: target, hint: hint)
            }
            let type = try Sys.fileSystemType(fd).get(
                operation, on: target, hint: { $0 == .badFileDescriptor ? "It is not an open file descriptor" : nil })
            guard type == Int(CDMABuf_TMPFS_MAGIC()) || type == Int(CDMABuf_HUGETLBFS_MAGIC()) else {
                throw refuse(
                    "It is not a memfd: its file system type is 0x\(String(type, radix: 16)), and udmabuf takes "
                        + "only shmem or hugetlbfs pages. Create one with memfd_create(name, MFD_ALLOW_SEALING) "
                        + "(Memfd(size:))")
            }
            let seals: Memfd.Seals
            switch Sys.fcntl(fd, CDMABuf_F_GET_SEALS()) {
            case .success(let raw): seals = Memfd.Seals(rawValue: raw)
            case .failure(.invalidArgument):
                throw refuse(
                    "It is not a memfd but another tmpfs file, which cannot carry seals. Create a memfd with "
                        + "memfd_create(name, MFD_ALLOW_SEALING) (Memfd(size:))")
            case .failure(let errno):
                throw DMABufError(errno: errno, operation: operation + ": fcntl(F_GET_SEALS)", target: target)
            }
            if !seals.intersection(Memfd.sealsUDMABufRefuses).isEmpty {
                throw refuse(
                    "It is sealed with \(seals.intersection(Memfd.sealsUDMABufRefuses)), which udmabuf refuses "
                        + "(a device may write the pages), and seals cannot be removed. Create a new memfd and "
                        + "seal it with F_SEAL_SHRINK only")
            }
            if !seals.contains(.shrink) {
                if seals.contains(.seal) {
                    throw refuse(
                        "It has no F_SEAL_SHRINK, and F_SEAL_SEAL means it can never get one (it was created "
                            + "without MFD_ALLOW_SEALING). Create it with memfd_create(name, MFD_ALLOW_SEALING), "
                            + "then fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK)")
                }
                throw refuse(
                    "It has no F_SEAL_SHRINK (seals: \(seals)), which udmabuf needs so that the pages cannot go "
                        + "away under the dma-buf. Add it: fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) "
                        + "(Memfd.addSeals(.shrink))")
            }
            let range = segment.range
            guard range.lowerBound >= 0, range.lowerBound % page == 0 else {
                throw refuse(
                    "The offset \(range.lowerBound) is not a multiple of the page size \(page): udmabuf shares "
                        + "whole pages. Start at \(max(0, range.lowerBound) / page * page) instead")
            }
            guard !range.isEmpty, range.count % page == 0 else {
                // Rounded up to whole pages, where that fits in an Int.
                let up = range.count.addingReportingOverflow(page - 1)
                let use =
                    up.overflow
                    ? "" : " Use \(max(up.partialValue / page * page, page)) bytes (and a memfd at least that large)"
                throw refuse(
                    "The size \(range.count) is not a positive multiple of the page size \(page): udmabuf "
                        + "shares whole pages.\(use)")
            }
            let fileSize = try Sys.stat(fd).map { Int($0.st_size) }.get(operation + ": fstat", on: target)
            guard range.upperBound <= fileSize else {
                throw refuse(
                    "The range \(range) ends past the memfd's \(fileSize) bytes. Make the memfd at least "
                        + "\(range.upperBound) bytes (ftruncate) before sealing it")
            }
            let sum = total.addingReportingOverflow(range.count)
            guard !sum.overflow else {
                throw refuse("The ranges add up to more bytes than an Int holds; udmabuf takes far fewer")
            }
            total = sum.partialValue
        }
        guard let limits else { return }
        if segments.count > limits.listLimit {
            throw DMABufError(
                .invalidArgument, operation: operation,
                hint: "\(segments.count) ranges is above udmabuf's limit of \(limits.listLimit), "
                    + "\(parameters)/list_limit. Raise it as root (echo \(segments.count) > "
                    + "\(parameters)/list_limit) or use fewer ranges")
        }
        if total > limits.sizeLimit {
            let neededMiB = (total + (1 << 20) - 1) >> 20
            throw DMABufError(
                .invalidArgument, operation: operation,
                hint: "\(total) bytes is above udmabuf's limit of \(limits.sizeLimit >> 20) MiB, "
                    + "\(parameters)/size_limit_mb. Raise it as root (echo \(neededMiB) > "
                    + "\(parameters)/size_limit_mb) or use smaller buffers")
        }
    }

    /// Why open of the device failed.
    package static func openHint(_ errno: Errno, path: FilePath) -> String? {
        switch errno {
        case .noSuchFileOrDirectory, .operationNotSupportedByDevice, .noSuchAddressOrDevice:
            if path != defaultPath { return nil }
            return DeviceAccess.hasLoadableModule("udmabuf")
                ? "No \(path): the udmabuf module is not loaded (modprobe udmabuf)"
                : "No \(path): the kernel was built without CONFIG_UDMABUF"
        case .permissionDenied, .notPermitted:
            return DeviceAccess.permissionHint(path, udevSubsystem: "misc")
        default: return nil
        }
    }
}

extension UDMABufDevice {
    /// One range of a memfd for UDMABUF_CREATE_LIST. The fd is borrowed: the caller keeps it open
    /// until the call returns and closes it after.
    public struct Segment: Hashable, Sendable {
        /// The memfd.
        public var memfd: FileDescriptor
        /// The bytes of it, page-aligned.
        public var range: Range<Int>

        /// A segment from its parts.
        public init(memfd: FileDescriptor, range: Range<Int>) {
            self.memfd = memfd
            self.range = range
        }
    }

    /// udmabuf's limits, the module parameters under ``UDMABufDevice/parameters``.
    public struct Limits: Hashable, Sendable {
        /// Most bytes in one dma-buf (`size_limit_mb`, in bytes).
        public var sizeLimit: Int
        /// Most ranges in one UDMABUF_CREATE_LIST (`list_limit`).
        public var listLimit: Int

        /// Limits from their parts.
        public init(sizeLimit: Int, listLimit: Int) {
            self.sizeLimit = sizeLimit
            self.listLimit = listLimit
        }

        /// The limits of the running kernel, or nil where the parameters cannot be read (no udmabuf).
        public static func current() -> Limits? {
            func read(_ name: String) -> Int? {
                guard case .success(let bytes) = Sys.readFile(parameters.appending(name)) else { return nil }
                return Int(String(decoding: bytes, as: UTF8.self).filter { $0.isNumber || $0 == "-" })
            }
            guard let megabytes = read("size_limit_mb"), let list = read("list_limit") else { return nil }
            return Limits(sizeLimit: megabytes << 20, listLimit: list)
        }
    }

    /// A udmabuf and the memfd under it: write the memfd and every mapping of the buffer sees it.
    public struct Backed: ~Copyable, Sendable {
        /// The dma-buf.
        public var buffer: DMABuffer
        /// The memfd whose pages it shares.
        public var memfd: Memfd

        /// A pair from its parts.
        public init(buffer: consuming DMABuffer, memfd: consuming Memfd) {
            self.buffer = buffer
            self.memfd = memfd
        }
    }
}
#endif  // os(Linux)
