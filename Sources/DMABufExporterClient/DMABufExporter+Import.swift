#if os(Linux)
internal import CDMABufExporter
import DMABuf
import SystemPackage

extension DMABufExporter {
    /// Has the module import `buffer` and read it the way a driver would
    /// (DMABUF_EXPORTER_IOC_IMPORT): it attaches the dma-buf to a DMA-capable device of its own,
    /// maps the attachment, reads `range` with the CPU between `begin_cpu_access` and
    /// `end_cpu_access` (so it waits for devices' pending writes), and undoes all of it before
    /// it returns.
    ///
    /// The buffer may come from any exporter: this module, a DMA heap, udmabuf, a DRM driver
    /// (PRIME) or V4L2. Compare the result's ``ImportResult/crc32c`` with the CRC-32C of what
    /// was written to prove that what user space wrote through a mapping is what a device reads:
    ///
    /// ```swift
    /// let pattern = FillPattern(seed: 42)
    /// var mapping = try buffer.map()
    /// try mapping.withCPUAccess(.write) { bytes in pattern.fill(&bytes) }
    /// let read = try DMABufExporter().import(buffer, range: 4096..<8192)
    /// assert(read.crc32c == pattern.checksum(of: 4096..<8192))
    /// ```
    ///
    /// - Parameters:
    ///   - buffer: the dma-buf to import; read-only fds work too.
    ///   - range: the bytes to read, non-empty and within the buffer; nil reads all of it.
    /// - Returns: the buffer's size, the range's CRC-32C as the kernel read it, the number of DMA
    ///   segments of the module's mapping, the exporter's name and how the module read the bytes.
    /// - Throws: `.invalidArgument` for an empty range or one outside the buffer (found by the
    ///   library), or when the module refuses the request (EINVAL: the fd is not a dma-buf, the
    ///   range is outside it, or an exporter without vmap sits behind an IOMMU);
    ///   `.badDescriptor` if the buffer's fd is write-only or was closed behind its back (EBADF); `.unsupported`
    ///   from a module without IMPORT (ENOTTY); the exporter's own error, such as
    ///   `.outOfMemory`, when it cannot be attached, mapped, vmapped or read; `.badResponse` if
    ///   the answer cannot be from the module.
    public func `import`(_ buffer: borrowing DMABuffer, range: Range<Int>? = nil) throws(DMABufError) -> ImportResult {
        let fd = buffer.withUnsafeDescriptor(\.rawValue)
        let size = buffer.size
        let operation = "IMPORT ioctl of dma-buf fd \(fd)"
        let offset: Int
        let length: Int
        if let range {
            guard !range.isEmpty, range.lowerBound >= 0, range.upperBound <= size else {
                throw DMABufError(
                    .invalidArgument, operation: operation, target: path.string,
                    hint: "The range \(range) must be non-empty and lie within the buffer's \(size) bytes")
            }
            offset = range.lowerBound
            length = range.count
        } else {
            offset = 0
            length = 0  // to the end
        }
        var request = dmabuf_exporter_import()  // zero: flags, reserved0 and reserved must be
        request.fd = fd
        request.offset = UInt64(offset)
        request.length = UInt64(length)
        _ = try Sys.ioctl(descriptor, CDMABufExporter_DMABUF_EXPORTER_IOC_IMPORT(), &request)
            .get(operation, on: path.string, code: Self.importCode, hint: Self.importHint)
        let expected = range ?? 0..<size
        let exporterName = withUnsafeBytes(of: &request.exp_name) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        guard request.size == UInt64(size), request.nents > 0, !exporterName.isEmpty else {
            throw DMABufError(
                .badResponse, operation: operation, target: path.string,
                hint: "The device reported success with size \(request.size) (the buffer has \(size) bytes), "
                    + "\(request.nents) DMA segments and exporter \"\(exporterName)\": it is not the dmabuf_exporter "
                    + "device")
        }
        return ImportResult(
            size: size, range: expected, crc32c: request.crc32c, segmentCount: Int(request.nents),
            exporterName: exporterName, readPath: ReadPath(rawValue: request.read_via))
    }

