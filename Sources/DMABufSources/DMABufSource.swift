#if os(Linux)
import DMABuf
import DMABufDRM
import DMABufExporterClient
import SystemPackage

/// Every place this package can get a dma-buf from, and the choice among them.
///
/// ```swift
/// let allocator = try DMABufSource.automatic()  // heap:system, udmabuf, exporter or vgem
/// for skipped in allocator.passedOver { print(skipped.source, skipped.detail) }
/// let buffer = try allocator.allocate(size: 1 << 20, name: "frame")
/// ```
public enum DMABufSource: String, CaseIterable, Sendable, CustomStringConvertible {
    /// The system DMA heap, `/dev/dma_heap/system`.
    case heapSystem = "heap:system"
    /// The CMA DMA heap, under whichever name it has (`DMAHeap.cmaNames`).
    case heapCMA = "heap:cma"
    /// udmabuf, `/dev/udmabuf`, over a memfd.
    case udmabuf
    /// This project's kernel module, `/dev/dmabuf_exporter`.
    case exporter
    /// vgem, the kernel's virtual GEM driver, through DRM PRIME.
    case vgem

    /// The order ``automatic(exporterPath:)`` tries: the system heap first (the kernel's
    /// general-purpose dma-buf allocator, no memfd or driver in between, and what applications are
    /// told to use), then udmabuf (page-backed, always read-write, limited by `size_limit_mb`), then
    /// this project's module (only where it is installed), then vgem (a test driver whose mmap ignores
    /// the offset). The CMA heap is never picked by default: contiguous memory is scarce and meant
    /// for devices that need it.
    public static let automaticOrder: [DMABufSource] = [.heapSystem, .udmabuf, .exporter, .vgem]

    /// Its name as the command line writes it, `rawValue`: what string interpolation shows.
    public var description: String { rawValue }

    /// The exporter name (fdinfo `exp_name`) of this source's buffers: "system", "udmabuf",
    /// "dmabuf_exporter", "drm"; for the CMA heap, the heap's name on this kernel (nil if it has none).
    public var exporterName: String? {
        switch self {
        case .heapSystem: DMAHeap.systemName
        case .heapCMA: DMAHeap.cmaName()
        case .udmabuf: UDMABufDevice.exporterName
        case .exporter: DMABufExporter.exporterName
        case .vgem: DRMDevice.primeExporterName
        }
    }

    /// Whether the source can hand out read-only (O_RDONLY) fds. udmabuf cannot: its fds are
    /// always O_RDWR.
    public var supportsReadOnly: Bool { self != .udmabuf }

    /// Whether mapping part of a buffer from an offset shows the bytes at that offset. vgem ignores
    /// the mmap offset of its dma-bufs and always maps from the start (on 6.1 and 6.12).
    public var honoursMappingOffset: Bool { self != .vgem }

    /// Opens the source.
    ///
    /// - Parameter exporterPath: the exporter module's device, for ``exporter``.
    /// - Throws: the `DMABufError` of opening it, whose hint says why it is not there or
    ///   how to get access.
    public func open(exporterPath: FilePath = DMABufExporter.defaultPath) throws(DMABufError) -> SourceAllocator {
        switch self {
        case .heapSystem: SourceAllocator(self, .heap(try DMAHeap.system()))
        case .heapCMA: SourceAllocator(self, .heap(try DMAHeap.cma()))
        case .udmabuf: SourceAllocator(self, .udmabuf(try UDMABufDevice()))
        case .exporter: SourceAllocator(self, .exporter(try DMABufExporter(path: exporterPath)))
        case .vgem: SourceAllocator(self, .drm(try DRMDevice.open(driver: "vgem")))
        }
    }

    /// Whether the source can be opened now, and if not, why: opens it and closes it again.
    ///
    /// - Parameter exporterPath: the exporter module's device, for ``exporter``.
    public func status(exporterPath: FilePath = DMABufExporter.defaultPath) -> Status {
        do {
            let allocator = try open(exporterPath: exporterPath)
            let path = allocator.path
            try? allocator.close()
            return Status(source: self, isAvailable: true, detail: path.string)
        } catch {
            return Status(source: self, isAvailable: false, detail: Self.reason(error))
        }
    }

    /// Every source's status, in `allCases` order.
    ///
    /// - Parameter exporterPath: the exporter module's device, for ``exporter``.
    public static func survey(exporterPath: FilePath = DMABufExporter.defaultPath) -> [Status] {
        allCases.map { $0.status(exporterPath: exporterPath) }
    }

