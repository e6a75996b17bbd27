import ArgumentParser
import CDMABuf
import DMABuf
import DMABufV4L2
import Testing

@testable import DMABufCLI

@Suite struct V4L2PixelFormatTests {
    @Test func namesAndCodes() {
        #expect(V4L2PixelFormat(name: "YUYV") == .yuyv)
        #expect(V4L2PixelFormat.yuyv.rawValue == CDMABuf_V4L2_PIX_FMT_YUYV())
        #expect(V4L2PixelFormat(name: "RGB24") == .rgb24)
        #expect(V4L2PixelFormat(name: "RGB3") == .rgb24)
        #expect(V4L2PixelFormat.rgb24.fourCC == "RGB3")
        #expect(V4L2PixelFormat(name: "NV12")?.fourCC == "NV12")
        #expect(V4L2PixelFormat(rawValue: 0x0000_4141).fourCC == "AA\\x00\\x00")
        for bad in ["", "YUV", "YUYVY", "yuv\u{7f}", "Y\u{e9}V", "RGB 24"] {
            #expect(V4L2PixelFormat(name: bad) == nil, "\(bad.debugDescription)")
        }
    }

    @Test func sizes() {
        #expect(V4L2Format.parseSize("640x360")! == (640, 360))
        for bad in ["", "640", "640x", "x360", "0x360", "640x0", "-1x2", "640x360x1", "６40x360", "640X360"] {
            #expect(V4L2Format.parseSize(bad) == nil, "\(bad.debugDescription)")
        }
    }

    @Test func captureOptions() throws {
        #expect(Capture.parseControl("osd_text_mode=2")! == ("osd_text_mode", 2))
        #expect(Capture.parseControl("a=b=-3")! == ("a=b", -3))
        for bad in ["=2", "x", "x=", "x=2.5", "x=99999999999"] { #expect(Capture.parseControl(bad) == nil) }
        for bad in [
            ["--format", "YUV"], ["--size", "640"], ["--into", "floppy"], ["--frames", "0"],
            ["--control", "x"], ["--save", "frame.jpg"], ["--timeout", "0"],
        ] {
            #expect(throws: (any Error).self, "\(bad)") { try Capture.parse(bad) }
        }
        _ = try Capture.parse(["--format", "RGB24", "--size", "320x180", "--into", "heap", "--save", "f.png"])
    }
}

@Suite struct YUYVConversionTests {
    /// One YUYV pixel pair, converted.
    func convert(_ y0: UInt8, _ u: UInt8, _ y1: UInt8, _ v: UInt8) -> [UInt8]? {
        [y0, u, y1, v].withUnsafeBytes {
            try? V4L2Image.rgb24(from: $0, format: .yuyv, width: 2, height: 1, bytesPerLine: 4)
        }
    }

    @Test func knownColours() {
        #expect(convert(16, 128, 235, 128) == [0, 0, 0, 255, 255, 255])  // black, white
        // BT.601 limited-range red, green and blue (Y, U, V from the standard's matrix).
        let red = convert(82, 90, 82, 240)!
        #expect(red[0] >= 253 && red[1] <= 2 && red[2] <= 2, "\(red)")
        let green = convert(145, 54, 145, 34)!
        #expect(green[0] <= 2 && green[1] >= 253 && green[2] <= 2, "\(green)")
        let blue = convert(41, 240, 41, 110)!
        #expect(blue[0] <= 2 && blue[1] <= 2 && blue[2] >= 253, "\(blue)")
        // Y outside 16...235 clamps instead of wrapping.
        #expect(convert(0, 128, 255, 128) == [0, 0, 0, 255, 255, 255])
    }

    @Test func strideAndShape() throws {
        // Two rows of one pair each, with 4 bytes of padding per row: the padding is skipped.
        let bytes: [UInt8] = [16, 128, 16, 128, 9, 9, 9, 9, 235, 128, 235, 128, 9, 9, 9, 9]
        let rgb = try bytes.withUnsafeBytes {
            try V4L2Image.rgb24(from: $0, format: .yuyv, width: 2, height: 2, bytesPerLine: 8)
        }
        #expect(rgb == [0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255])
        let rows: [UInt8] = [1, 2, 3, 4, 5, 6, 0, 0, 7, 8, 9, 10, 11, 12, 0, 0]
        #expect(
            try rows.withUnsafeBytes {
                try V4L2Image.rgb24(from: $0, format: .rgb24, width: 2, height: 2, bytesPerLine: 8)
            } == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
        // XR24 (B, G, R, X in memory): red, green, blue; the X byte and the padding go.
        let xrgb: [UInt8] = [3, 2, 1, 0xee, 6, 5, 4, 0xee, 0, 0, 9, 8, 7, 0xee, 0, 0, 0, 0, 0, 0]
        #expect(
            try xrgb.withUnsafeBytes {
                try V4L2Image.rgb24(from: $0, format: .xbgr32, width: 2, height: 2, bytesPerLine: 10)
            } == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0])
        let refused: [(V4L2PixelFormat, width: Int, height: Int, bytesPerLine: Int)] = [
            (.yuyv, 3, 1, 8),  // odd width
            (.yuyv, 4, 1, 4),  // stride too small
            (.yuyv, 2, 3, 8),  // too few bytes
            (V4L2PixelFormat(name: "NV12")!, 2, 1, 8),
            (.yuyv, 0, 1, 8),
        ]
        bytes.withUnsafeBytes { raw in
            for (format, width, height, bytesPerLine) in refused {
                #expect(throws: DMABufError.self) {
                    try V4L2Image.rgb24(
                        from: raw, format: format, width: width, height: height, bytesPerLine: bytesPerLine)
                }
            }
        }
    }
}
