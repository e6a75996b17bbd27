import DMABuf
import DMABufDisplay
import DMABufTestSupport
import DMABufV4L2
import Testing

@Suite struct DRMFormatTests {
    @Test func codesAndNames() {
        #expect(DRMFormat.xrgb8888.rawValue == 0x3432_5258)  // 'X' 'R' '2' '4', little-endian
        #expect(DRMFormat.xrgb8888.fourCC == "XR24")
        #expect(DRMFormat(name: "XRGB8888") == .xrgb8888)
        #expect(DRMFormat(name: "xrgb8888") == .xrgb8888)
        #expect(DRMFormat(name: "XR24") == .xrgb8888)
        #expect(DRMFormat(name: "NV12") == .nv12)
        #expect(DRMFormat(name: "BG24") == .bgr888)
        #expect(DRMFormat.xrgb8888.description == "XR24 (XRGB8888)")
        #expect(DRMFormat(name: "ABCD")?.name == nil)
        for bad in ["", "XR2", "XRGB888", "X\u{e9}24"] {
            #expect(DRMFormat(name: bad) == nil, "\(bad.debugDescription)")
        }
    }

    @Test func planesAndBytesPerPixel() {
        #expect(DRMFormat.xrgb8888.planeCount == 1 && DRMFormat.xrgb8888.bytesPerPixel(plane: 0) == 4)
        #expect(DRMFormat.rgb565.bytesPerPixel(plane: 0) == 2)
        #expect(DRMFormat.bgr888.bytesPerPixel(plane: 0) == 3)
        #expect(DRMFormat.nv12.planeCount == 2 && DRMFormat.nv12.bytesPerPixel(plane: 1) == 2)
        #expect(DRMFormat.xrgb8888.bytesPerPixel(plane: 1) == nil)
        #expect(DRMFormat(name: "ABCD")?.planeCount == nil)
    }

    @Test func modifiers() {
        #expect(DRMFormatModifier.linear.rawValue == 0)
        #expect(DRMFormatModifier.invalid.rawValue == 0x00ff_ffff_ffff_ffff)
        #expect(DRMFormatModifier(rawValue: 0x0100_0000_0000_0001).description == "0x100000000000001")
    }

    /// V4L2 formats and the DRM formats with the same bytes in memory.
    @Test func v4l2Mapping() throws {
        #expect(V4L2PixelFormat.yuyv.drmFormat == .yuyv)
        #expect(V4L2PixelFormat.rgb24.drmFormat == .bgr888)  // R, G, B in memory
        #expect(V4L2PixelFormat.xbgr32.fourCC == "XR24")
        #expect(V4L2PixelFormat.xbgr32.drmFormat == .xrgb8888)  // B, G, R, X in memory
        #expect(V4L2PixelFormat(name: "NV12")?.drmFormat == .nv12)
        #expect(V4L2PixelFormat(name: "MJPG")?.drmFormat == nil)

        let capture = V4L2Format(
            width: 1280, height: 720, pixelFormat: .xbgr32, bytesPerLine: 5120, sizeImage: 3_686_400)
        let layout = try capture.imageLayout()
        #expect(layout.format == .xrgb8888 && layout.width == 1280 && layout.height == 720)
        #expect(layout.planes == [ImageLayout.Plane(buffer: 0, offset: 0, stride: 5120)])
        let nv12 = try V4L2Format(
            width: 64, height: 32, pixelFormat: V4L2PixelFormat(name: "NV12")!, bytesPerLine: 64, sizeImage: 3072
        ).imageLayout()
        #expect(nv12.planes.map(\.offset) == [0, 2048])
        expectError(.unsupported, .libraryMade) {
            try V4L2Format(
                width: 64, height: 32, pixelFormat: V4L2PixelFormat(name: "MJPG")!, bytesPerLine: 0, sizeImage: 1
            )
            .imageLayout()
        }
        expectError(.invalidArgument, .libraryMade) {
            try V4L2Format(width: 1280, height: 720, pixelFormat: .xbgr32, bytesPerLine: 5120, sizeImage: 4096)
                .imageLayout()
        }
    }
}

@Suite struct ImageLayoutTests {
    @Test func packedLayouts() throws {
        let layout = try ImageLayout.packed(width: 1280, height: 720, format: .xrgb8888)
        #expect(layout.planes == [ImageLayout.Plane(buffer: 0, offset: 0, stride: 5120)])
        #expect(layout.modifier == .linear)
        #expect(layout.bufferSizes == [5120 * 720])
        #expect(try ImageLayout.packed(width: 3, height: 2, format: .bgr888, stride: 12).planes[0].stride == 12)
        try layout.validate(bufferSizes: [5120 * 720])
    }

