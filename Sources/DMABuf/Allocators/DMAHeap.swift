#if os(Linux)
internal import CDMABuf
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemPackage

/// A DMA heap, `/dev/dma_heap/<name>`: the kernel's general allocator of dma-bufs
/// (DMA_HEAP_IOCTL_ALLOC).
///
/// Which heaps exist depends on the kernel's configuration: `system` (CONFIG_DMABUF_HEAPS_SYSTEM)
/// hands out page-backed buffers; a CMA heap (CONFIG_DMABUF_HEAPS_CMA and a reserved CMA area)
/// hands out physically contiguous ones, under a name that differs between kernels and boards
/// (``cmaNames``).
///
/// ```swift
/// let heap = try DMAHeap.system()
/// let buffer = try heap.allocate(size: 1 << 20, name: "frame")  // exporter "system"
/// ```
public struct DMAHeap: ~Copyable, Sendable, DescriptorOwner, DMABufAllocator {
    /// `/dev/dma_heap`, where every heap has its node.
    public static let directory = FilePath("/dev/dma_heap")
    /// The name of the system heap, and the exporter name its buffers carry.
    public static let systemName = "system"
    /// The names the CMA heap has had across kernels and device trees, in the order ``cma()``
    /// tries them: `linux,cma` and `reserved` (named after the CMA area), `default-pool` and
    /// `default_cma_region`.
    public static let cmaNames = ["linux,cma", "reserved", "default-pool", "default_cma_region"]

    /// The fd's ownership, which ``DescriptorOwner``'s methods use.
    public let _owned: OwnedDescriptor
    /// See ``DescriptorOwner``.
    public consuming func _releaseOwned() -> OwnedDescriptor { _owned }
    /// The heap's name, as under ``directory``.
    public let name: String
    /// The heap's node.
    public var path: FilePath { Self.directory.appending(name) }

    /// Opens the heap `name` (`/dev/dma_heap/<name>`).
    ///
    /// - Throws: ``DMABufError/Code/deviceMissing`` if there is no such heap, with a hint naming
    ///   the kernel option or the heaps there are; ``DMABufError/Code/permissionDenied`` with a
    ///   hint naming the node's group and how to get access.
    public init(name: String) throws(DMABufError) {
        let path = Self.directory.appending(name)
        let fd = try Sys.open(path, O_RDONLY).get(
            "open", on: path.string,
            hint: { errno in Self.openHint(errno, name: name) })
        self._owned = OwnedDescriptor(fd)
        self.name = name
    }

    /// The system heap, `/dev/dma_heap/system`.
    ///
    /// - Throws: as ``init(name:)``.
    public static func system() throws(DMABufError) -> DMAHeap {
        try DMAHeap(name: systemName)
    }

    /// The CMA heap under whichever of its names (``cmaNames``) this kernel gives it.
    ///
    /// - Throws: ``DMABufError/Code/deviceMissing`` if none of them exists; as ``init(name:)``
    ///   if the one that exists cannot be opened.
    public static func cma() throws(DMABufError) -> DMAHeap {
        guard let name = cmaName() else {
            throw DMABufError(
                .deviceMissing, operation: "find the CMA heap", target: directory.string,
                hint: cmaMissingHint)
        }
        return try DMAHeap(name: name)
    }

    /// The name the CMA heap has on this kernel, if it has one.
    public static func cmaName() -> String? {
        cmaNames.first { DeviceAccess.exists(directory.appending($0)) }
    }

    /// The names of the heaps this kernel has (the entries of `/dev/dma_heap`), sorted; empty if the
    /// kernel has no DMA heaps at all.
    ///
    /// - Throws: a ``DMABufError`` if `/dev/dma_heap` exists but cannot be read.
    public static func names() throws(DMABufError) -> [String] {
        switch Sys.listDirectory(directory) {
        case .success(let names): return names
        case .failure(.noSuchFileOrDirectory): return []
        case .failure(let errno): throw DMABufError(errno: errno, operation: "list", target: directory.string)
        }
    }

