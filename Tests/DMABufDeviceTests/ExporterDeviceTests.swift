import ArgumentParser
import CDMABuf
import DMABuf
import DMABufExporterClient
import DMABufSources
import DMABufTestSupport
import Glibc
import SystemPackage
import Testing

@testable import DMABufCLI

/// Fills `mapping` with `byte` inside a write bracket.
func fill(_ mapping: inout DMABuffer.Mapping, with byte: UInt8) throws {
    try mapping.withCPUAccess(.write) { bytes in
        bytes.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: byte) }
    }
}

/// Whether every byte of `mapping` is `byte`, read inside a read bracket.
func allBytes(of mapping: borrowing DMABuffer.Mapping, equal byte: UInt8) throws -> Bool {
    try mapping.withCPUAccess(.read) { bytes in bytes.withUnsafeBytes { $0.allSatisfy { $0 == byte } } }
}

/// Writes `text` and a NUL at the start of `mapping`, inside a write bracket.
func write(_ text: String, to mapping: inout DMABuffer.Mapping) throws {
    try mapping.withCPUAccess(.write) { bytes in
        for (offset, byte) in (Array(text.utf8) + [0]).enumerated() {
            bytes.storeBytes(of: byte, toByteOffset: offset, as: UInt8.self)
        }
    }
}

/// The text at the start of `mapping`, read inside a read bracket.
func text(of mapping: borrowing DMABuffer.Mapping) throws -> String {
    try mapping.withCPUAccess(.read) { cString($0) }
}

extension DeviceTests {
    /// Against the real module, /dev/dmabuf_exporter.
    @Suite(.exporterDevice) struct ExporterDevice {
        let page = Sys.pageSize

        // MARK: The article's flow

        @Test func articleFlow() throws {
            let device = try DMABufExporter()
            try device.writeShared(DMABufExporter.initialSharedText)  // as at module load

            let buffer = try device.sharedBuffer()
            #expect(buffer.size == DMABufExporter.sharedBufferSize)
            #expect(try buffer.info().exporterName == DMABufExporter.exporterName)
            #expect(buffer.isWritable && buffer.accessMode == .readWrite)

            var mapping = try buffer.map()
            #expect(try text(of: mapping) == "Data inited by kernel!")

            try write("Hello from user space!", to: &mapping)
            #expect(try device.readShared() == "Hello from user space!")
            #expect(try DMABufExporter().readShared() == "Hello from user space!", "another open file sees it")

            // the kernel as producer
            try device.writeShared("Kernel wrote this")
            #expect(try text(of: mapping) == "Kernel wrote this")
        }

        @Test func sharedBufferFollowsTheDeviceAccessMode() throws {
            let readOnly = try DMABufExporter(accessMode: .readOnly).sharedBuffer()
            #expect(readOnly.accessMode == .readOnly && !readOnly.isWritable)

            let writeOnly = try DMABufExporter(accessMode: .writeOnly)
            let error = #expect(throws: DMABufError.self) { _ = try writeOnly.sharedBuffer() }
            #expect(error?.code == .permissionDenied)
            #expect(error?.errno == .permissionDenied)
        }

        @Test func demoCommandSucceeds() throws {
            try Demo.parse(["--text", "Hello from the test suite"]).run()
            #expect(try DMABufExporter().readShared() == "Hello from the test suite")
        }

        @Test func allocCommandSucceeds() throws {
            let automatic = try DMABufSource.automatic()
            let exporter = try automatic.allocate(size: 1 << 16, name: nil).info().exporterName
            try HelperProcess.expectCommand(
                ["alloc", "--size", "64K", "--name", "cli-test", "--read-only"],
                printsLines: [
                    "source    \(automatic.source) (\(automatic.path))", "size      65536 bytes (64 KiB)",
                    "exporter  \(exporter)", "name      cli-test", "access    read-only",
                ])
        }

        // MARK: Allocation

        @Test(arguments: [(1, 1), (4096, 1), (4097, 2), (65536, 16), (4 << 20, 1024)])
        func allocRoundsUpToPagesAndZeroFills(size: Int, pages: Int) throws {
            let buffer = try DMABufExporter().allocate(size: size)
            #expect(buffer.size == pages * 4096)
            let info = try buffer.info()
            #expect(info.size == pages * 4096 && info.exporterName == DMABufExporter.exporterName && info.name == nil)
            #expect(try allBytes(of: buffer.map(), equal: 0))
        }

