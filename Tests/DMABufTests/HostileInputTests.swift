import CDMABufExporter
import DMABuf
import DMABufExporterClient
import DMABufTestSupport
import Glibc
import Synchronization
import SystemPackage
import Testing

/// Fd numbers that are not open. None is a number that was open a moment ago: those could be
/// reused by another test's open (see `unusedDescriptor`).
enum BadDescriptor: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case minusOne, minusTwo, int32Min, int32Max, atTheFdLimit, beyondTheFdLimit

    var testDescription: String { rawValue }

    var number: FileDescriptor {
        switch self {
        case .minusOne: FileDescriptor(rawValue: -1)
        case .minusTwo: FileDescriptor(rawValue: -2)
        case .int32Min: FileDescriptor(rawValue: .min)
        case .int32Max: FileDescriptor(rawValue: .max)
        case .atTheFdLimit: unusedDescriptor()
        case .beyondTheFdLimit: unusedDescriptor(1000)
        }
    }
}

/// Every public API fed what the outside world can hand it: fds that are not open, fds that are
/// not dma-bufs, absurd sizes and mapping ranges, paths that are not the device, devices that
/// answer wrongly. Each case must throw a `DMABufError` with the right code and errno and a
/// readable description, never trap, and leave no fd open. See `HostileDevice` for the cases
/// that need a dma-buf.
@Suite struct HostileInput {
    let page = Sys.pageSize

    // MARK: Adopting

    @Test(arguments: BadDescriptor.allCases)
    func adoptingAnFdThatIsNotOpen(bad: BadDescriptor) throws {
        let fd = bad.number
        let error = expectError(.badDescriptor, .kernel(.badFileDescriptor), "adopt \(fd.rawValue)") {
            try DMABuffer(adopting: fd)
        }
        #expect(error?.target == "fd \(fd.rawValue)")
    }

    @Test(arguments: ForeignDescriptor.allCases)
    func adoptingAnFdThatIsNotADmaBuf(kind: ForeignDescriptor) throws {
        let (fd, other) = try kind.open()
        defer {
            try? fd.close()
            try? other?.close()
        }
        let mock = SyscallMock()
        let error = expectError(.notADMABuf, .libraryMade, "adopt \(kind)", mock: mock) { try DMABuffer(adopting: fd) }
        #expect(error?.target?.hasPrefix("fd \(fd.rawValue) (") == true, "names the fd and what it is")
        #expect(isOpen(fd), "a refused fd stays open and the caller's")
        #expect(mock.calls("close").isEmpty && mock.calls("fcntl").isEmpty, "and untouched")
    }

    /// A `DMABuffer` whose fd was closed behind its back (simulated: every call gets EBADF).
    /// Every call reports `.badDescriptor`, and close is tried once.
    @Test func everyCallOnAnFdClosedBehindItsBack() throws {
        let fd = try makeMemfd(size: 3 * page)
        defer { try? fd.close() }
        var buffer: DMABuffer? = try DMABuffer(trusting: fd)
        let mock = SyscallMock { _ in .fail(.badFileDescriptor) }
        let ebadf = ExpectedErrno.kernel(.badFileDescriptor)
        expectError(.badDescriptor, ebadf, "info", mock: mock) { try buffer!.info() }
        expectError(.badDescriptor, ebadf, "setName", mock: mock) { try buffer!.setName("x") }
        expectError(.badDescriptor, ebadf, "duplicate", mock: mock) { try buffer!.duplicate() }
        expectError(.badDescriptor, ebadf, "map()", mock: mock) { try buffer!.map() }
        expectError(.badDescriptor, ebadf, "map(range)", mock: mock) { try buffer!.map(0..<page) }
        expectError(.badDescriptor, ebadf, "close", mock: mock) { try buffer.take()!.close() }
        #expect(mock.calls("close").map(\.call.descriptor) == [fd.rawValue])
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
        let buffer = try memfdBuffer(size: 3 * page)
        for range in Self.badRanges(page: page) {
            let error = expectError(.invalidArgument, .libraryMade, "map(\(range))") { try buffer.map(range) }
            #expect(error?.operation == "mmap \(range)")
        }
        // the edges that are fine
        for range in [0..<1, 2 * page..<3 * page, 2 * page..<2 * page + 1, 0..<3 * page] {
            let mapping = try buffer.map(range)
            #expect(mapping.offset == range.lowerBound && mapping.count == range.count)
        }
    }

