#if os(Linux)
/// A DRM pixel format: its four-character code (`DRM_FORMAT_*` in drm_fourcc.h), as KMS planes,
/// framebuffers and other DRM uapi name formats.
///
/// ```swift
/// let format = DRMFormat(name: "XRGB8888")   // .xrgb8888, code "XR24"
/// format?.bytesPerPixel(plane: 0)            // 4
/// ```
///
/// The code's first character is the lowest byte. The names describe a pixel as one little-endian
/// word from its most to its least significant bits: `XRGB8888` is the bytes B, G, R, X in memory.
public struct DRMFormat: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The little-endian four-character code.
    public var rawValue: UInt32

    /// A format from its code.
    public init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    /// A format from four ASCII characters, "XR24".
    public init(fourCC: StaticString) {
        precondition(fourCC.utf8CodeUnitCount == 4, "a fourcc has four characters")
        let bytes = UnsafeBufferPointer(start: fourCC.utf8Start, count: 4)
        self.init(rawValue: bytes.reversed().reduce(0) { $0 << 8 | UInt32($1) })
    }

    /// 32-bit RGB with 8 bits unused, bytes B, G, R, X in memory ("XR24").
    public static let xrgb8888 = DRMFormat(fourCC: "XR24")
    /// 32-bit RGB with alpha, bytes B, G, R, A in memory ("AR24").
    public static let argb8888 = DRMFormat(fourCC: "AR24")
    /// 32-bit RGB with 8 bits unused, bytes R, G, B, X in memory ("XB24").
    public static let xbgr8888 = DRMFormat(fourCC: "XB24")
    /// 16-bit RGB, 5 bits of red, 6 of green, 5 of blue ("RG16").
    public static let rgb565 = DRMFormat(fourCC: "RG16")
    /// 24-bit RGB, bytes R, G, B in memory ("BG24"; V4L2's RGB24).
    public static let bgr888 = DRMFormat(fourCC: "BG24")
    /// 24-bit RGB, bytes B, G, R in memory ("RG24").
    public static let rgb888 = DRMFormat(fourCC: "RG24")
    /// YUV 4:2:2 packed, Y0 U Y1 V ("YUYV").
    public static let yuyv = DRMFormat(fourCC: "YUYV")
    /// YUV 4:2:0 in two planes: Y, then interleaved U and V at half the resolution ("NV12").
    public static let nv12 = DRMFormat(fourCC: "NV12")

    /// The formats this library knows the layout of, with the names drm_fourcc.h gives them.
    private static let known: [(format: DRMFormat, name: String, bytesPerPixel: [Int])] = [
        (.xrgb8888, "XRGB8888", [4]), (.argb8888, "ARGB8888", [4]), (.xbgr8888, "XBGR8888", [4]),
        (.rgb565, "RGB565", [2]), (.bgr888, "BGR888", [3]), (.rgb888, "RGB888", [3]), (.yuyv, "YUYV", [2]),
        (.nv12, "NV12", [1, 2]),
    ]

    /// A format from its four-character code ("XR24") or its drm_fourcc.h name without the
    /// `DRM_FORMAT_` prefix ("XRGB8888", any case); nil for anything else.
    public init?(name: String) {
        if let known = Self.known.first(where: { $0.name == name.uppercased() }) {
            self = known.format
            return
        }
        guard let code = FourCC.code(name) else { return nil }
        rawValue = code
    }

    /// The four-character code, "XR24"; bytes outside printable ASCII as `\xNN`.
    public var fourCC: String { FourCC.text(rawValue) }

    /// drm_fourcc.h's name for the formats this library knows ("XRGB8888"), nil for others.
    public var name: String? { Self.known.first { $0.format == self }?.name }

    /// The code, and the name where it is known: "XR24 (XRGB8888)".
    public var description: String { name.map { "\(fourCC) (\($0))" } ?? fourCC }

    /// Memory planes of the format (NV12 2, the packed formats 1); nil for formats this library
    /// does not know.
    public var planeCount: Int? { Self.known.first { $0.format == self }?.bytesPerPixel.count }

    /// Bytes per pixel in `plane` (for NV12's second plane, bytes per pair of chroma samples,
    /// one for every 2x2 pixels); nil for formats this library does not know or a plane past
    /// the last.
    public func bytesPerPixel(plane: Int) -> Int? {
        guard let sizes = Self.known.first(where: { $0.format == self })?.bytesPerPixel,
            sizes.indices.contains(plane)
        else { return nil }
        return sizes[plane]
    }

    /// The subsampling of `plane`: (1, 1) for full resolution, (2, 2) for NV12's chroma.
    func subsampling(plane: Int) -> (horizontal: Int, vertical: Int) {
        self == .nv12 && plane == 1 ? (2, 2) : (1, 1)
    }
}

/// Four-character codes, as DRM and V4L2 name formats: four bytes, the first character lowest.
package enum FourCC {
    /// The code of four printable ASCII characters, nil for anything else.
    package static func code(_ text: String) -> UInt32? {
        let bytes = Array(text.utf8)
        guard bytes.count == 4, bytes.allSatisfy({ (0x20...0x7e).contains($0) }) else { return nil }
        return bytes.reversed().reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// The four characters; bytes outside printable ASCII as `\xNN`.
    package static func text(_ code: UInt32) -> String {
        (0..<4).map { shift in
            let byte = UInt8(truncatingIfNeeded: code >> (8 * shift))
            return (0x20...0x7e).contains(byte)
                ? String(UnicodeScalar(byte)) : "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16)
        }.joined()
    }
}

/// A DRM format modifier (`DRM_FORMAT_MOD_*`): the tiling or compression of a buffer's pixels,
/// which the producer and the display must agree on.
public struct DRMFormatModifier: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The 64-bit modifier: the vendor in the top 8 bits, the vendor's code below.
    public var rawValue: UInt64

    /// A modifier from its value.
    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// Pixels in rows, row after row (`DRM_FORMAT_MOD_LINEAR`, 0).
    public static let linear = DRMFormatModifier(rawValue: 0)
    /// No modifier: the driver's implicit layout (`DRM_FORMAT_MOD_INVALID`, 2^56 - 1).
    public static let invalid = DRMFormatModifier(rawValue: (1 << 56) - 1)

    /// "linear", "invalid", or the value in hexadecimal.
    public var description: String {
        switch self {
        case .linear: "linear"
        case .invalid: "invalid"
        default: "0x" + String(rawValue, radix: 16)
        }
    }
}
#endif  // os(Linux)
