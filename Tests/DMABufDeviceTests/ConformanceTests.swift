import ArgumentParser
import DMABuf
import DMABufDRM
import DMABufExporterClient
import DMABufSources
import DMABufTestSupport
import Glibc
import SystemPackage
import Testing

@testable import DMABufCLI

/// The test kernels, told apart by `uname -r`, and which sources each must have.
enum TestKernel: Equatable, CustomStringConvertible {
    /// Debian 12's 6.1 (`6.1.*-amd64`): no DMA heaps, no udmabuf.
    case stock61
    /// bookworm-backports' 6.12 (`6.12.*`).
    case stock612
    /// The debug kernel (6.1 with heaps, udmabuf and vgem built in; release ends in `-virtme`).
    case debug
    /// Anything else, such as the host: nothing is expected.
    case other(String)

    /// The kernel under test; on the host, unless DMABUF_HOST_DEVICES=1 lends its devices, no test
    /// kernel, whatever its release, so that nothing expects (and opens) the host's devices.
    static let current =
        TestEnvironment.requiresDevices || TestEnvironment.usesHostDevices
        ? TestKernel(release: DeviceAccess.kernelRelease) : .other(DeviceAccess.kernelRelease)

    init(release: String) {
        if release.hasSuffix("-virtme") {
            self = .debug
        } else if release.hasPrefix("6.1.") && release.hasSuffix("-amd64") {
            self = .stock61
        } else if release.hasPrefix("6.12.") {
            self = .stock612
        } else {
            self = .other(release)
        }
    }

    /// The sources this kernel must have (and no others); nil for an unknown kernel. The CMA heap is
    /// expected nowhere: none of the test kernels reserves a CMA area.
    var expectedSources: Set<DMABufSource>? {
        switch self {
        case .stock61: [.exporter, .vgem]
        case .stock612, .debug: [.heapSystem, .udmabuf, .exporter, .vgem]
        case .other: nil
        }
    }

    var description: String {
        switch self {
        case .stock61: "stock 6.1"
        case .stock612: "stock 6.12"
        case .debug: "debug kernel"
        case .other(let release): release
        }
    }
}

/// Runs `body` with `source` opened, if this kernel has it. A source the kernel is expected to
/// have but that does not open fails the test; one it is not expected to have returns quietly.
/// On the host only with DMABUF_HOST_DEVICES=1.
func withSource(
    _ source: DMABufSource, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: (borrowing SourceAllocator) throws -> Void
) throws {
    guard TestEnvironment.requiresDevices || TestEnvironment.usesHostDevices else { return }
    let expected = TestKernel.current.expectedSources?.contains(source) ?? false
    let allocator: SourceAllocator
    do {
        allocator = try source.open()
    } catch {
        if expected {
            Issue.record("\(TestKernel.current) must have \(source): \(error)", sourceLocation: sourceLocation)
        }
        return
    }
    try body(allocator)
}

