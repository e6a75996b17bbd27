import DMABuf
import DMABufExporterClient
import DMABufTestSupport
import Glibc
import SystemPackage
import Testing

extension DeviceTests {
    /// The hostile-input cases that need a real dma-buf, against /dev/dmabuf_exporter.
    @Suite(.exporterDevice) struct HostileDevice {
        let page = Sys.pageSize

        @Test func allocationSizes() throws {
            let device = try DMABufExporter()
            let limit = try ModuleParameter.maxBufferBytes.value()
            let cases: [(Int, DMABufError.Code, ExpectedErrno)] = [
                (0, .invalidArgument, .libraryMade), (-1, .invalidArgument, .libraryMade),
                (-4096, .invalidArgument, .libraryMade), (Int.min, .invalidArgument, .libraryMade),
                (Int.max, .limitExceeded, .kernel(.fileTooLarge)),
                (Int.max - 4095, .limitExceeded, .kernel(.fileTooLarge)),
                (Int(UInt32.max) + 1, .limitExceeded, .kernel(.fileTooLarge)),
                (1 << 40, .limitExceeded, .kernel(.fileTooLarge)), (limit + 1, .limitExceeded, .kernel(.fileTooLarge)),
            ]
            for (size, code, errno) in cases {
                let error = expectError(code, errno, "allocate(size: \(size))") { try device.allocate(size: size) }
                #expect(error?.hint?.isEmpty == false, "every ALLOC failure says why: \(String(describing: error))")
                expectError(code, errno, "allocate(size: \(size), read-only)") {
                    try device.allocate(size: size, accessMode: .readOnly)
                }
            }
            #expect(try device.allocate(size: 1).size == page)
        }

        @Test func mappingRangesOutsideTheBuffer() throws {
            let buffer = try DMABufExporter().allocate(size: 3 * page, name: "ranges")
            for range in HostileInputRanges.bad(page: page) {
                expectError(.invalidArgument, .libraryMade, "map(\(range))") { try buffer.map(range) }
            }
            for range in [0..<1, 2 * page..<3 * page, 2 * page..<2 * page + 1, 0..<3 * page] {
                var mapping = try buffer.map(range)
                #expect(mapping.offset == range.lowerBound && mapping.count == range.count)
                try mapping.withCPUAccess(.readWrite) { bytes in
                    bytes.storeBytes(of: 0x7E, toByteOffset: bytes.byteCount - 1, as: UInt8.self)
                }
            }
        }

        /// Names are the one part of fdinfo a user controls, byte for byte but NUL: one with
        /// newlines must not break the parse or pose as other fields.
        @Test(
            arguments: [
                "a\nsize:\t1", "\nexp_name:\tevil\nname:\tx", "\n", "\n\n\n", "x\n", "\t", "\tx", " x ", "name:\tx",
                "garbage line\nno colon", "size:\t99999999999999999999", "\r\n", "x\r", "ok",
            ].map(Quoted.init))
        func hostileNames(quoted: Quoted) throws {
            let name = quoted.text
            func check(_ buffer: borrowing DMABuffer, size: Int) throws {
                let info = try buffer.info()
                #expect(info.size == size && info.exporterName == DMABufExporter.exporterName, "\(info)")
                #expect(info.name == name)
                #expect(buffer.size == size)
                #expect(try DMABuffer(adopting: buffer.duplicate().takeDescriptor()).info().name == name)
            }
            let device = try DMABufExporter()
            try check(device.allocate(size: 2 * page, name: name), size: 2 * page)  // named by ALLOC
            let buffer = try device.allocate(size: page)
            #expect(try buffer.setName(name) == name)  // named by DMA_BUF_SET_NAME
            try check(buffer, size: page)
        }

        @Test(
            arguments: [
                "", "\0", "\0after a NUL", String(repeating: "\n", count: 40), String(repeating: "é", count: 40),
            ]
            .map(Quoted.init))
        func namesTheKernelCannotKeepWhole(quoted: Quoted) throws {
            let name = quoted.text
            let buffer = try DMABufExporter().allocate(size: page, name: name)
            let kept = try buffer.setName(name)
            #expect(kept.utf8.count <= 31 && name.hasPrefix(kept))
            #expect(try buffer.info().name == kept)
            #expect(try buffer.info().size == page)
        }

        /// The shared buffer's text at and past its limit, through `write()` and through a mapping.
        @Test func sharedTextLimits() throws {
            let device = try DMABufExporter()
            defer { try? device.writeShared(DMABufExporter.initialSharedText) }
            let size = DMABufExporter.sharedBufferSize
            let longest = String(repeating: "w", count: size - 1)
            try device.writeShared(longest)
            #expect(try device.readShared() == longest)
            expectError(.limitExceeded, .libraryMade, "4096 bytes") { try device.writeShared(longest + "w") }
            expectError(.limitExceeded, .libraryMade, "1 MiB") {
                try device.writeShared(String(repeating: "w", count: 1 << 20))
            }
            #expect(try device.readShared() == longest, "a refused write changes nothing")
            try device.writeShared("cut\0here")
            #expect(try device.readShared() == "cut")
            // all 4096 bytes text, no NUL: only a mapping can do that; the device returns it whole
            var mapping = try device.sharedBuffer().map()
            try fill(&mapping, with: UInt8(ascii: "m"))
            #expect(try device.readShared() == String(repeating: "m", count: size))
        }

        @Test func cpuWriteAccessOnAReadOnlyBufferIsRefused() throws {
            var mapping = try DMABufExporter().allocate(size: page, accessMode: .readOnly).map()
            for access in [DMABuffer.CPUWriteAccess.write, .readWrite] {
                expectError(.permissionDenied, .libraryMade, "\(access)") { try mapping.withCPUAccess(access) { _ in } }
            }
        }
    }
}

/// The bad ranges of `HostileInput`, for a 3-page buffer.
enum HostileInputRanges {
    static func bad(page: Int) -> [Range<Int>] {
        [
            -page..<page, -1..<page, Int.min..<0, 0..<3 * page + 1, 2 * page..<4 * page, 0..<Int.max,
            Int.max - 1..<Int.max, 1..<page, page + 1..<2 * page, 100..<200, 0..<0, page..<page, Int.max..<Int.max,
        ]
    }
}
