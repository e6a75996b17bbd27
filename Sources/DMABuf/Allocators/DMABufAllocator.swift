#if os(Linux)
import SystemPackage

/// Something that hands out dma-bufs of a size, optionally named: a DMA heap (``DMAHeap``),
/// udmabuf (``UDMABufDevice``), a DRM device through PRIME (`DRMDevice` in `DMABufDRM`) or this
/// project's kernel module (`DMABufExporter` in `DMABufExporterClient`).
///
/// Buffers outlive the allocator that made them: closing a heap or device leaves them valid.
///
/// ```swift
/// func frame(from allocator: borrowing some DMABufAllocator & ~Copyable) throws(DMABufError) -> DMABuffer {
///     try allocator.allocate(size: 1 << 20, name: "frame")
/// }
/// ```
public protocol DMABufAllocator: ~Copyable {
    /// A new, zero-filled dma-buf of at least `size` bytes, rounded up as the source rounds (to whole
    /// pages for all sources in this package), read-write, named `name` if it is not nil.
    ///
    /// - Parameters:
    ///   - size: bytes wanted; 1 or more.
    ///   - name: the buffer's name (DMA_BUF_SET_NAME, or the source's own naming), cut to the
    ///     kernel's 31 bytes; nil for none.
    /// - Throws: a ``DMABufError``: ``DMABufError/Code/invalidArgument`` for a size below 1, the
    ///   source's limits and the kernel's errors otherwise.
    func allocate(size: Int, name: String?) throws(DMABufError) -> DMABuffer
}

/// The checks every allocator makes before asking the kernel.
package enum AllocationRequest {
    /// Refuses a size below 1 with an error naming `operation` and `target`.
    package static func check(size: Int, operation: String, target: String) throws(DMABufError) {
        guard size >= 1 else {
            throw DMABufError(
                .invalidArgument, operation: operation, target: target,
                hint: "The size \(size) is not a positive number of bytes")
        }
    }

    /// `size` rounded up to whole pages, or an error if that overflows.
    package static func pageRounded(_ size: Int, operation: String, target: String) throws(DMABufError) -> Int {
        let page = Sys.pageSize
        let (padded, overflow) = size.addingReportingOverflow(page - 1)
        guard !overflow else {
            throw DMABufError(
                .invalidArgument, operation: operation, target: target, hint: "The size \(size) is too large")
        }
        return padded / page * page
    }

    /// Names `buffer` if `name` is not nil; on failure the buffer is closed (it goes away with the error).
    package static func name(_ buffer: consuming DMABuffer, _ name: String?) throws(DMABufError) -> DMABuffer {
        if let name { try buffer.setName(name) }
        return buffer
    }
}
#endif  // os(Linux)