    @Test func mappingABufferShorterThanAPage() throws {
        let buffer = try memfdBuffer(size: 100)
        #expect(try buffer.map().count == 100)
        expectError(.invalidArgument, .libraryMade) { try buffer.map(0..<page) }
        expectError(.invalidArgument, .libraryMade) { try buffer.map(0..<101) }
    }

    /// A buffer that says it is 2^62 bytes: more than the address space can map at once.
    @Test func mappingAnAbsurdlyLargeBuffer() throws {
        let huge = 1 << 62
        let fd = try makeMemfd(size: 0)
        #expect(ftruncate(fd.rawValue, off_t(huge)) == 0)
        let buffer = try DMABuffer(trusting: fd)
        #expect(buffer.size == huge)
        expectError(.outOfMemory, .kernel(.noMemory), "map() of 2^62 bytes") { try buffer.map() }
        expectError(.invalidArgument, .libraryMade) { try buffer.map(huge - page..<huge + page) }
        #expect(try buffer.map(0..<page).count == page)
        #expect(try buffer.map(huge - page..<huge).count == page)
    }

    // MARK: The exporter on paths that are not the device

    @Test(
        arguments: [
            ("", DMABufError.Code.deviceMissing, Errno.noSuchFileOrDirectory),
            ("/nonexistent/dmabuf_exporter", .deviceMissing, .noSuchFileOrDirectory),
            ("/", .invalidArgument, .isDirectory), ("/proc/self/fd/999999", .deviceMissing, .noSuchFileOrDirectory),
            (String(repeating: "/x", count: 3000), .invalidArgument, .fileNameTooLong),
            ("/" + String(repeating: "x", count: 300), .invalidArgument, .fileNameTooLong),
            ("/dev/null/x", .invalidArgument, .notDirectory),
        ].map { (Quoted($0), $1, $2) })
    func openingAPathThatIsNotTheDevice(quoted: Quoted, code: DMABufError.Code, errno: Errno) {
        let error = expectError(code, .kernel(errno), quotesInput: true) {
            try DMABufExporter(path: FilePath(quoted.text))
        }
        #expect(error?.operation == "open")
    }

    /// C would read a path with a NUL as a shorter path. The library takes `FilePath`s, which
    /// cannot hold one: made from a string with a NUL, a path ends there, visibly to the caller.
    @Test func pathsCannotHoldANulByte() {
        #expect(FilePath("/dev/null\0/evil") == FilePath("/dev/null"))
        #expect(FilePath("/dev/null\0/evil").string == "/dev/null")
    }

    @Test func theExporterOnDevNull() throws {
        try expectNoLeaks {
            let device = try DMABufExporter(path: "/dev/null")
            for size in [1, 4096, Int.max, Int(UInt32.max) + 1] {
                expectError(.unsupported, .kernel(.inappropriateIOCTLForDevice), "allocate \(size)") {
                    try device.allocate(size: size)
                }
            }
            for size in [0, -1, -4096, Int.min] {
                expectError(.invalidArgument, .libraryMade, "allocate \(size)") { try device.allocate(size: size) }
            }
            expectError(.unsupported, .kernel(.inappropriateIOCTLForDevice), "read-only") {
                try device.allocate(size: 4096, name: "\n\0\t", accessMode: .readOnly)
            }
            expectError(.unsupported, .kernel(.inappropriateIOCTLForDevice), "sharedBuffer") {
                try device.sharedBuffer()
            }
            #expect(try device.readShared() == "")
            try device.writeShared("to nowhere")
            try device.writeShared("")
            let full = String(repeating: "x", count: DMABufExporter.sharedBufferSize)
            expectError(.limitExceeded, .libraryMade, "writeShared of 4096 bytes") { try device.writeShared(full) }
            expectError(.limitExceeded, .libraryMade, "writeShared of 1 MiB") {
                try device.writeShared(String(repeating: "é", count: 1 << 19))
            }
            try device.close()
        }
    }