    /// Each field that does not fit is named, with its plane.
    @Test func refusalsNameThePlaneAndTheField() throws {
        func hint(_ layout: ImageLayout, _ sizes: [Int]) -> String? {
            expectError(.invalidArgument, .libraryMade) { try layout.validate(bufferSizes: sizes) }?.hint
        }
        let xrgb = ImageLayout(width: 1280, height: 720, format: .xrgb8888, planes: [.init(stride: 100)])
        #expect(hint(xrgb, [1 << 30]) == "plane 0: stride 100 is less than 1280 x 4 bytes")
        var shifted = xrgb
        shifted.planes = [.init(offset: 4096, stride: 5120)]
        #expect(
            hint(shifted, [5120 * 720])
                == "plane 0: offset 4096 + stride 5120 x 720 rows = 3690496 bytes, more than the 3686400 of buffer 0")
        shifted.planes = [.init(offset: -1, stride: 5120)]
        #expect(hint(shifted, [1 << 30]) == "plane 0: offset -1 is negative")
        shifted.planes = [.init(buffer: 1, stride: 5120)]
        #expect(hint(shifted, [1 << 30]) == "plane 0: buffer 1 is not one of the 1 given")
        shifted.planes = [.init(offset: .max - 10, stride: 5120)]
        #expect(hint(shifted, [1 << 30])?.hasSuffix("overflows") == true)

        let nv12 = ImageLayout(
            width: 64, height: 32, format: .nv12, planes: [.init(stride: 64), .init(offset: 2048, stride: 30)])
        #expect(hint(nv12, [3072]) == "plane 1: stride 30 is less than 32 x 2 bytes")
        var short = nv12
        short.planes[1].stride = 64
        #expect(
            hint(short, [3000])
                == "plane 1: offset 2048 + stride 64 x 16 rows = 3072 bytes, more than the 3000 of buffer 0")
        short.planes.removeLast()
        #expect(hint(short, [3072]) == "NV12 (NV12) has 2 planes, the layout 1")

        expectError(.invalidArgument, .libraryMade) { try ImageLayout.packed(width: 0, height: 1, format: .xrgb8888) }
        expectError(.invalidArgument, .libraryMade) { try ImageLayout.packed(width: 8, height: 8, format: .nv12) }
        expectError(.invalidArgument, .libraryMade) {
            try ImageLayout.packed(width: .max / 2, height: 1, format: .xrgb8888)
        }
    }

    /// A modifier other than linear: the stride is the driver's to judge, the size still checked.
    @Test func tiledLayoutsSkipTheStrideRule() throws {
        let tiled = ImageLayout(
            width: 64, height: 64, format: .xrgb8888, modifier: DRMFormatModifier(rawValue: 0x0100_0000_0000_0001),
            planes: [.init(stride: 128)])
        try tiled.validate(bufferSizes: [128 * 64])
        expectError(.invalidArgument, .libraryMade) { try tiled.validate(bufferSizes: [128 * 63]) }
    }
}

@Suite struct KMSParsingTests {
    /// An IN_FORMATS blob as vkms gives it: two formats, one modifier (linear) for both.
    @Test func inFormatsBlob() throws {
        var bytes: [UInt8] = []
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        for value: UInt32 in [1, 0, 2, 24, 1, 32] { append(value) }  // header
        append(DRMFormat.xrgb8888.rawValue)
        append(DRMFormat.argb8888.rawValue)
        append(UInt64(0b11))  // formats mask
        append(UInt32(0))  // offset
        append(UInt32(0))  // pad
        append(DRMFormatModifier.linear.rawValue)
        let modifiers = try KMSDeviceParsing.inFormats(bytes)
        #expect(modifiers == [.xrgb8888: [.linear], .argb8888: [.linear]])
        expectError(.badResponse, .libraryMade) { try KMSDeviceParsing.inFormats(Array(bytes.prefix(40))) }
        expectError(.badResponse, .libraryMade) { try KMSDeviceParsing.inFormats([1, 2, 3]) }
    }

    /// Flip events among others in one read; a truncated event is refused.
    @Test func flipEvents() throws {
        var bytes: [UInt8] = []
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        append(UInt32(1))  // DRM_EVENT_VBLANK, skipped
        append(UInt32(32))
        bytes += [UInt8](repeating: 0, count: 24)
        append(UInt32(2))  // DRM_EVENT_FLIP_COMPLETE
        append(UInt32(32))
        append(UInt64(7))  // user_data
        append(UInt32(12))  // tv_sec
        append(UInt32(500))  // tv_usec
        append(UInt32(99))  // sequence
        append(UInt32(37))  // crtc_id
        let events = try KMSDeviceParsing.events(bytes)
        #expect(
            events == [
                KMSFlipEvent(crtcID: 37, sequence: 99, timestamp: .seconds(12) + .microseconds(500), userData: 7)
            ])
        expectError(.badResponse, .libraryMade) { try KMSDeviceParsing.events(Array(bytes.prefix(50))) }
    }
}