/// The path of the test helper executable, next to the test bundle.
func testHelperPath() throws -> String {
    var target = [CChar](repeating: 0, count: 4096)
    let count = readlink("/proc/self/exe", &target, target.count - 1)
    try #require(count > 0)
    let exe = String(decoding: target[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return FilePath(exe).removingLastComponent().appending("DMABufTestHelper").string
}

/// Starts the helper as a new process (posix_spawn, so nothing runs between fork and exec), with
/// `buffer` as its fd 3, and returns its exit status.
func runHelper(_ buffer: borrowing DMABuffer, arguments: [String]) throws -> CInt {
    let helper = try testHelperPath()
    try #require(access(helper, X_OK) == 0, "\(helper) is built by swift build --build-tests")
    // The fd the child gets must not be 3 already: dup2 onto itself would keep FD_CLOEXEC.
    let source = try buffer.duplicate()
    let fd = source.withUnsafeDescriptor(\.rawValue)
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if fd == 3 {
        let other = try source.duplicate()
        posix_spawn_file_actions_adddup2(&actions, other.withUnsafeDescriptor(\.rawValue), 3)
        return try spawn(helper, ["DMABufTestHelper", "3"] + arguments, &actions)
    }
    posix_spawn_file_actions_adddup2(&actions, fd, 3)
    return try spawn(helper, ["DMABufTestHelper", "3"] + arguments, &actions)
}

private func spawn(_ path: String, _ arguments: [String], _ actions: inout posix_spawn_file_actions_t) throws -> CInt {
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, path, &actions, nil, &argv, environ)
    try #require(spawned == 0, "posix_spawn \(path): \(Errno(rawValue: spawned))")
    var status: CInt = 0
    while waitpid(pid, &status, 0) == -1 {
        try #require(errno == EINTR, "waitpid: \(Errno(rawValue: errno))")
    }
    // WIFEXITED / WEXITSTATUS, which Swift does not import.
    return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}

/// Fills the whole of `buffer` with `pattern`, through a mapping, inside a write bracket.
func fillBuffer(_ buffer: borrowing DMABuffer, with pattern: FillPattern) throws {
    var mapping = try buffer.map()
    try mapping.withCPUAccess(.write) { bytes in pattern.fill(&bytes) }
}

/// The first offset of `buffer` (mapped from `range`) that differs from `pattern`.
func mismatch(in buffer: borrowing DMABuffer, _ range: Range<Int>? = nil, pattern: FillPattern) throws -> Int? {
    let mapping = try buffer.map(range ?? 0..<buffer.size)
    return try mapping.withCPUAccess(.read) { bytes in pattern.firstMismatch(in: bytes, startingAt: mapping.offset) }
}

/// The CRC-32C of `range` of `buffer` as the kernel reads it: the exporter module imports the
/// buffer (DMABUF_EXPORTER_IOC_IMPORT, `DMABufExporter.import(_:range:)`). Checks the rest of what
/// the import reports on the way: the buffer's size, the range and at least one DMA segment.
func kernelChecksum(
    of buffer: borrowing DMABuffer, range: Range<Int>, sourceLocation: SourceLocation = #_sourceLocation
) throws -> UInt32 {
    let result = try DMABufExporter().import(buffer, range: range)
    #expect(result.size == buffer.size, sourceLocation: sourceLocation)
    #expect(result.range == range, sourceLocation: sourceLocation)
    #expect(result.segmentCount >= 1, "nents \(result.segmentCount)", sourceLocation: sourceLocation)
    return result.crc32c
}

extension DeviceTests {
    /// One suite over every source on every test kernel: what all dma-bufs must do, and the
    /// differences between sources asserted, not skipped.
    @Suite struct Conformance {
        static let page = Sys.pageSize

        @Test func availabilityMatchesTheKernel() throws {
            let kernel = TestKernel.current
            guard let expected = kernel.expectedSources else {
                #expect(!TestEnvironment.requiresDevices, "a VM runs an unknown kernel \(kernel)")
                return
            }
            for status in DMABufSource.survey() {
                #expect(
                    status.isAvailable == expected.contains(status.source),
                    "\(kernel): \(status.source): \(status.detail)")
                if !status.isAvailable { #expect(!status.detail.isEmpty) }
            }
        }

        @Test func automaticPicksTheFirstAvailableAndSaysWhy() throws {
            let kernel = TestKernel.current
            guard kernel.expectedSources != nil else { return }
            let allocator = try DMABufSource.automatic()
            switch kernel {
            case .stock61:
                #expect(allocator.source == .exporter)
                #expect(allocator.passedOver.map(\.source) == [.heapSystem, .udmabuf])
                #expect(allocator.passedOver[0].detail.contains("CONFIG_DMABUF_HEAPS"))
                #expect(allocator.passedOver[1].detail.contains("CONFIG_UDMABUF"))
            default:
                #expect(allocator.source == .heapSystem && allocator.passedOver.isEmpty)
                #expect(allocator.path == "/dev/dma_heap/system")
            }
            #expect(Sources.defaultSource(DMABufSource.survey()) == allocator.source)
        }

        @Test func heapNamesListTheDirectory() throws {
            guard let expected = TestKernel.current.expectedSources else { return }
            let names = try DMAHeap.names()
            #expect(names.contains(DMAHeap.systemName) == expected.contains(.heapSystem), "\(names)")
            #expect(DMAHeap.cmaName() == nil)
        }

        @Test func cmaHeapIsMissingWithAReason() {
            guard TestKernel.current.expectedSources != nil else { return }
            let error = expectError(.deviceMissing, .libraryMade) { try DMAHeap.cma() }
            #expect(error?.hint?.contains("CONFIG_DMABUF_HEAPS") == true)
            if TestKernel.current == .stock612 {
                // /boot/config-<release> says which: 6.12 has DMA heaps but no CMA heap.
                #expect(error?.hint?.hasSuffix("the kernel was built without CONFIG_DMABUF_HEAPS_CMA") == true)
            }
        }

        @Test(arguments: DMABufSource.allCases)
        func sizesRoundUpToPagesAndBuffersAreZeroFilled(source: DMABufSource) throws {
            try withSource(source) { allocator in
                let page = Self.page
                // At most 64 KiB: 6.1's udmabuf maps its sg table for CPU access (SYNC) with its misc
                // device, whose DMA segment limit is 64 KiB, so with DMA_API_DEBUG (the debug kernel)
                // a larger buffer whose pages happen to be contiguous makes the kernel WARN
                // ("mapping sg segment longer than device claims to support"): a kernel bug, not ours.
                for (size, pages) in [(1, 1), (page, 1), (page + 1, 2), (5 * page - 3, 5), (16 * page, 16)] {
                    let buffer = try allocator.allocate(size: size, name: nil)
                    #expect(buffer.size == pages * page, "\(source): \(size) bytes")
                    #expect(try buffer.info().size == buffer.size)
                    #expect(buffer.accessMode == .readWrite && buffer.isWritable)
                    #expect(try allBytes(of: buffer.map(), equal: 0), "\(source): zero-filled")
                }
                expectError(.invalidArgument, .libraryMade, "\(source): size 0") {
                    try allocator.allocate(size: 0, name: nil)
                }
            }
        }

        @Test(arguments: DMABufSource.allCases)
        func mappingsReadAndWriteWithSync(source: DMABufSource) throws {
            try withSource(source) { allocator in
                let page = Self.page
                let buffer = try allocator.allocate(size: 4 * page, name: nil)
                let pattern = FillPattern(seed: 0x5eed_0001)
                let mock = try expectNoLeaks {
                    try fillBuffer(buffer, with: pattern)
                    #expect(try mismatch(in: buffer.duplicate(), pattern: pattern) == nil, "\(source)")
                }
                let syncs = mock.calls("ioctl").filter { $0.call.request == syncRequest }
                #expect(syncs.count == 4, "START and END around the write and the read")
                #expect(syncs.allSatisfy { if case .success = $0.result { true } else { false } })

                // A mapping from an offset: every source but vgem shows the bytes there.
                let part = try buffer.map(2 * page..<3 * page)
                let atOffset = try part.withCPUAccess(.read) { pattern.firstMismatch(in: $0, startingAt: 2 * page) }
                let fromStart = try part.withCPUAccess(.read) { pattern.firstMismatch(in: $0, startingAt: 0) }
                if source.honoursMappingOffset {
                    #expect(atOffset == nil, "\(source) maps the bytes at the offset")
                } else {
                    #expect(fromStart == nil && atOffset != nil, "vgem ignores the mmap offset: page 0 shows")
                }
            }
        }

        @Test(arguments: DMABufSource.allCases)
        func readOnlyFdsWhereTheSourceHasThem(source: DMABufSource) throws {
            try withSource(source) { allocator in
                let page = Self.page
                guard source.supportsReadOnly else {
                    // udmabuf: read-write fds only, by the kernel (O_RDWR) and so by the library.
                    expectError(.unsupported, .libraryMade) {
                        try allocator.allocate(size: page, accessMode: .readOnly)
                    }
                    let buffer = try allocator.allocate(size: page, name: nil)
                    #expect(buffer.accessMode == .readWrite)
                    #expect(try buffer.info().accessMode == .readWrite)
                    return
                }
                let buffer = try allocator.allocate(size: 2 * page, accessMode: .readOnly)
                #expect(buffer.accessMode == .readOnly && !buffer.isWritable)
                #expect(try buffer.info().accessMode == .readOnly)
                var mapping = try buffer.map()
                let mappingIsWritable = mapping.isWritable
                #expect(!mappingIsWritable)
                #expect(try allBytes(of: mapping, equal: 0))
                expectError(.permissionDenied, .libraryMade) { try fill(&mapping, with: 1) }
                // The kernel itself refuses a writable mapping of a read-only fd.
                let writable = buffer.withUnsafeDescriptor { fd in
                    Sys.mmap(fd, count: page, offset: 0, protection: PROT_READ | PROT_WRITE)
                }
                #expect(throws: Errno.permissionDenied) { try writable.get() }
                if case .success(let address) = writable { _ = Sys.munmap(address, count: page) }
            }
        }

        @Test(arguments: DMABufSource.allCases)
        func namesAndFdinfo(source: DMABufSource) throws {
            try withSource(source) { allocator in
                let buffer = try allocator.allocate(size: Self.page, name: "conf-\(source)")
                var info = try buffer.info()
                #expect(info.exporterName == source.exporterName, "\(source): exp_name")
                #expect(info.name == "conf-\(source)")
                #expect(info.size == buffer.size && info.inode == buffer.identity.inode)
                #expect(
                    try buffer.setName("renamed-\(source.rawValue)-0123456789abcdef")
                        == "renamed-\(source.rawValue)-0123456789abcdef".prefix(31).description)
                info = try buffer.info()
                #expect(info.name?.hasPrefix("renamed-\(source.rawValue)") == true)
                #expect(try allocator.allocate(size: Self.page, name: nil).info().name == nil)
            }
        }

        @Test(arguments: DMABufSource.allCases)
        func buffersOutliveTheirAllocator(source: DMABufSource) throws {
            var kept: DMABuffer?
            try withSource(source) { allocator in
                kept = try allocator.allocate(size: 3 * Self.page, name: "outlives")
            }
            guard let buffer = kept.take() else { return }
            // The allocator (heap, device or DRM fd) is closed now.
            let pattern = FillPattern(seed: 0x0b5e_55ed)
            try fillBuffer(buffer, with: pattern)
            #expect(try mismatch(in: buffer, pattern: pattern) == nil)
            #expect(try buffer.info().name == "outlives")
            try buffer.close()
        }

        @Test(arguments: DMABufSource.allCases)
        func aChildProcessSeesWritesAndWritesBack(source: DMABufSource) throws {
            try withSource(source) { allocator in
                let buffer = try allocator.allocate(size: 8 * Self.page, name: "to-child")
                try fillBuffer(buffer, with: FillPattern(seed: 1111))
                let status = try runHelper(buffer, arguments: ["1111", "2222"])
                #expect(status == 0, "\(source): the child saw the parent's pattern and wrote its own")
                #expect(
                    try mismatch(in: buffer, pattern: FillPattern(seed: 2222)) == nil, "\(source): the child's write")
                // And the child really checks: a wrong seed fails it.
                #expect(try runHelper(buffer, arguments: ["1111", "3333"]) == 1)
            }
        }

        @Test(arguments: DMABufSource.allCases)
        func vgemImportsIt(source: DMABufSource) throws {
            try withSource(source) { allocator in
                let buffer = try allocator.allocate(size: 4 * Self.page, name: nil)
                let vgem = try DRMDevice.open(driver: "vgem")
                let handle = try vgem.importBuffer(buffer)
                #expect(try vgem.importBuffer(buffer) == handle, "one GEM object per dma-buf")
                let back = try vgem.exportBuffer(handle)
                #expect(back.identity == buffer.identity, "\(source): re-exporting gives the same dma-buf")
                try vgem.closeHandle(handle)
            }
        }

        /// The kernel, importing the buffer as a driver would (the exporter module's IMPORT), reads
        /// what user space wrote: its CRC-32C of a seeded pattern equals Swift's, over the whole
        /// buffer and over sub-ranges; it names the buffer's exporter as fdinfo does, maps it in
        /// at least one DMA segment, and reads it through vmap. An exporter without vmap (udmabuf
        /// before 6.2: the debug kernel) is refused with EOPNOTSUPP and a hint that says why.
        @Test(arguments: DMABufSource.allCases)
        func kernelImportChecksumEqualsSwifts(source: DMABufSource) throws {
            try withSource(source) { allocator in
                let page = Self.page
                let buffer = try allocator.allocate(size: 16 * page, name: "crc")
                let pattern = FillPattern(seed: 0xc4c3_2c00)
                try fillBuffer(buffer, with: pattern)
                if Self.importIsRefused(source) {
                    try expectImportRefused { _ = try DMABufExporter().import(buffer) }
                    return
                }
                for range in [0..<buffer.size, page + 5..<7 * page + 3, buffer.size - 1..<buffer.size] {
                    #expect(try kernelChecksum(of: buffer, range: range) == pattern.checksum(of: range), "\(range)")
                }

                let whole = try DMABufExporter().import(buffer)
                #expect(whole.range == 0..<buffer.size && whole.size == buffer.size)
                #expect(whole.crc32c == pattern.checksum(of: 0..<buffer.size))
                #expect(whole.exporterName == source.exporterName, "\(source): exp_name")
                #expect(whole.exporterName == (try buffer.info().exporterName))
                #expect((1...16).contains(whole.segmentCount), "\(source): nents \(whole.segmentCount)")
                #expect(whole.readPath == .vmap, "\(source): \(whole.readPath)")

                // Read-only fds import too (udmabuf has none).
                if source.supportsReadOnly {
                    let readOnly = try allocator.allocate(size: 2 * page, accessMode: .readOnly)
                    #expect(
                        try DMABufExporter().import(readOnly).crc32c
                            == CRC32C.checksum(repeatElement(UInt8(0), count: 2 * page)))
                }

                // And the kernel really reads: a change through the mapping changes its CRC.
                var mapping = try buffer.map()
                try mapping.withCPUAccess(.write) { bytes in bytes.storeBytes(of: 0x5a, toByteOffset: 7, as: UInt8.self)
                }
                var changed = pattern.bytes(0..<page)
                changed[7] = 0x5a
                let changedCRC = try kernelChecksum(of: buffer, range: 0..<page)
                #expect(changedCRC == CRC32C.checksum(changed) && changedCRC != pattern.checksum(of: 0..<page))
            }
        }

        /// Whether the module refuses to IMPORT the source's buffers on this kernel: an exporter
        /// without vmap (udmabuf before 6.2, the debug kernel) cannot be read coherently.
        static func importIsRefused(_ source: DMABufSource) -> Bool {
            source == .udmabuf && TestKernel.current == .debug
        }

        /// `body`, an IMPORT of a buffer the module refuses (directly, or through a command, which
        /// wraps the error), throws EOPNOTSUPP with a hint that says why.
        func expectImportRefused(_ body: () throws -> Void) throws {
            let thrown = #expect(throws: (any Error).self) { try body() }
            let error = thrown as? DMABufError ?? (thrown as? CommandError)?.error
            #expect(error?.errno == .notSupported, "\(String(describing: thrown))")
            #expect(error?.hint?.contains("no kernel mapping (vmap)") == true)
        }

        /// `dmabuf verify` passes for the source, for the whole buffer and a sub-range; where the
        /// module refuses the source, it fails with the module's reason.
        @Test(arguments: DMABufSource.allCases)
        func verifyCommandPasses(source: DMABufSource) throws {
            var available = false
            try withSource(source) { _ in available = true }
            guard available else { return }
            if Self.importIsRefused(source) {
                try expectImportRefused { _ = try Verify.parse(["--from", source.rawValue, "--size", "64K"]).verify() }
                return
            }
            let whole = try Verify.parse(["--from", source.rawValue, "--size", "64K", "--seed", "0x5eed"]).verify()
            #expect(whole.matches, "\(whole.lines)")
            #expect(whole.source == source && whole.range == 0..<65536)
            #expect(whole.imported.exporterName == source.exporterName && whole.imported.segmentCount >= 1)
            #expect(whole.lines.last?.hasPrefix("OK:") == true)
            try Verify.parse(["--from", source.rawValue, "--size", "64K", "--offset", "4097", "--length", "20000"])
                .run()
            let part = try Verify.parse(["--from", source.rawValue, "--size", "40000", "--offset", "12K"]).verify()
            #expect(part.matches && part.range == 12288..<40960, "\(part.lines)")
            #expect(throws: Verify.RangeError.self, "past the end of the rounded-up buffer") {
                try Verify.parse(["--from", source.rawValue, "--size", "60K", "--offset", "64K"]).verify()
            }
        }

        /// `dmabuf verify` can fail: checked against another seed's pattern, it reports the
        /// mismatch and exits 1.
        @Test(arguments: DMABufSource.allCases)
        func verifyCommandReportsAMismatch(source: DMABufSource) throws {
            var available = false
            try withSource(source) { _ in available = true }
            guard available, !Self.importIsRefused(source) else { return }
            let arguments = ["--from", source.rawValue, "--size", "16K", "--seed", "7", "--check-seed", "8"]
            let report = try Verify.parse(arguments).verify()
            #expect(!report.matches)
            #expect(report.imported.crc32c == FillPattern(seed: 7).checksum(of: 0..<16384), "the kernel read seed 7")
            #expect(report.expected == FillPattern(seed: 8).checksum(of: 0..<16384))
            #expect(report.lines.last?.hasPrefix("FAIL: the kernel's CRC-32C") == true, "\(report.lines)")
            #expect(throws: ExitCode.failure) { try Verify.parse(arguments).run() }
        }

        @Test(arguments: DMABufSource.allCases)
        func allocCommandAllocatesFromIt(source: DMABufSource) throws {
            try withSource(source) { allocator in
                let info = try allocator.allocate(size: 1 << 16, name: "cli").info()
                try HelperProcess.expectCommand(
                    ["alloc", "--from", source.rawValue, "--size", "64K", "--name", "cli"],
                    printsLines: [
                        "source    \(allocator.source) (\(allocator.path))", "size      65536 bytes (64 KiB)",
                        "exporter  \(info.exporterName)", "name      \(info.name ?? "(none)")", "access    read-write",
                    ])
            }
        }
    }
}
