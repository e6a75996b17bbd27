import Glibc
import SystemPackage
import Testing

@testable import DMABuf

extension DMABufTests {
    /// Every public API fed what the outside world can hand it: fds that are not open, fds that
    /// are not dma-bufs, absurd sizes and mapping ranges, paths that are not the device. Each case
    /// must throw a `DMABufError` with the right errno and a readable description, never trap,
    /// and leave the process with the fds it had. Runs anywhere: no dma-buf needed (see
    /// `HostileDevice` for the cases that need one).
    @Suite struct HostileInput {
        let page = Sys.pageSize

        // MARK: Adopting

        @Test(arguments: BadDescriptor.allCases)
        func adoptingAnFdThatIsNotOpen(bad: BadDescriptor) throws {
            let fd = try bad.number()
            let error = expectHostile(.badFileDescriptor, "adopt \(fd.rawValue)") { try DMABuffer(adopting: fd) }
            #expect(error?.hint == "It is not an open file descriptor", "\(String(describing: error))")
            #expect(error?.target == "fd \(fd.rawValue)")
            expectHostile(.badFileDescriptor, "DMABufferInfo(of: \(fd.rawValue))") { try DMABufferInfo(of: fd) }
        }

        @Test(arguments: ForeignDescriptor.allCases)
        func adoptingAnFdThatIsNotADmaBuf(kind: ForeignDescriptor) throws {
            let (fd, other) = try kind.open()
            defer {
                try? fd.close()
                try? other?.close()
            }
            let error = expectHostile(.invalidArgument, "adopt \(kind)") { try DMABuffer(adopting: fd) }
            #expect(error?.hint?.contains("not a dma-buf") == true, "\(String(describing: error))")
            #expect(error?.target?.hasPrefix("fd \(fd.rawValue) (") == true, "names the fd and what it is")
            #expect(isOpen(fd), "a refused fd stays open and the caller's")
            expectHostile(.invalidArgument, "DMABufferInfo(of: \(kind))") { try DMABufferInfo(of: fd) }
        }

        // MARK: Every call on a bad fd

        /// A `DMABuffer` whose fd is not open: what one looks like after its fd was closed behind
        /// its back (`withUnsafeDescriptor`). Every call reports EBADF, and nothing is closed twice.
        @Test(arguments: BadDescriptor.allCases)
        func everyCallOnAnFdThatIsNotOpen(bad: BadDescriptor) throws {
            let fd = try bad.number()
            let before = openDescriptorCount()
            do {
                let buffer = DMABuffer(owning: fd)
                let ebadf = Errno.badFileDescriptor
                expectHostile(ebadf, "size") { try buffer.size }
                expectHostile(ebadf, "info") { try buffer.info }
                expectHostile(ebadf, "exporterName") { try buffer.exporterName }
                expectHostile(ebadf, "name") { try buffer.name }
                expectHostile(ebadf, "identity") { try buffer.identity }
                expectHostile(ebadf, "isWritable") { try buffer.isWritable }
                expectHostile(ebadf, "setName") { try buffer.setName("x") }
                expectHostile(ebadf, "duplicate") { try buffer.duplicate() }
                expectHostile(ebadf, "map()") { try buffer.map() }
                expectHostile(ebadf, "map(range)") { try buffer.map(0..<page) }
                do {
                    try buffer.close()
                    Issue.record("close of \(fd.rawValue) succeeded")
                } catch {
                    #expect(error.errno == ebadf)
                    expectReadable(error)
                }
            }
            #expect(openDescriptorCount() == before)
        }