    /// The out-parameter fd: a device that answers ALLOC or GET_SHARED_FD with success but
    /// writes no fd must not hand out the fd the request started with (fd 0 was stdin).
    @Test func aDeviceThatAnswersWithoutAnFd() throws {
        let device = try DMABufExporter(path: "/dev/null")
        let mock = SyscallMock { $0.name == "ioctl" ? .succeed(0) : .passThrough }
        let alloc = expectError(.badResponse, .libraryMade, mock: mock) { try device.allocate(size: 4096) }
        #expect(alloc?.operation == "ALLOC ioctl")
        let shared = expectError(.badResponse, .libraryMade, mock: mock) { try device.sharedBuffer() }
        #expect(shared?.operation == "GET_SHARED_FD ioctl")
        #expect(mock.calls("close").isEmpty, "closed nothing")
    }

    /// What ALLOC sends: fd -1, zero flags and reserved words, the access mode with O_CLOEXEC,
    /// the name NUL-padded.
    @Test(arguments: [FileDescriptor.AccessMode.readWrite, .readOnly])
    func theAllocRequest(accessMode: FileDescriptor.AccessMode) throws {
        let device = try DMABufExporter(path: "/dev/null")
        let mock = SyscallMock()
        expectError(.unsupported, .kernel(.inappropriateIOCTLForDevice), mock: mock) {
            try device.allocate(size: 12345, name: "frame", accessMode: accessMode)
        }
        let bytes = try #require(mock.calls("ioctl").first?.call.argumentBytes)
        try #require(bytes.count == MemoryLayout<dmabuf_exporter_alloc>.size)
        let request = bytes.withUnsafeBytes { $0.loadUnaligned(as: dmabuf_exporter_alloc.self) }
        #expect(request.size == 12345 && request.fd == -1 && request.flags == 0)
        #expect(request.fd_flags == UInt32(bitPattern: accessMode.rawValue | O_CLOEXEC))
        var request2 = request
        #expect(withUnsafeBytes(of: &request2.reserved) { $0.allSatisfy { $0 == 0 } })
        let name = withUnsafeBytes(of: &request2.name) { Array($0) }
        #expect(name == Array("frame".utf8) + Array(repeating: 0, count: name.count - 5))
    }

    // MARK: IMPORT

    /// What IMPORT sends: the buffer's fd, the range (length 0 for the whole buffer), zero flags
    /// and reserved words, zero out fields.
    @Test(arguments: [nil, 0..<4096, 5..<4101, 3 * 4096 - 1..<3 * 4096])
    func theImportRequest(range: Range<Int>?) throws {
        let device = try DMABufExporter(path: "/dev/null")
        let buffer = try memfdBuffer(size: 3 * page)
        let mock = SyscallMock()
        let error = expectError(.unsupported, .kernel(.inappropriateIOCTLForDevice), mock: mock) {
            try device.import(buffer, range: range)
        }
        #expect(error?.hint?.contains("without IMPORT") == true)
        let fd = buffer.withUnsafeDescriptor(\.rawValue)
        #expect(error?.operation == "IMPORT ioctl of dma-buf fd \(fd)" && error?.target == "/dev/null")
        let call = try #require(mock.calls("ioctl").first?.call)
        #expect(call.descriptor != fd, "sent to the device, not the buffer")
        let bytes = try #require(call.argumentBytes)
        try #require(bytes.count == MemoryLayout<dmabuf_exporter_import>.size)
        var request = bytes.withUnsafeBytes { $0.loadUnaligned(as: dmabuf_exporter_import.self) }
        #expect(request.fd == fd && request.flags == 0 && request.reserved0 == 0)
        #expect(request.offset == UInt64(range?.lowerBound ?? 0) && request.length == UInt64(range?.count ?? 0))
        #expect(withUnsafeBytes(of: &request.reserved) { $0.allSatisfy { $0 == 0 } })
        #expect(request.size == 0 && request.crc32c == 0 && request.nents == 0 && request.read_via == 0)
        #expect(withUnsafeBytes(of: &request.exp_name) { $0.allSatisfy { $0 == 0 } })
    }

    /// Ranges IMPORT cannot take are refused before the ioctl: empty, negative, beyond the end.
    @Test func importRangesOutsideTheBuffer() throws {
        let device = try DMABufExporter(path: "/dev/null")
        let buffer = try memfdBuffer(size: 3 * page)
        let ranges = [0..<0, page..<page, 3 * page..<3 * page, -1..<page, Int.min..<0, 0..<3 * page + 1]
        for range in ranges + [3 * page..<4 * page, Int.max - 1..<Int.max, Int.min..<Int.max] {
            let mock = SyscallMock()
            let error = expectError(.invalidArgument, .libraryMade, "\(range)", mock: mock) {
                try device.import(buffer, range: range)
            }
            #expect(error?.hint?.contains("within the buffer's \(3 * page) bytes") == true)
            #expect(mock.calls("ioctl").isEmpty, "\(range): no ioctl")
        }
    }