        @Test func allocErrors() throws {
            let device = try DMABufExporter()
            let zero = expectError(.invalidArgument, .libraryMade) { try device.allocate(size: 0) }
            #expect(zero?.operation == "ALLOC ioctl" && zero?.target == "/dev/dmabuf_exporter")
            let limit = try ModuleParameter.maxBufferBytes.value()
            let tooBig = expectError(.limitExceeded, .kernel(.fileTooLarge)) { try device.allocate(size: limit + 1) }
            #expect(tooBig?.hint?.contains("max_buffer_bytes") == true)
            expectError(.invalidArgument, .libraryMade) { try device.allocate(size: -4096) }
            expectError(.invalidArgument, .kernel(.invalidArgument), "O_WRONLY") {
                try device.allocate(size: page, accessMode: .writeOnly)
            }
        }

        @Test(
            .enabled(
                if: ModuleParameter.writable || TestEnvironment.requiresDevices, "needs root to set module parameters"))
        func quotas() throws {
            try ModuleParameter.maxFileBytes.with(4 * page) {
                let device = try DMABufExporter()
                var held = try device.allocate(size: 3 * page)
                let over = expectError(.limitExceeded, .kernel(.diskQuotaExceeded)) {
                    try device.allocate(size: 2 * page)
                }
                #expect(over?.hint?.contains("max_file_bytes") == true)
                _ = try device.allocate(size: page)  // exactly at the limit, freed at once
                try DMABufExporter().allocate(size: 4 * page).close()  // another open file has its own quota
                try held.close()
                held = try device.allocate(size: 4 * page)  // closing gave the bytes back
                _ = held
            }
            try ModuleParameter.maxUserBytes.with(4 * page) {
                // Two open files of one user share the user's limit.
                let first = try DMABufExporter().allocate(size: 3 * page)
                let over = expectError(.limitExceeded, .kernel(.diskQuotaExceeded)) {
                    try DMABufExporter().allocate(size: 2 * page)
                }
                #expect(over?.hint?.contains("max_user_bytes") == true)
                try first.close()
                try DMABufExporter().allocate(size: 4 * page).close()
            }
            try ModuleParameter.maxTotalBytes.with(4 * page) {
                let first = try DMABufExporter().allocate(size: 4 * page)
                let over = expectError(.limitExceeded, .kernel(.noSpace)) { try DMABufExporter().allocate(size: page) }
                #expect(over?.hint?.contains("max_total_bytes") == true)
                try first.close()
                try DMABufExporter().allocate(size: page).close()
            }
        }

        // MARK: Importing

        /// The module imports its own shared buffer and reads the text written through a mapping.
        @Test func importReadsWhatAMappingWrote() throws {
            let device = try DMABufExporter()
            let buffer = try device.sharedBuffer()
            var mapping = try buffer.map()
            try write("123456789", to: &mapping)
            let check = try device.import(buffer, range: 0..<9)
            #expect(check.crc32c == 0xE306_9283 && check.crc32c == CRC32C.checksum(Array("123456789".utf8)))
            #expect(check.size == DMABufExporter.sharedBufferSize && check.range == 0..<9)
            #expect(check.exporterName == DMABufExporter.exporterName && check.segmentCount == 1)
            #expect(check.readPath == .vmap && check.readPath.description == "vmap")
            let whole = try device.import(buffer)
            #expect(whole.range == 0..<DMABufExporter.sharedBufferSize)
            let bytes = try mapping.withCPUAccess(.read) { $0.withUnsafeBytes { Array($0) } }
            #expect(whole.crc32c == CRC32C.checksum(bytes))
            try device.writeShared(DMABufExporter.initialSharedText)
        }

        /// The kernel refuses to import what is not a dma-buf (a memfd the library was told to trust).
        @Test func importRefusesAMemfd() throws {
            let device = try DMABufExporter()
            let memfd = try memfdBuffer(size: page)
            let error = expectError(.invalidArgument, .kernel(.invalidArgument)) { try device.import(memfd) }
            #expect(error?.hint?.contains("not a dma-buf") == true)
        }

        // MARK: Adopting

        @Test func adoptsItsOwnBuffersAndSetsCloseOnExec() throws {
            let buffer = try DMABufExporter().allocate(size: page, name: "adopted")
            // a copy without FD_CLOEXEC, as one received from a careless peer
            let raw = buffer.withUnsafeDescriptor { fcntl($0.rawValue, F_DUPFD, 0) }
            try #require(raw >= 0 && fcntl(raw, F_GETFD) & FD_CLOEXEC == 0)
            let adopted = try DMABuffer(adopting: FileDescriptor(rawValue: raw))
            #expect(fcntl(raw, F_GETFD) & FD_CLOEXEC != 0)
            #expect(adopted.identity == buffer.identity && adopted.size == page)
            #expect(try adopted.info().name == "adopted")
        }