        /// A `DMABuffer` over an fd of another kind. Reading fdinfo says "not a dma-buf", the
        /// dma-buf ioctls get ENOTTY, the generic calls (fstat, fcntl, lseek, mmap) do what the
        /// kind allows; nothing traps.
        @Test(arguments: ForeignDescriptor.allCases)
        func everyCallOnAnFdThatIsNotADmaBuf(kind: ForeignDescriptor) throws {
            let (fd, other) = try kind.open()
            defer { try? other?.close() }
            let before = openDescriptorCount()
            do {
                let buffer = DMABuffer(owning: fd)
                expectHostile(.invalidArgument, "info") { try buffer.info }
                expectHostile(.invalidArgument, "exporterName") { try buffer.exporterName }
                expectHostile(.invalidArgument, "name") { try buffer.name }
                expectHostile(kind.refusesUnknownIoctlsWithENOTTY ? .inappropriateIOCTLForDevice : nil, "setName") {
                    try buffer.setName("hostile")
                }
                expectValueOrReadableError("size") { try buffer.size }
                _ = try buffer.identity
                _ = try buffer.isWritable
                try buffer.duplicate().close()
                for range in [nil, 0..<page, page..<2 * page] as [Range<Int>?] {
                    do {
                        var mapping = try buffer.map(range)
                        // mapped (a memfd): CPU access asks for DMA_BUF_IOCTL_SYNC, which it has not
                        expectHostile(.inappropriateIOCTLForDevice, "withCPUAccess") { try mapping.withCPUAccess(.read) { _ in } }
                    } catch {
                        expectReadable(error)
                    }
                }
                try buffer.close()
            }
            #expect(openDescriptorCount() == before - 1, "closed its fd, and only that")
            #expect(!isOpen(fd))
        }

        // MARK: Mapping ranges

        /// Ranges no mapping of a 3-page buffer can have: negative, beyond the end, unaligned, empty.
        static func badRanges(page: Int) -> [Range<Int>] {
            [
                -page..<page, -1..<page, -page..<0, Int.min..<0, Int.min..<Int.max, Int.min..<Int.min,  // negative
                0..<3 * page + 1, 2 * page..<4 * page, 3 * page..<4 * page, 4 * page..<5 * page,  // beyond the end
                0..<Int.max, Int.max - 1..<Int.max, (Int.max / page) * page..<Int.max,
                1..<page, page + 1..<2 * page, page - 1..<page, 100..<200, 2 * page + 1..<3 * page,  // unaligned
                0..<0, page..<page, 3 * page..<3 * page, Int.max..<Int.max,  // empty
            ]
        }

        @Test func mappingRangesOutsideTheBuffer() throws {
            let buffer = DMABuffer(owning: try makeMemfd(size: 3 * page))
            for range in Self.badRanges(page: page) {
                let error = expectHostile(.invalidArgument, "map(\(range))") { try buffer.map(range) }
                #expect(error?.hint?.contains("page boundary") == true, "\(String(describing: error))")
                #expect(error?.operation == "mmap \(range)")
            }
            // the edges that are fine
            for range in [0..<1, 2 * page..<3 * page, 2 * page..<2 * page + 1, 0..<3 * page] {
                let mapping = try buffer.map(range)
                #expect(mapping.offset == range.lowerBound && mapping.count == range.count)
            }
        }

        @Test func mappingABufferShorterThanAPage() throws {
            let buffer = DMABuffer(owning: try makeMemfd(size: 100))
            #expect(try buffer.map().count == 100)
            expectHostile(.invalidArgument) { try buffer.map(0..<page) }
            expectHostile(.invalidArgument) { try buffer.map(0..<101) }
        }

        /// A buffer that says it is 2^62 bytes: more than the address space can map at once.
        @Test func mappingAnAbsurdlyLargeBuffer() throws {
            let huge = 1 << 62
            let fd = try makeMemfd(size: 0)
            _ = try syscall { ftruncate(fd.rawValue, off_t(huge)) }.get("ftruncate")
            let buffer = DMABuffer(owning: fd)
            #expect(try buffer.size == huge)
            expectHostile(.noMemory, "map() of 2^62 bytes") { try buffer.map() }
            expectHostile(.invalidArgument) { try buffer.map(huge - page..<huge + page) }
            #expect(try buffer.map(0..<page).count == page)
            let before = openDescriptorCount()
            expectValueOrReadableError("map of the last page") { try buffer.map(huge - page..<huge) }
            #expect(openDescriptorCount() == before)
        }

        // MARK: The exporter on paths that are not the device