    /// IMPORT's errors: EBADF, EINVAL and the exporter's own, with their codes and hints.
    @Test func importErrors() throws {
        let device = try DMABufExporter(path: "/dev/null")
        let buffer = try memfdBuffer(size: page)
        let cases: [(Errno, DMABufError.Code, String)] = [
            (.badFileDescriptor, .badDescriptor, "not open"),
            (.invalidArgument, .invalidArgument, "not a dma-buf"),
            (.noMemory, .outOfMemory, "out of memory"),
            (.ioError, .other, "exporter could not be attached"),
            (.resourceBusy, .busy, "exporter could not be attached"),
        ]
        for (errno, code, hint) in cases {
            let mock = SyscallMock { $0.name == "ioctl" ? .fail(errno) : .passThrough }
            let error = expectError(code, .kernel(errno), "\(errno)", mock: mock) { try device.import(buffer) }
            #expect(error?.hint?.contains(hint) == true, "\(errno): \(error?.hint ?? "")")
        }
        // EINTR, a signal while the module waited for a fence, is retried (IMPORT writes none of
        // its in fields, so the same request can go again).
        let remaining = Mutex(2)
        let interrupted = SyscallMock { call in
            guard call.name == "ioctl" else { return .passThrough }
            return remaining.withLock { count in
                count -= 1
                return count >= 0 ? .fail(.interrupted) : .passThrough
            }
        }
        expectError(.unsupported, .kernel(.inappropriateIOCTLForDevice), mock: interrupted) {
            try device.import(buffer)
        }
        #expect(interrupted.calls("ioctl").count == 3)
    }

    /// A device that answers IMPORT with success but fills in nothing is not the module.
    @Test func aDeviceThatAnswersImportWithNothing() throws {
        let device = try DMABufExporter(path: "/dev/null")
        let buffer = try memfdBuffer(size: page)
        let mock = SyscallMock { $0.name == "ioctl" ? .succeed(0) : .passThrough }
        let error = expectError(.badResponse, .libraryMade, mock: mock) { try device.import(buffer) }
        #expect(error?.hint?.contains("not the dmabuf_exporter device") == true)
    }

    @Test func theExporterOnDevFull() throws {
        let device = try DMABufExporter(path: "/dev/full")
        expectError(.limitExceeded, .kernel(.noSpace), "writeShared") { try device.writeShared("x") }
    }

    /// /dev/zero never ends: reading the "shared text" from it must stop.
    @Test func theExporterOnDevZero() throws {
        let device = try DMABufExporter(path: "/dev/zero")
        expectError(.badResponse, .libraryMade, "readShared") { try device.readShared() }
    }

    @Test func theExporterOnALargeFile() throws {
        let path = "/tmp/dmabuf-test-large-\(getpid())"
        let file = try FileDescriptor.open(
            FilePath(path), .readWrite, options: [.create, .truncate, .closeOnExec], permissions: .ownerReadWrite)
        defer { unlink(path) }
        _ = try file.closeAfter { try file.writeAll(Array(repeating: UInt8(ascii: "a"), count: 3 * page)) }
        let device = try DMABufExporter(path: FilePath(path))
        expectError(.badResponse, .libraryMade, "readShared") { try device.readShared() }
        expectError(.unsupported, .kernel(.inappropriateIOCTLForDevice), "allocate") { try device.allocate(size: page) }
    }

    @Test func theExporterOnAFifo() throws {
        let path = "/tmp/dmabuf-test-exporter-fifo-\(getpid())"
        unlink(path)
        #expect(mkfifo(path, 0o600) == 0)
        defer { unlink(path) }
        let device = try DMABufExporter(path: FilePath(path))  // O_RDWR: does not wait for a peer
        expectError(.unsupported, .kernel(.illegalSeek), "readShared") { try device.readShared() }
        expectError(.unsupported, .kernel(.illegalSeek), "writeShared") { try device.writeShared("x") }
        expectError(.unsupported, .kernel(.inappropriateIOCTLForDevice), "allocate") { try device.allocate(size: page) }
    }
}