        @Test func theLibraryTellsADmaBufByItsFileSystem() throws {
            let buffer = try DMABufExporter().allocate(size: page)
            let memfd = try makeMemfd(size: page)
            defer { try? memfd.close() }
            let mock = SyscallMock()
            try mock.run { () throws(DMABufError) in
                _ = try DMABuffer(adopting: buffer.duplicate().takeDescriptor())
                #expect(mock.calls("fstatfs").count == 1 && mock.calls("open").isEmpty, "no /proc needed")
                // The first dma-buf taught its file system's device: fstat alone tells the next.
                _ = try DMABuffer(adopting: buffer.duplicate().takeDescriptor())
                #expect(mock.calls("fstatfs").count == 1 && mock.calls("fstat").count == 2)
                // Any other file is still asked about with fstatfs, and refused.
                #expect(throws: DMABufError.self) { _ = try DMABuffer(adopting: memfd) }
                #expect(mock.calls("fstatfs").count == 2)
            }
            #expect(isOpen(memfd))
        }

        // MARK: Mapping

        @Test func mappingViewsAndRanges() throws {
            let buffer = try DMABufExporter().allocate(size: 3 * page, name: "views")
            var whole = try buffer.map()
            try whole.withCPUAccess(.write) { bytes in
                for index in 0..<3 {
                    bytes.storeBytes(of: UInt8(0xA0 + index), toByteOffset: index * page, as: UInt8.self)
                }
            }
            for index in 0..<3 {
                let part = try buffer.map(index * page..<(index + 1) * page)
                #expect(part.offset == index * page && part.count == page)
                let first = try part.withCPUAccess(.read) { $0.unsafeLoad(as: UInt8.self) }
                #expect(first == UInt8(0xA0 + index), "the exporter honours the mmap offset")
            }
            // a partial page at the end is fine; beyond the buffer is not
            #expect(try buffer.map(2 * page..<2 * page + 100).count == 100)
            expectError(.invalidArgument, .libraryMade) { try buffer.map(2 * page..<4 * page) }
            expectError(.invalidArgument, .libraryMade) { try buffer.map(100..<page) }
            // the kernel refuses what the library would not ask for: beyond the end, MAP_PRIVATE
            buffer.withUnsafeDescriptor { fd in
                #expect(throws: Errno.invalidArgument) {
                    try Sys.mmap(fd, count: page, offset: 3 * page, protection: PROT_READ).get()
                }
                let privateMap = Glibc.mmap(nil, page, PROT_READ, MAP_PRIVATE, fd.rawValue, 0)
                #expect(privateMap == UnsafeMutableRawPointer(bitPattern: -1) && Glibc.errno == EINVAL)
            }
        }