    /// What the module found when it imported a dma-buf: the result of
    /// ``DMABufExporter/import(_:range:)``.
    public struct ImportResult: Hashable, Sendable {
        /// The buffer's size in bytes, as the kernel knows it.
        public var size: Int
        /// The bytes the module read.
        public var range: Range<Int>
        /// The CRC-32C (Castagnoli, as `CRC32C` computes it) of ``range`` as the kernel read it.
        public var crc32c: UInt32
        /// The DMA segments (`nents`) of the module's mapping of the buffer: 1 for physically
        /// contiguous memory, up to one per page.
        public var segmentCount: Int
        /// The exporter's name (`exp_name`): "dmabuf_exporter", "system", "udmabuf", "drm" for vgem,
        /// "videobuf2_vmalloc" for vivid, ...
        public var exporterName: String
        /// How the module read the bytes.
        public var readPath: ReadPath

        /// A result from its parts.
        public init(
            size: Int, range: Range<Int>, crc32c: UInt32, segmentCount: Int, exporterName: String,
            readPath: ReadPath
        ) {
            self.size = size
            self.range = range
            self.crc32c = crc32c
            self.segmentCount = segmentCount
            self.exporterName = exporterName
            self.readPath = readPath
        }
    }

    /// How the module read an imported buffer (the request's `read_via`).
    public struct ReadPath: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The value the module reported.
        public var rawValue: UInt32

        /// A read path from the module's value.
        public init(rawValue: UInt32) {
            self.rawValue = rawValue
        }

        /// Through the kernel's mapping of the buffer, `dma_buf_vmap()`: every exporter with vmap.
        public static let vmap = ReadPath(rawValue: UInt32(DMABUF_EXPORTER_IMPORT_VIA_VMAP))
        /// At the DMA addresses of the module's mapping: what older versions of the module reported
        /// for an exporter without vmap. The module now refuses such a buffer (EOPNOTSUPP).
        public static let dmaAddresses = ReadPath(rawValue: UInt32(DMABUF_EXPORTER_IMPORT_VIA_DMA))

        /// "vmap", "DMA addresses", or the module's number for a path this library does not know.
        public var description: String {
            switch self {
            case .vmap: "vmap"
            case .dmaAddresses: "DMA addresses"
            default: "read path \(rawValue)"
            }
        }
    }

    private static func importCode(_ errno: Errno) -> DMABufError.Code? {
        errno == .badFileDescriptor ? .badDescriptor : nil
    }

    private static func importHint(_ errno: Errno) -> String? {
        switch errno {
        case .badFileDescriptor:
            "The buffer's fd is write-only (IMPORT reads it, as read(2) would) or not open: closed behind the "
                + "DMABuffer's back"
        case .invalidArgument:
            "The module refused the request: the fd is not a dma-buf, or the range is not inside the buffer"
        case .notSupported:
            "The buffer's exporter has no kernel mapping (vmap), so the module cannot read it coherently "
                + "(udmabuf before Linux 6.2 has none). Read it through its own mapping with CPU access "
                + "(DMA_BUF_IOCTL_SYNC), or import it into a driver that reads it by DMA"
        case .messageTooLong:
            "The buffer's segments are longer than this machine's DMA can map in one piece: bounce buffering "
                + "(swiotlb, confidential guests, Xen) maps at most 256 KiB at a time, and the system heap's "
                + "segments are 1 MiB. Allocate from a source with page-sized segments (the exporter, vgem)"
        case .inappropriateIOCTLForDevice:
            "This is not the dmabuf_exporter device, or a version of it without IMPORT"
        case .noMemory: "The kernel or the buffer's exporter ran out of memory while attaching, mapping or reading it"
        default:
            "The buffer's exporter could not be attached, mapped or read by the module; this is its error"
        }
    }
}
#endif  // os(Linux)
