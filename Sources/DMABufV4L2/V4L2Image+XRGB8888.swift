#if os(Linux)
import DMABuf

extension V4L2Image {
    /// The pixels of a `width` x `height` XRGB8888 image as packed 8-bit RGB, three bytes per pixel,
    /// rows without padding; the X byte is dropped. XRGB8888 is DRM's "XR24" (a 32-bit little-endian
    /// word x:R:G:B, so B, G, R, X in memory), the layout of V4L2's XBGR32 (also "XR24") and of
    /// what a KMS writeback connector writes.
    ///
    /// - Parameters:
    ///   - bytes: the image.
    ///   - width: pixels per row.
    ///   - height: rows.
    ///   - bytesPerLine: bytes from one row to the next in `bytes` (the stride).
    /// - Throws: `.invalidArgument` for a stride too small for the width, fewer bytes than the image
    ///   needs, or dimensions whose image would not fit in memory.
    package static func rgb24(
        fromXRGB8888 bytes: UnsafeRawBufferPointer, width: Int, height: Int, bytesPerLine: Int
    ) throws(DMABufError) -> [UInt8] {
        try checkShape(
            of: bytes, width: width, height: height, bytesPerPixel: 4, bytesPerLine: bytesPerLine, format: "XRGB8888")
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        rgb.withUnsafeMutableBufferPointer { out in
            for row in 0..<height {
                let line = bytes.baseAddress! + row * bytesPerLine
                let target = out.baseAddress! + row * width * 3
                for column in 0..<width {
                    let pixel = line + column * 4
                    target[column * 3] = pixel.load(fromByteOffset: 2, as: UInt8.self)
                    target[column * 3 + 1] = pixel.load(fromByteOffset: 1, as: UInt8.self)
                    target[column * 3 + 2] = pixel.load(fromByteOffset: 0, as: UInt8.self)
                }
            }
        }
        return rgb
    }

    /// Checks that `bytes` hold a packed `width` x `height` image of `bytesPerPixel` bytes per pixel
    /// and `bytesPerLine` bytes per row, and that its RGB copy (three bytes per pixel) fits in an
    /// `Int`: every product is checked, since the dimensions are the caller's.
    static func checkShape(
        of bytes: UnsafeRawBufferPointer, width: Int, height: Int, bytesPerPixel: Int, bytesPerLine: Int,
        format: String
    ) throws(DMABufError) {
        func refuse(_ why: String) -> DMABufError {
            DMABufError(.invalidArgument, operation: "convert a \(width)x\(height) \(format) frame to RGB", hint: why)
        }
        guard width > 0, height > 0 else { throw refuse("The width and the height must be positive") }
        let line = width.multipliedReportingOverflow(by: bytesPerPixel)
        let rows = (height - 1).multipliedReportingOverflow(by: bytesPerLine)
        let pixels = width.multipliedReportingOverflow(by: height)
        let output = pixels.partialValue.multipliedReportingOverflow(by: 3)
        guard !line.overflow, !rows.overflow, !pixels.overflow, !output.overflow else {
            throw refuse("The frame is larger than memory can hold")
        }
        guard bytesPerLine >= line.partialValue else {
            throw refuse("\(bytesPerLine) bytes per line is less than the \(line.partialValue) of a line's pixels")
        }
        let needed = rows.partialValue.addingReportingOverflow(line.partialValue)
        guard !needed.overflow, bytes.count >= needed.partialValue else {
            throw refuse("The \(bytes.count) bytes given are fewer than the frame's")
        }
    }
}
#endif  // os(Linux)