    /// A new zero-filled, read-write buffer of `size` bytes rounded up to whole pages, named
    /// `name` if it is not nil.
    ///
    /// - Parameters:
    ///   - size: bytes wanted; 1 or more.
    ///   - name: the buffer's name (DMA_BUF_SET_NAME), or nil.
    /// - Throws: as ``allocate(size:name:accessMode:)``.
    public func allocate(size: Int, name: String?) throws(DMABufError) -> DMABuffer {
        try allocate(size: size, name: name, accessMode: .readWrite)
    }

    /// A new zero-filled buffer of `size` bytes rounded up to whole pages, with an fd of
    /// `accessMode` (DMA_HEAP_IOCTL_ALLOC's `fd_flags`, always with O_CLOEXEC).
    ///
    /// - Parameters:
    ///   - size: bytes wanted; 1 or more.
    ///   - name: the buffer's name (DMA_BUF_SET_NAME), or nil.
    ///   - accessMode: `.readWrite`, or `.readOnly` for an fd whose mappings are read-only.
    /// - Throws: ``DMABufError/Code/invalidArgument`` for a size below 1 or an access mode the heap
    ///   refuses; ``DMABufError/Code/outOfMemory``; the kernel's other errors.
    public func allocate(
        size: Int, name: String? = nil, accessMode: FileDescriptor.AccessMode
    ) throws(DMABufError) -> DMABuffer {
        let operation = "DMA_HEAP_IOCTL_ALLOC"
        let target = path.string
        try AllocationRequest.check(size: size, operation: operation, target: target)
        guard accessMode != .writeOnly else {
            throw DMABufError(
                .invalidArgument, operation: operation, target: target,
                hint: "A heap hands out read-write or read-only fds, not write-only ones")
        }
        var request = dma_heap_allocation_data()
        request.len = UInt64(size)
        request.fd_flags = UInt32(bitPattern: accessMode.rawValue | O_CLOEXEC)
        request.heap_flags = 0
        _ = try Sys.ioctl(_owned.rawValue, CDMABuf_DMA_HEAP_IOCTL_ALLOC(), &request).get(
            operation + " of \(size) bytes", on: target,
            hint: { $0 == .noMemory ? "The heap could not find \(size) bytes" : nil })
        // The heap opened it as asked: fd_flags' access mode, close-on-exec.
        let buffer = try DMABuffer(
            returned: CInt(bitPattern: request.fd), by: operation, on: target, accessMode: accessMode,
            closeOnExecIsSet: true)
        return try AllocationRequest.name(buffer, name)
    }

    /// Why open of `/dev/dma_heap/<name>` failed.
    package static func openHint(_ errno: Errno, name: String) -> String? {
        let path = directory.appending(name)
        switch errno {
        case .noSuchFileOrDirectory:
            if !DeviceAccess.exists(directory) {
                return "No \(directory): the kernel was built without DMA heaps (CONFIG_DMABUF_HEAPS)"
            }
            if name == systemName {
                return "No \(path): the kernel was built without CONFIG_DMABUF_HEAPS_SYSTEM"
            }
            let names = (try? Self.names()) ?? []
            return "No heap \(name); this kernel has: \(names.isEmpty ? "none" : names.joined(separator: ", "))"
        case .permissionDenied, .notPermitted:
            return DeviceAccess.permissionHint(path, udevSubsystem: "dma_heap")
        default: return nil
        }
    }

    /// Why there is no CMA heap.
    package static var cmaMissingHint: String {
        let list = cmaNames.joined(separator: ", ")
        if !DeviceAccess.exists(directory) {
            return "No \(directory): the kernel was built without DMA heaps (CONFIG_DMABUF_HEAPS)"
        }
        switch DeviceAccess.kernelConfig("CONFIG_DMABUF_HEAPS_CMA") {
        case false?:
            return "No CMA heap under any of its names (\(list)): the kernel was built without CONFIG_DMABUF_HEAPS_CMA"
        case true?:
            return "No CMA heap under any of its names (\(list)): the kernel has CONFIG_DMABUF_HEAPS_CMA, but no CMA "
                + "area is reserved (cma= on the kernel command line, or a reserved-memory node)"
        case nil:
            return "No CMA heap under any of its names (\(list)): the kernel was built without "
                + "CONFIG_DMABUF_HEAPS_CMA, or no CMA area is reserved (cma= on the kernel command line)"
        }
    }
}
#endif  // os(Linux)
