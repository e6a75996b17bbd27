import CPNG
import DMABuf
import DMABufV4L2

/// PNG files through libpng's simplified API: reading a picture into XRGB8888 pixels (`dmabuf
/// display`), and writing RGB pixels (a captured frame, a writeback) as an 8-bit RGB PNG.
enum PNGFile {
    /// The picture at `path` as `width` x `height` pixels of XRGB8888 (bytes B, G, R, X; X 0xff),
    /// rows without padding.
    static func readXRGB(_ path: String) throws(DMABufError) -> (width: Int, height: Int, pixels: [UInt8]) {
        var image = png_image()
        image.version = CPNG_PNG_IMAGE_VERSION()
        guard png_image_begin_read_from_file(&image, path) != 0 else {
            throw failure(&image, operation: "png_image_begin_read_from_file", path: path)
        }
        // BGRA is XRGB8888's byte order; the alpha byte becomes X, which scanout ignores.
        image.format = CPNG_PNG_FORMAT_BGRA()
        let width = Int(image.width)
        let height = Int(image.height)
        guard width >= 1, height >= 1, width <= 1 << 14, height <= 1 << 14 else {
            png_image_free(&image)
            throw DMABufError(
                .invalidArgument, operation: "read the PNG", target: path,
                hint: "\(width)x\(height) is not a picture of 1x1 to 16384x16384 pixels")
        }
        var pixels = [UInt8](repeating: 0, count: width * height * 4)
        let finished = pixels.withUnsafeMutableBytes { bytes in
            png_image_finish_read(&image, nil, bytes.baseAddress, Int32(width * 4), nil)
        }
        guard finished != 0 else { throw failure(&image, operation: "png_image_finish_read", path: path) }
        png_image_free(&image)
        for index in stride(from: 3, to: pixels.count, by: 4) { pixels[index] = 0xff }
        return (width, height, pixels)
    }

    /// Writes `width` x `height` XRGB8888 pixels, rows `stride` bytes apart, as an 8-bit RGB PNG
    /// (the X byte is dropped).
    static func writeXRGB(
        _ bytes: UnsafeRawBufferPointer, width: Int, height: Int, stride: Int, to path: String
    ) throws(DMABufError) {
        let rgb = try V4L2Image.rgb24(from: bytes, format: .xbgr32, width: width, height: height, bytesPerLine: stride)
        try writeRGB(rgb, width: width, height: height, to: path)
    }

    /// Writes `width` x `height` pixels of packed 8-bit RGB, rows without padding, as a PNG.
    static func writeRGB(_ rgb: [UInt8], width: Int, height: Int, to path: String) throws(DMABufError) {
        var image = png_image()
        image.version = CPNG_PNG_IMAGE_VERSION()
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = CPNG_PNG_FORMAT_RGB()
        var rgb = rgb
        let written = rgb.withUnsafeMutableBytes { bytes in
            png_image_write_to_file(&image, path, 0, bytes.baseAddress, Int32(width * 3), nil)
        }
        guard written != 0 else { throw failure(&image, operation: "png_image_write_to_file", path: path) }
        png_image_free(&image)
    }

    /// libpng's message as an error; frees the image.
    private static func failure(_ image: inout png_image, operation: String, path: String) -> DMABufError {
        let message = withUnsafeBytes(of: &image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        png_image_free(&image)
        return DMABufError(
            .malformedInput, operation: operation, target: path,
            hint: "libpng: " + (message.isEmpty ? "failed" : message))
    }
}
