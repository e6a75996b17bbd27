import CDMABuf
import Glibc
import SystemPackage
import Testing

@testable import DMABuf
@testable import DMABufCLI

extension DMABufTests {
    /// Against the real module, /dev/dmabuf_exporter.
    @Suite(.exporterDevice) struct ExporterDevice {
        let page = Sys.pageSize

        /// Fills `mapping` with `byte` inside a write bracket.
        func fill(_ mapping: inout DMABufferMapping, with byte: UInt8) throws {
            try mapping.withCPUAccess(.write) { $0.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: byte) } }
        }

        func allBytes(of mapping: inout DMABufferMapping, equal byte: UInt8) throws -> Bool {
            try mapping.withCPUAccess(.read) { $0.withUnsafeBytes { $0.allSatisfy { $0 == byte } } }
        }

        // MARK: The article's flow

        @Test func articleFlow() throws {
            let device = try DMABufExporter()
            try device.writeShared(DMABufExporter.initialSharedText)  // as at module load

            let buffer = try device.sharedBuffer()
            #expect(try buffer.size == DMABufExporter.sharedBufferSize)
            #expect(try buffer.exporterName == DMABufExporter.exporterName)
            #expect(try buffer.isWritable)

            var mapping = try buffer.map()
            #expect(try mapping.withCPUAccess(.read) { $0.withUnsafeBytes(cString) } == "Data inited by kernel!")

            let text = "Hello from user space!"
            try mapping.withCPUAccess(.write) { $0.withUnsafeMutableBytes { $0.copyBytes(from: Array(text.utf8) + [0]) } }
            #expect(try device.readShared() == text)
            #expect(try DMABufExporter().readShared() == text, "another open file sees the same shared buffer")

            // the kernel as producer
            try device.writeShared("Kernel wrote this")
            #expect(try mapping.withCPUAccess(.read) { $0.withUnsafeBytes(cString) } == "Kernel wrote this")
        }

        @Test func demoCommandSucceeds() throws {
            try Demo.parse(["--text", "Hello from the test suite"]).run()
            #expect(try DMABufExporter().readShared() == "Hello from the test suite")
        }

        @Test func allocCommandSucceeds() async throws {
            try await Alloc.parse(["--size", "64K", "--name", "cli-test", "--read-only"]).run()
        }

        // MARK: Allocation

        @Test(arguments: [(1, 1), (4096, 1), (4097, 2), (65536, 16), (4 << 20, 1024)])
        func allocRoundsUpToPagesAndZeroFills(size: Int, pages: Int) throws {
            let buffer = try DMABufExporter().allocate(size: size)
            #expect(try buffer.size == pages * 4096)
            let info = try buffer.info
            #expect(info.size == pages * 4096 && info.exporterName == DMABufExporter.exporterName && info.name == nil)
            var mapping = try buffer.map()
            #expect(try allBytes(of: &mapping, equal: 0))
        }

        @Test func allocErrors() throws {
            let device = try DMABufExporter()
            let zero = expectError(.invalidArgument) { try device.allocate(size: 0) }
            #expect(zero?.description == "ALLOC ioctl on /dev/dmabuf_exporter: Invalid argument [EINVAL]. The size must not be 0")
            let limit = try ModuleParameter.maxBufferBytes.value()
            let tooBig = expectError(.fileTooLarge) { try device.allocate(size: limit + 1) }
            #expect(tooBig?.description.contains("max_buffer_bytes") == true)
            expectError(.invalidArgument) { try device.allocate(size: -4096) }
            // a failed ALLOC installs no fd
            let before = openDescriptorCount()
            _ = try? device.allocate(size: 0)
            #expect(openDescriptorCount() == before)
        }

        @Test(.enabled(if: ModuleParameter.writable || TestEnvironment.requiresDevices, "needs root to set module parameters"))
        func quotas() throws {
            try ModuleParameter.maxFileBytes.with(4 * page) {
                let device = try DMABufExporter()
                var held = try device.allocate(size: 3 * page)
                let over = expectError(.diskQuotaExceeded) { try device.allocate(size: 2 * page) }
                #expect(over?.description.contains("max_file_bytes") == true)
                _ = try device.allocate(size: page)  // exactly at the limit, freed at once
                try DMABufExporter().allocate(size: 4 * page).close()  // another open file has its own quota
                try held.close()
                held = try device.allocate(size: 4 * page)  // closing gave the bytes back
                _ = held
            }
            try ModuleParameter.maxTotalBytes.with(4 * page) {
                let first = try DMABufExporter().allocate(size: 4 * page)
                let over = expectError(.noSpace) { try DMABufExporter().allocate(size: page) }
                #expect(over?.description.contains("max_total_bytes") == true)
                try first.close()
                try DMABufExporter().allocate(size: page).close()
            }
        }

        // MARK: Mapping views

        @Test func mappingViewsAndRanges() throws {
            let buffer = try DMABufExporter().allocate(size: 3 * page, name: "views")
            var whole = try buffer.map()
            try whole.withCPUAccess(.write) { mapping in
                var bytes = mapping.mutableBytes
                for index in 0..<3 { bytes.storeBytes(of: UInt8(0xA0 + index), toByteOffset: index * page, as: UInt8.self) }
            }
            for index in 0..<3 {
                var part = try buffer.map(index * page..<(index + 1) * page)
                #expect(part.offset == index * page && part.count == page)
                let first = try part.withCPUAccess(.read) { $0.bytes.unsafeLoad(as: UInt8.self) }
                #expect(first == UInt8(0xA0 + index), "the exporter honours the mmap offset")
            }
            // a partial page at the end is fine; beyond the buffer is not
            #expect(try buffer.map(2 * page..<2 * page + 100).count == 100)
            expectError(.invalidArgument) { try buffer.map(2 * page..<4 * page) }
            expectError(.invalidArgument) { try buffer.map(100..<page) }
            // the kernel refuses what the library would not ask for: beyond the end, MAP_PRIVATE
            buffer.withUnsafeDescriptor { fd in
                #expect(throws: Errno.invalidArgument) { try Sys.mmap(fd, count: page, offset: 3 * page, protection: PROT_READ).get() }
                let privateMap = Glibc.mmap(nil, page, PROT_READ, MAP_PRIVATE, fd.rawValue, 0)
                #expect(privateMap == UnsafeMutableRawPointer(bitPattern: -1) && Glibc.errno == EINVAL)
            }
        }

        // MARK: CPU access

        @Test func syncWithBadFlagsIsRefused() throws {
            let buffer = try DMABufExporter().allocate(size: page)
            let mask = CDMABuf_DMA_BUF_SYNC_VALID_FLAGS_MASK()
            buffer.withUnsafeDescriptor { fd in
                #expect(DMABufferMapping.syncIoctl(fd, 0).map { 0 } == .failure(.invalidArgument), "no direction")
                #expect(DMABufferMapping.syncIoctl(fd, ~mask).map { 0 } == .failure(.invalidArgument), "unknown bits")
                #expect(DMABufferMapping.syncIoctl(fd, syncStart | syncRead | (mask + 1)).map { 0 } == .failure(.invalidArgument))
                #expect(DMABufferMapping.syncIoctl(fd, syncStart | syncRead).map { 0 } == .success(0))
                #expect(DMABufferMapping.syncIoctl(fd, syncEnd | syncRead).map { 0 } == .success(0))
            }
        }

        @Test func cpuAccessSurvivesASignalStorm() throws {
            var mapping = try DMABufExporter().allocate(size: 64 * page).map()
            let rounds = 3000
            let (_, signals) = try withSignalStorm {
                for _ in 0..<rounds {
                    try mapping.withCPUAccess(.readWrite) { $0.withUnsafeMutableBytes { $0[0] &+= 1 } }
                }
            }
            #expect(signals > 0, "the storm reached the thread")
            #expect(try mapping.withCPUAccess(.read) { $0.bytes.unsafeLoad(as: UInt8.self) } == UInt8(truncatingIfNeeded: rounds))
        }

        // MARK: Read-only fds

        @Test func readOnlyBuffers() throws {
            let buffer = try DMABufExporter().allocate(size: 2 * page, readOnly: true)
            #expect(try !buffer.isWritable)
            #expect(try buffer.info.openFlags.map { $0 & O_ACCMODE } == O_RDONLY)
            #expect(try !buffer.duplicate().isWritable)
            var mapping = try buffer.map()
            let writable = mapping.isWritable
            #expect(!writable)
            expectError(.permissionDenied) { try mapping.withCPUAccess(.write) { _ in } }
            expectError(.permissionDenied) { try mapping.withCPUAccess(.readWrite) { _ in } }
            #expect(try allBytes(of: &mapping, equal: 0))
            // the kernel refuses a writable mapping of it
            buffer.withUnsafeDescriptor { fd in
                _ = #expect(throws: Errno.permissionDenied) {
                    try Sys.mmap(fd, count: page, offset: 0, protection: PROT_READ | PROT_WRITE).get()
                }
            }
        }

        // MARK: Names and identity

        @Test func names() throws {
            let device = try DMABufExporter()
            let long = String(repeating: "n", count: 40)
            #expect(try device.allocate(size: page, name: long).name == String(long.prefix(31)))
            #expect(try device.allocate(size: page, name: "").name == nil)

            let buffer = try device.allocate(size: page, name: "first")
            #expect(try buffer.name == "first")
            #expect(try buffer.setName(long) == String(long.prefix(31)))
            #expect(try buffer.name == String(long.prefix(31)))
            let accented = String(repeating: "a", count: 30) + "é"
            #expect(try buffer.setName(accented) == String(repeating: "a", count: 30))
            #expect(try buffer.name == String(repeating: "a", count: 30))
            #expect(try buffer.setName("frame ✓") == "frame ✓")
            #expect(try buffer.duplicate().name == "frame ✓", "the name belongs to the buffer, not the fd")
        }

        @Test func identityByInode() throws {
            let device = try DMABufExporter()
            let first = try device.sharedBuffer(), second = try device.sharedBuffer()
            #expect(try first.identity != second.identity, "each GET_SHARED_FD exports a new dma-buf")
            #expect(try first.identity == first.duplicate().identity)
            let allocated = try device.allocate(size: page)
            #expect(try allocated.identity != first.identity)
            if let inode = try allocated.info.inode {
                #expect(inode == (try allocated.identity.inode), "fdinfo and fstat agree")
            }
        }

        // MARK: Lifetime

        @Test func bufferOutlivesDeviceAndOwner() throws {
            var mapping: DMABufferMapping
            let survivor: DMABuffer
            do {
                let device = try DMABufExporter()
                let buffer = try device.allocate(size: 2 * page, name: "survivor")
                mapping = try buffer.map()
                survivor = try buffer.duplicate()
                try device.close()
                try buffer.close()
            }
            try fill(&mapping, with: 0x5A)
            var second = try survivor.map()
            #expect(try allBytes(of: &second, equal: 0x5A))
            #expect(try survivor.name == "survivor")
            _ = consume mapping
            try fill(&second, with: 0x33)
            _ = consume second
            var third = try survivor.map()
            #expect(try allBytes(of: &third, equal: 0x33))
        }

        @Test func sharedBufferOutlivesTheDevice() throws {
            var mapping: DMABufferMapping
            do {
                let device = try DMABufExporter()
                try device.writeShared("before close")
                mapping = try device.sharedBuffer().map()
            }
            #expect(try mapping.withCPUAccess(.read) { $0.withUnsafeBytes(cString) } == "before close")
            try mapping.withCPUAccess(.write) { $0.withUnsafeMutableBytes { $0.copyBytes(from: Array("after close\0".utf8)) } }
            #expect(try DMABufExporter().readShared() == "after close")
        }

        @Test func adoptsItsOwnBuffers() throws {
            let fd = try DMABufExporter().allocate(size: page, name: "adopted").takeDescriptor()
            let adopted = try DMABuffer(adopting: fd)
            #expect(try adopted.name == "adopted")
            #expect(try adopted.exporterName == DMABufExporter.exporterName)
        }
    }

    /// Buffers from another exporter: vgem, the kernel's virtual GEM driver.
    @Suite(.vgemDevice) struct VGEMImport {
        @Test func adoptsAVgemBuffer() throws {
            let vgem = try VGEM()
            let (fd, size) = try vgem.exportDumbBuffer(width: 64, height: 64)
            let buffer = try DMABuffer(adopting: fd)
            #expect(try buffer.size == size && size >= 64 * 64 * 4)
            #expect(try buffer.exporterName == "drm")
            try buffer.setName("vgem-frame")
            #expect(try buffer.name == "vgem-frame")

            var mapping = try buffer.map()
            try mapping.withCPUAccess(.write) { $0.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0xC3) } }
            var again = try buffer.duplicate().map()
            #expect(try again.withCPUAccess(.read) { $0.withUnsafeBytes { $0.allSatisfy { $0 == 0xC3 } } })
        }

        @Test func refusesTheDrmDeviceItself() throws {
            let vgem = try VGEM()
            let fd = try FileDescriptor.open(vgem.path, .readWrite, options: .closeOnExec)
            defer { try? fd.close() }
            let error = expectError(.invalidArgument) { try DMABuffer(adopting: fd) }
            #expect(error?.description.contains("(\(vgem.path))") == true)
            #expect(error?.description.contains("not a dma-buf") == true)
        }
    }
}

/// A writable parameter of the module, under /sys/module/dmabuf_exporter/parameters.
enum ModuleParameter: String {
    case maxBufferBytes = "max_buffer_bytes", maxFileBytes = "max_file_bytes", maxTotalBytes = "max_total_bytes"

    var path: String { "/sys/module/\(DMABufExporter.exporterName)/parameters/\(rawValue)" }

    static var writable: Bool { access(maxFileBytes.path, W_OK) == 0 }

    func value() throws -> Int {
        let text = String(decoding: try Sys.readFile(path).get("read", on: path), as: UTF8.self)
        return try #require(Int(text.filter(\.isNumber)))
    }

    func set(_ value: Int) throws {
        let fd = try Sys.open(path, O_WRONLY).get("open", on: path)
        defer { _ = Sys.close(fd) }
        _ = try Array("\(value)\n".utf8).withUnsafeBytes { Sys.write(fd, $0, at: 0) }.get("write", on: path)
    }

    /// Runs `body` with the parameter set to `value`, then restores it.
    func with(_ value: Int, _ body: () throws -> Void) throws {
        let saved = try self.value()
        try set(value)
        defer { try? set(saved) }
        try body()
    }
}