    /// The first source of ``automaticOrder`` that opens, opened; its
    /// ``SourceAllocator/passedOver`` says why each one before it was not taken.
    ///
    /// - Parameter exporterPath: the exporter module's device, for ``exporter``.
    /// - Throws: `DMABufError.Code.deviceMissing` if none opens, with every reason.
    public static func automatic(exporterPath: FilePath = DMABufExporter.defaultPath) throws(DMABufError)
        -> SourceAllocator
    {
        var passedOver: [Status] = []
        for source in automaticOrder {
            do {
                var allocator = try source.open(exporterPath: exporterPath)
                allocator.passedOver = passedOver
                return allocator
            } catch {
                passedOver.append(Status(source: source, isAvailable: false, detail: reason(error)))
            }
        }
        throw DMABufError(
            .deviceMissing, operation: "pick a dma-buf source",
            hint: "None is available: " + passedOver.map { "\($0.source): \($0.detail)" }.joined(separator: "; "))
    }

    /// The sentence for an unavailable source: the error's hint, which names the node and the cause,
    /// or the whole error.
    private static func reason(_ error: DMABufError) -> String {
        guard let hint = error.hint else { return error.description }
        if hint.hasPrefix("No ") || hint.hasPrefix("/") { return hint }
        if error.code == .deviceMissing, let target = error.target, target.hasPrefix("/") {
            return "No \(target): " + hint.prefix(1).lowercased() + hint.dropFirst()
        }
        return "\(error.target.map { "\($0): " } ?? "")\(error.code): \(hint)"
    }
}

extension DMABufSource {
    /// Whether a source is available, with its node, or why not.
    public struct Status: Hashable, Sendable {
        /// The source.
        public var source: DMABufSource
        /// Whether it opened.
        public var isAvailable: Bool
        /// Its node if it is available ("/dev/dma_heap/system"); otherwise why not ("No
        /// /dev/dma_heap/system: the kernel was built without CONFIG_DMABUF_HEAPS_SYSTEM").
        public var detail: String

        /// A status from its parts.
        public init(source: DMABufSource, isAvailable: Bool, detail: String) {
            self.source = source
            self.isAvailable = isAvailable
            self.detail = detail
        }
    }
}

/// An open source of dma-bufs, whichever kind it is: a `DMABufAllocator` over a DMA heap,
/// udmabuf, the exporter module or vgem.
public struct SourceAllocator: ~Copyable, Sendable, DMABufAllocator {
    enum Backing: ~Copyable, Sendable {
        case heap(DMAHeap)
        case udmabuf(UDMABufDevice)
        case exporter(DMABufExporter)
        case drm(DRMDevice)
    }

    private let backing: Backing
    /// Which source it is.
    public let source: DMABufSource
    /// For ``DMABufSource/automatic(exporterPath:)``: the sources tried before this one, and why
    /// each was passed over. Empty otherwise.
    public internal(set) var passedOver: [DMABufSource.Status] = []

    init(_ source: DMABufSource, _ backing: consuming Backing) {
        self.source = source
        self.backing = backing
    }

    /// The node it allocates from: "/dev/dma_heap/system", "/dev/udmabuf", "/dev/dri/card0", ...
    public var path: FilePath {
        switch backing {
        case .heap(let heap): heap.path
        case .udmabuf(let device): device.path
        case .exporter(let device): device.path
        case .drm(let device): device.path
        }
    }

    /// A new zero-filled, read-write buffer of `size` bytes rounded up to whole pages.
    ///
    /// - Parameters:
    ///   - size: bytes wanted; 1 or more.
    ///   - name: the buffer's name, or nil.
    /// - Throws: the source's errors.
    public func allocate(size: Int, name: String?) throws(DMABufError) -> DMABuffer {
        try allocate(size: size, name: name, accessMode: .readWrite)
    }

    /// A new zero-filled buffer of `size` bytes rounded up to whole pages, with an fd of `accessMode`.
    ///
    /// - Parameters:
    ///   - size: bytes wanted; 1 or more.
    ///   - name: the buffer's name, or nil.
    ///   - accessMode: `.readWrite`, or `.readOnly` where ``DMABufSource/supportsReadOnly``.
    /// - Throws: `DMABufError.Code.unsupported` for `.readOnly` from udmabuf; the source's
    ///   errors.
    public func allocate(
        size: Int, name: String? = nil, accessMode: FileDescriptor.AccessMode
    ) throws(DMABufError) -> DMABuffer {
        switch backing {
        case .heap(let heap): return try heap.allocate(size: size, name: name, accessMode: accessMode)
        case .udmabuf(let device):
            guard accessMode == .readWrite else {
                throw DMABufError(
                    .unsupported, operation: "allocate \(accessMode)", target: device.path.string,
                    hint: "udmabuf hands out read-write fds only")
            }
            return try device.allocate(size: size, name: name)
        case .exporter(let device): return try device.allocate(size: size, name: name, accessMode: accessMode)
        case .drm(let device): return try device.allocate(size: size, name: name, accessMode: accessMode)
        }
    }

    /// Closes the heap or device, reporting failure. Buffers from it stay valid.
    public consuming func close() throws(DMABufError) {
        switch consume backing {
        case .heap(let heap): try heap.close()
        case .udmabuf(let device): try device.close()
        case .exporter(let device): try device.close()
        case .drm(let device): try device.close()
        }
    }
}
#endif  // os(Linux)