        @Test(arguments: [
            ("", Errno.noSuchFileOrDirectory), ("/nonexistent/dmabuf_exporter", .noSuchFileOrDirectory),
            ("/", .isDirectory), ("/proc/self/fd/999999", .noSuchFileOrDirectory),
            (String(repeating: "/x", count: 3000), .fileNameTooLong), ("/" + String(repeating: "x", count: 300), .fileNameTooLong),
            ("/dev/null/x", .notDirectory),
        ].map { (Quoted(text: $0), $1) })
        func openingAPathThatIsNotTheDevice(quoted: Quoted, errno: Errno) {
            let path = quoted.text
            let error = expectHostile(errno, "open \(path.prefix(40))", quotesInput: true) { try DMABufExporter(path: path) }
            #expect(error?.operation == "open")
        }

        /// A NUL inside the path would cut it short in C: "/dev/null\0junk" is not /dev/null.
        @Test(arguments: ["/dev/null\0/evil", "\0", "/dev/\0dmabuf_exporter"].map(Quoted.init))
        func openingAPathWithANulByte(quoted: Quoted) {
            let path = quoted.text
            expectHostile(.invalidArgument, "open \(path.debugDescription)", quotesInput: true) { try DMABufExporter(path: path) }
        }

        @Test func theExporterOnDevNull() throws {
            let before = openDescriptorCount()
            do {
                let device = try DMABufExporter(path: "/dev/null")
                for size in [0, 1, 4096, Int.max, Int(UInt32.max) + 1] {
                    expectHostile(.inappropriateIOCTLForDevice, "allocate \(size)") { try device.allocate(size: size) }
                }
                for size in [-1, -4096, Int.min] {
                    expectHostile(.invalidArgument, "allocate \(size)") { try device.allocate(size: size) }
                }
                expectHostile(.inappropriateIOCTLForDevice, "readOnly") { try device.allocate(size: 4096, name: "\n\0\t", readOnly: true) }
                expectHostile(.inappropriateIOCTLForDevice, "sharedBuffer") { try device.sharedBuffer() }
                #expect(try device.readShared() == "")
                try device.writeShared("to nowhere")
                try device.writeShared("")
                let full = String(repeating: "x", count: DMABufExporter.sharedBufferSize)
                expectHostile(.noSpace, "writeShared of 4096 bytes") { try device.writeShared(full) }
                expectHostile(.noSpace, "writeShared of 1 MiB") { try device.writeShared(String(repeating: "é", count: 1 << 19)) }
                try device.close()
            }
            #expect(openDescriptorCount() == before)
        }

        @Test func theExporterOnDevFull() throws {
            let device = try DMABufExporter(path: "/dev/full")
            expectHostile(.noSpace, "writeShared") { try device.writeShared("x") }
        }

        /// /dev/zero never ends: reading the "shared text" from it must stop.
        @Test func theExporterOnDevZero() throws {
            let device = try DMABufExporter(path: "/dev/zero")
            let error = expectHostile(.fileTooLarge, "readShared") { try device.readShared() }
            #expect(error?.hint?.contains("not the dmabuf_exporter device") == true, "\(String(describing: error))")
        }

        @Test func theExporterOnALargeFile() throws {
            let path = "/tmp/dmabuf-test-large-\(getpid())"
            let file = try FileDescriptor.open(path, .readWrite, options: [.create, .truncate, .closeOnExec], permissions: .ownerReadWrite)
            defer { unlink(path) }
            _ = try file.closeAfter { try file.writeAll(Array(repeating: UInt8(ascii: "a"), count: 3 * page)) }
            let device = try DMABufExporter(path: path)
            expectHostile(.fileTooLarge, "readShared") { try device.readShared() }
            expectHostile(.inappropriateIOCTLForDevice, "allocate") { try device.allocate(size: page) }
        }

        @Test func theExporterOnAFifo() throws {
            let path = "/tmp/dmabuf-test-exporter-fifo-\(getpid())"
            unlink(path)
            #expect(mkfifo(path, 0o600) == 0)
            defer { unlink(path) }
            let device = try DMABufExporter(path: path)  // O_RDWR: does not wait for a peer
            expectHostile(.illegalSeek, "readShared") { try device.readShared() }
            expectHostile(.illegalSeek, "writeShared") { try device.writeShared("x") }
            expectHostile(.inappropriateIOCTLForDevice, "allocate") { try device.allocate(size: page) }
        }
    }
}
