import DMABuf
import DMABufDRM
import DMABufV4L2
import SystemPackage
import Testing

/// Input whose arithmetic used to overflow, or whose count was negative, and trapped: each is
/// refused with an error instead.
@Suite struct NoTraps {
    @Test func udmabufCheckOfTheWholeAddressSpace() throws {
        let memfd = try Memfd(size: 4096)
        let fd = memfd.withUnsafeDescriptor { $0 }
        #expect(throws: DMABufError.self) {
            try UDMABufDevice.check([UDMABufDevice.Segment(memfd: fd, range: 0..<Int.max)], limits: nil)
        }
    }

    @Test func rgb24OfHugeDimensions() {
        let frame = [UInt8](repeating: 0, count: 64)
        frame.withUnsafeBytes { bytes in
            #expect(throws: DMABufError.self) {
                try V4L2Image.rgb24(from: bytes, format: .yuyv, width: Int.max / 2 + 1, height: 2, bytesPerLine: 8)
            }
            #expect(throws: DMABufError.self) {
                try V4L2Image.rgb24(from: bytes, format: .rgb24, width: 2, height: Int.max, bytesPerLine: Int.max)
            }
        }
    }

    @Test func memfdReadOfANegativeCount() throws {
        let memfd = try Memfd(size: 4096)
        #expect(throws: DMABufError.self) { try memfd.read(count: -1, at: 0) }
        #expect(throws: DMABufError.self) { try memfd.read(count: 2, at: Int.max) }
    }

    /// What DRM_IOCTL_MODE_CREATE_DUMB answers is the driver's: a size above Int.max is refused.
    @Test func dumbBufferLargerThanIntMax() {
        #expect(throws: DMABufError.self) {
            try DRMDevice.DumbBuffer(
                handle: 1, width: 1, height: 1, bitsPerPixel: 32, pitch: 4, size: UInt64(Int.max) + 1, device: "card0")
        }
    }
}
