import CDMABuf
import Glibc
import SystemPackage
import Testing

@testable import DMABuf

extension DMABufTests {
    /// `HostileInput`'s cases that need a real dma-buf, against /dev/dmabuf_exporter.
    @Suite(.exporterDevice) struct HostileDevice {
        let page = Sys.pageSize

        @Test func allocationSizes() throws {
            let device = try DMABufExporter()
            let limit = try ModuleParameter.maxBufferBytes.value()
            let cases: [(Int, Errno)] = [
                (0, .invalidArgument), (-1, .invalidArgument), (-4096, .invalidArgument), (Int.min, .invalidArgument),
                (Int.max, .fileTooLarge), (Int.max - 4095, .fileTooLarge), (Int(UInt32.max) + 1, .fileTooLarge),
                (1 << 40, .fileTooLarge), (limit + 1, .fileTooLarge),
            ]
            for (size, errno) in cases {
                let error = expectHostile(errno, "allocate(size: \(size))") { try device.allocate(size: size) }
                #expect(error?.hint?.isEmpty == false, "every ALLOC failure says why: \(String(describing: error))")
                expectHostile(errno, "allocate(size: \(size), readOnly)") { try device.allocate(size: size, readOnly: true) }
            }
            #expect(try device.allocate(size: 1).size == page)
        }

        @Test func mappingRangesOutsideTheBuffer() throws {
            let buffer = try DMABufExporter().allocate(size: 3 * page, name: "ranges")
            for range in HostileInput.badRanges(page: page) {
                let error = expectHostile(.invalidArgument, "map(\(range))") { try buffer.map(range) }
                #expect(error?.hint?.contains("page boundary") == true, "\(String(describing: error))")
            }
            for range in [0..<1, 2 * page..<3 * page, 2 * page..<2 * page + 1, 0..<3 * page] {
                var mapping = try buffer.map(range)
                #expect(mapping.offset == range.lowerBound && mapping.count == range.count)
                try mapping.withCPUAccess(.readWrite) { $0.withUnsafeMutableBytes { $0[$0.count - 1] = 0x7E } }
            }
        }

        /// A dma-buf fd closed behind the library's back, its number now free (the lowest free
        /// one, which the library's own opens would take).
        @Test func aClosedDmaBufFd() throws {
            let fd = try DMABufExporter().allocate(size: page).takeDescriptor()
            try fd.close()
            let error = expectHostile(.badFileDescriptor, "adopt") { try DMABuffer(adopting: fd) }
            #expect(error?.target == "fd \(fd.rawValue)")
            expectHostile(.badFileDescriptor, "info") { try DMABufferInfo(of: fd) }
        }

        /// Names are the one part of fdinfo a user controls, byte for byte but NUL: one with
        /// newlines must not break the parse or pose as other fields.
        @Test(arguments: [
            "a\nsize:\t1", "\nexp_name:\tevil\nname:\tx", "\n", "\n\n\n", "x\n", "\t", "\tx", " x ", "name:\tx",
            "garbage line\nno colon", "size:\t99999999999999999999", "\r\n", "x\r", "ok",
        ].map(Quoted.init))
        func hostileNames(quoted: Quoted) throws {
            let name = quoted.text
            func check(_ buffer: borrowing DMABuffer, size: Int) throws {
                let info = try buffer.info
                #expect(info.size == size && info.exporterName == DMABufExporter.exporterName, "\(info)")
                #expect(info.name == name)
                #expect(try buffer.size == size)
                #expect(try DMABuffer(adopting: buffer.duplicate().takeDescriptor()).name == name)
            }
            let device = try DMABufExporter()
            try check(device.allocate(size: 2 * page, name: name), size: 2 * page)  // named by ALLOC
            let buffer = try device.allocate(size: page)
            #expect(try buffer.setName(name) == name)  // named by DMA_BUF_SET_NAME
            try check(buffer, size: page)
        }

        @Test(arguments: ["", "\0", "\0after a NUL", String(repeating: "\n", count: 40), String(repeating: "é", count: 40)]
            .map(Quoted.init))
        func namesTheKernelCannotKeepWhole(quoted: Quoted) throws {
            let name = quoted.text
            let buffer = try DMABufExporter().allocate(size: page, name: name)
            let kept = try buffer.setName(name)
            #expect(kept.utf8.count <= 31 && name.hasPrefix(kept))
            #expect(try buffer.info.name == kept)
            #expect(try buffer.info.size == page)
        }

        /// The shared buffer's text at and past its limit, through `write()` and through a mapping.
        @Test func sharedTextLimits() throws {
            let device = try DMABufExporter()
            defer { try? device.writeShared(DMABufExporter.initialSharedText) }
            let size = DMABufExporter.sharedBufferSize
            let longest = String(repeating: "w", count: size - 1)
            try device.writeShared(longest)
            #expect(try device.readShared() == longest)
            expectHostile(.noSpace, "4096 bytes") { try device.writeShared(longest + "w") }
            expectHostile(.noSpace, "1 MiB") { try device.writeShared(String(repeating: "w", count: 1 << 20)) }
            #expect(try device.readShared() == longest, "a refused write changes nothing")
            try device.writeShared("cut\0here")
            #expect(try device.readShared() == "cut")
            // all 4096 bytes text, no NUL: only a mapping can do that; the device returns it whole
            var mapping = try device.sharedBuffer().map()
            try mapping.withCPUAccess(.write) { $0.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: UInt8(ascii: "m")) } }
            #expect(try device.readShared() == String(repeating: "m", count: size))
        }

        @Test func cpuAccessOnAReadOnlyBufferLeaksNothing() throws {
            var mapping = try DMABufExporter().allocate(size: page, readOnly: true).map()
            for access in [CPUAccess.write, .readWrite] {
                expectHostile(.permissionDenied, "\(access)") { try mapping.withCPUAccess(access) { _ in } }
            }
        }
    }
}
