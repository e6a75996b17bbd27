#if os(Linux)
internal import CDMABuf
import DMABuf

/// A V4L2 pixel format: its four-character code (`V4L2_PIX_FMT_*`, "YUYV", "RGB3").
///
/// ```swift
/// let yuyv = V4L2PixelFormat(name: "YUYV")      // .yuyv
/// let rgb = V4L2PixelFormat(name: "RGB24")      // .rgb24, whose code is "RGB3"
/// ```
public struct V4L2PixelFormat: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The little-endian four-character code, as in `v4l2_pix_format.pixelformat`.
    public var rawValue: UInt32

    /// A format from its code.
    public init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    /// YUV 4:2:2, packed: Y0 U Y1 V, two bytes per pixel (`V4L2_PIX_FMT_YUYV`).
    public static let yuyv = V4L2PixelFormat(rawValue: CDMABuf_V4L2_PIX_FMT_YUYV())
    /// 8-bit red, green, blue, three bytes per pixel (`V4L2_PIX_FMT_RGB24`, code "RGB3").
    public static let rgb24 = V4L2PixelFormat(rawValue: CDMABuf_V4L2_PIX_FMT_RGB24())

    /// 32-bit B, G, R, X in memory (`V4L2_PIX_FMT_XBGR32`, code "XR24"): the bytes of DRM's XRGB8888.
    public static let xbgr32 = V4L2PixelFormat(name: "XR24")!

    /// V4L2 codes and the DRM formats with the same bytes in memory.
    private static let drmFormats: [(v4l2: String, drm: DRMFormat)] = [
        ("YUYV", .yuyv), ("RGB3", .bgr888), ("BGR3", .rgb888), ("XR24", .xrgb8888), ("AR24", .argb8888),
        ("XB24", .xbgr8888), ("RGBP", .rgb565), ("NV12", .nv12),
    ]

    /// The DRM format with the same bytes in memory, where there is one: YUYV is YUYV, RGB24
    /// ("RGB3": R, G, B) is BGR888 ("BG24"), XBGR32 ("XR24": B, G, R, X) is XRGB8888 ("XR24"),
    /// NV12 is NV12; nil for formats without a DRM twin this library knows.
    public var drmFormat: DRMFormat? {
        Self.drmFormats.first { $0.v4l2 == fourCC }?.drm
    }

    /// A format from its four-character code ("YUYV", "RGB3", "NV12") or one of the names the
    /// `dmabuf capture` command takes for the common ones ("RGB24"); case-sensitive, as codes
    /// are. nil for anything else, such as a code that is not four printable ASCII characters.
    public init?(name: String) {
        if name == "RGB24" {
            self = .rgb24
            return
        }
        guard let code = FourCC.code(name) else { return nil }
        rawValue = code
    }

    /// The four-character code, "YUYV"; bytes outside printable ASCII as `\xNN`.
    public var fourCC: String { FourCC.text(rawValue) }

    /// The code, and the common name where it differs: "YUYV", "RGB3 (RGB24)".
    public var description: String { self == .rgb24 ? "\(fourCC) (RGB24)" : fourCC }

    /// Bytes per pixel of the packed formats this library can convert (YUYV 2, RGB24 3, XBGR32 4);
    /// nil for others.
    public var bytesPerPixel: Int? {
        switch self {
        case .yuyv: 2
        case .rgb24: 3
        case .xbgr32: 4
        default: nil
        }
    }
}

/// Converting captured frames to 8-bit RGB, for saving them as pictures.
package enum V4L2Image {
    /// The pixels of a `width` x `height` frame in `format` as packed 8-bit RGB, three bytes per
    /// pixel, rows without padding. YUYV is converted with the BT.601 limited-range integer
    /// formulas (Y 16...235 is black to white; U and V are centred on 128); RGB24 is copied row
    /// by row as it is; XBGR32 (DRM's XRGB8888: B, G, R, X) loses its X byte.
    ///
    /// - Parameters:
    ///   - bytes: the frame as the device wrote it.
    ///   - format: its pixel format: YUYV or RGB24.
    ///   - width: pixels per row.
    ///   - height: rows.
    ///   - bytesPerLine: bytes from one row to the next in `bytes` (the format's `bytesperline`).
    /// - Throws: `.invalidArgument` for a format other than YUYV, RGB24 and XBGR32, an odd width for
    ///   YUYV, a stride too small for the width, fewer bytes than the frame needs, or dimensions
    ///   whose frame would not fit in memory.
    package static func rgb24(
        from bytes: UnsafeRawBufferPointer, format: V4L2PixelFormat, width: Int, height: Int, bytesPerLine: Int
    ) throws(DMABufError) -> [UInt8] {
        func refuse(_ why: String) -> DMABufError {
            DMABufError(.invalidArgument, operation: "convert a \(width)x\(height) \(format) frame to RGB", hint: why)
        }
        guard let bytesPerPixel = format.bytesPerPixel else { throw refuse("Only YUYV, RGB24 and XR24 are converted") }
        guard width > 0, height > 0 else { throw refuse("The width and the height must be positive") }
        if format == .yuyv, width % 2 != 0 { throw refuse("YUYV's width is even: two pixels share U and V") }
        // Every product below in Int, or an error: the dimensions are the caller's.
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
        var rgb = [UInt8](repeating: 0, count: output.partialValue)
        rgb.withUnsafeMutableBufferPointer { out in
            for row in 0..<height {
                let line = bytes.baseAddress! + row * bytesPerLine
                let target = out.baseAddress! + row * width * 3
                if format == .rgb24 {
                    target.update(from: line.assumingMemoryBound(to: UInt8.self), count: width * 3)
                    continue
                }
                if format == .xbgr32 {
                    for x in 0..<width {
                        let pixel = line + x * 4
                        (target[x * 3], target[x * 3 + 1], target[x * 3 + 2]) = (
                            pixel.load(fromByteOffset: 2, as: UInt8.self),
                            pixel.load(fromByteOffset: 1, as: UInt8.self),
                            pixel.load(as: UInt8.self)
                        )
                    }
                    continue
                }
                for pair in 0..<(width / 2) {
                    let yuyv = line + pair * 4
                    let u = Int(yuyv.load(fromByteOffset: 1, as: UInt8.self))
                    let v = Int(yuyv.load(fromByteOffset: 3, as: UInt8.self))
                    for half in 0..<2 {
                        let y = Int(yuyv.load(fromByteOffset: half * 2, as: UInt8.self))
                        let pixel = target + (pair * 2 + half) * 3
                        (pixel[0], pixel[1], pixel[2]) = color(y: y, u: u, v: v)
                    }
                }
            }
        }
        return rgb
    }

    /// One pixel, BT.601 limited range, in integers (as in the V4L2 documentation's examples).
    static func color(y: Int, u: Int, v: Int) -> (UInt8, UInt8, UInt8) {
        let c = 298 * (y - 16) + 128
        let d = u - 128
        let e = v - 128
        func clamp(_ value: Int) -> UInt8 { UInt8(min(max(value >> 8, 0), 255)) }
        return (clamp(c + 409 * e), clamp(c - 100 * d - 208 * e), clamp(c + 516 * d))
    }
}
#endif  // os(Linux)