        @Test func syncWithBadFlagsIsRefused() throws {
            let buffer = try DMABufExporter().allocate(size: page)
            let mask = CDMABuf_DMA_BUF_SYNC_VALID_FLAGS_MASK()
            buffer.withUnsafeDescriptor { fd in
                #expect(Sys.dmaBufSync(fd, flags: 0).map { 0 } == .failure(.invalidArgument), "no direction")
                #expect(Sys.dmaBufSync(fd, flags: ~mask).map { 0 } == .failure(.invalidArgument), "unknown bits")
                #expect(
                    Sys.dmaBufSync(fd, flags: syncStart | syncRead | (mask + 1)).map { 0 } == .failure(.invalidArgument)
                )
                #expect(Sys.dmaBufSync(fd, flags: syncStart | syncRead).map { 0 } == .success(0))
                #expect(Sys.dmaBufSync(fd, flags: syncEnd | syncRead).map { 0 } == .success(0))
            }
        }

        @Test func cpuAccessIssuesStartAndEndOnTheRealDevice() throws {
            var mapping = try DMABufExporter().allocate(size: page).map()
            let mock = SyscallMock()
            try mock.run { try fill(&mapping, with: 0x42) }
            let flags = mock.calls("ioctl").compactMap(\.call.argument)
            #expect(flags == [syncStart | syncWrite, syncEnd | syncWrite])
            #expect(mock.calls("ioctl").allSatisfy { !$0.injected && (try? $0.result.get()) == 0 })
            #expect(try allBytes(of: mapping, equal: 0x42))
        }

        // MARK: Read-only fds

        @Test func readOnlyBuffers() throws {
            let buffer = try DMABufExporter().allocate(size: 2 * page, accessMode: .readOnly)
            #expect(!buffer.isWritable && buffer.accessMode == .readOnly)
            #expect(try buffer.info().accessMode == .readOnly)
            #expect(try !buffer.duplicate().isWritable)
            var mapping = try buffer.map()
            let writable = mapping.isWritable
            #expect(!writable)
            expectError(.permissionDenied, .libraryMade) { try mapping.withCPUAccess(.write) { _ in } }
            expectError(.permissionDenied, .libraryMade) { try mapping.withCPUAccess(.readWrite) { _ in } }
            #expect(try allBytes(of: mapping, equal: 0))
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
            #expect(try device.allocate(size: page, name: long).info().name == String(long.prefix(31)))
            #expect(try device.allocate(size: page, name: "").info().name == nil)

            let buffer = try device.allocate(size: page, name: "first")
            #expect(try buffer.info().name == "first")
            #expect(try buffer.setName(long) == String(long.prefix(31)))
            #expect(try buffer.info().name == String(long.prefix(31)))
            let accented = String(repeating: "a", count: 30) + "é"
            #expect(try buffer.setName(accented) == String(repeating: "a", count: 30))
            #expect(try buffer.info().name == String(repeating: "a", count: 30))
            #expect(try buffer.setName("frame ✓") == "frame ✓")
            #expect(try buffer.duplicate().info().name == "frame ✓", "the name belongs to the buffer, not the fd")
        }

        @Test func identityByInode() throws {
            let device = try DMABufExporter()
            let first = try device.sharedBuffer()
            let second = try device.sharedBuffer()
            #expect(first.identity != second.identity, "each GET_SHARED_FD exports a new dma-buf")
            #expect(try first.identity == first.duplicate().identity)
            let allocated = try device.allocate(size: page)
            #expect(allocated.identity != first.identity)
            let inode = try #require(try allocated.info().inode, "6.1 and 6.12 print ino")
            #expect(inode == allocated.identity.inode, "fdinfo and fstat agree")
        }

        // MARK: Lifetime

        @Test func bufferOutlivesDeviceAndOwner() throws {
            var mapping: DMABuffer.Mapping
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
            #expect(try allBytes(of: second, equal: 0x5A))
            #expect(try survivor.info().name == "survivor")
            _ = consume mapping
            try fill(&second, with: 0x33)
            _ = consume second
            #expect(try allBytes(of: survivor.map(), equal: 0x33))
        }

        @Test func sharedBufferOutlivesTheDevice() throws {
            var mapping: DMABuffer.Mapping
            do {
                let device = try DMABufExporter()
                try device.writeShared("before close")
                mapping = try device.sharedBuffer().map()
            }
            #expect(try text(of: mapping) == "before close")
            try write("after close", to: &mapping)
            #expect(try DMABufExporter().readShared() == "after close")
        }
    }
}

/// Whether this kernel was booted with `swiotlb=force`: every DMA mapping is bounced.
private var bounceBuffersForced: Bool {
    guard let bytes = try? Sys.readFile(FilePath("/proc/cmdline")).get() else { return false }
    return String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isWhitespace).contains {
        $0.hasPrefix("swiotlb=") && $0.hasSuffix("force")
    }
}

extension DeviceTests {
    /// Under bounce buffering (the VM tier booted with `swiotlb=force`; confidential guests and
    /// Xen behave alike), where the kernel maps at most 256 KiB in one piece.
    @Suite(.exporterDevice, .enabled(if: bounceBuffersForced, "only on a kernel booted with swiotlb=force"))
    struct BounceBuffers {
        /// The system heap's 1 MiB segments cannot be bounced in one piece: IMPORT refuses the
        /// buffer with EMSGSIZE, and the error says why and what to allocate from instead.
        @Test func aBufferWithLongSegmentsIsRefusedWithAHint() throws {
            let heap = try DMAHeap.system()
            let buffer = try heap.allocate(size: 16 << 20, name: "long-segments")
            let error = #expect(throws: DMABufError.self) { try DMABufExporter().import(buffer) }
            #expect(error?.errno == .messageTooLong, "\(String(describing: error))")
            #expect(error?.hint?.contains("256 KiB") == true, "\(String(describing: error?.hint))")
        }
    }
}
