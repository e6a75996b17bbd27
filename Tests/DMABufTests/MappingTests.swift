import CDMABuf
import DMABuf
import DMABufTestSupport
import Glibc
import Synchronization
import SystemPackage
import Testing

struct Boom: Error {}

/// A mock that stands in for DMA_BUF_IOCTL_SYNC, which a memfd does not have: answers each SYNC
/// with the next of `answers` (success once they run out) and passes every other call through.
func fakeSync(_ answers: [Errno?] = []) -> SyscallMock {
    let remaining = Mutex(answers)
    return SyscallMock { call in
        guard call.name == "ioctl", call.request == syncRequest else { return .passThrough }
        let answer = remaining.withLock { $0.isEmpty ? nil : $0.removeFirst() }
        return answer.map { .fail($0) } ?? .succeed(0)
    }
}

/// The SYNC flags the library asked for (injected answers included, retries too).
func syncFlags(_ mock: SyscallMock) -> [UInt64] {
    mock.calls("ioctl").filter { $0.call.request == syncRequest }.compactMap(\.call.argument)
}

/// The mapping and its CPU-access bracket, on a memfd.
@Suite struct MemfdMapping {
    let page = Sys.pageSize

    @Test func unsynchronizedViewsShareTheMemory() throws {
        var mapping = try memfdBuffer(size: 2 * page).map()
        #expect(mapping.count == 2 * page && mapping.offset == 0 && mapping.isWritable)
        var bytes = mapping.unsynchronizedMutableBytes
        bytes.storeBytes(of: 0xAB, toByteOffset: page + 1, as: UInt8.self)
        #expect(mapping.unsynchronizedBytes.unsafeLoad(fromByteOffset: page + 1, as: UInt8.self) == 0xAB)
    }

    @Test func rangeStartsAtItsOffset() throws {
        let buffer = try memfdBuffer(size: 3 * page)
        try buffer.withUnsafeDescriptor { fd in
            _ = try fd.writeAll(toAbsoluteOffset: Int64(2 * page), "page two".utf8)
        }
        let mapping = try buffer.map(2 * page..<3 * page)
        #expect(mapping.offset == 2 * page && mapping.count == page)
        #expect(cString(mapping.unsynchronizedBytes) == "page two")
    }

    @Test func refusesRangesOutsideTheBufferBeforeMmap() throws {
        let buffer = try memfdBuffer(size: 2 * page)
        for range in [1..<page, 0..<0, 0..<3 * page, -page..<page, page..<3 * page] {
            let mock = SyscallMock()
            expectError(.invalidArgument, .libraryMade, "\(range)", mock: mock) { try buffer.map(range) }
            #expect(mock.records.isEmpty, "no system call for \(range)")
        }
    }

    @Test func readOnlyFdGivesReadOnlyMappingThatRefusesWriteAccess() throws {
        var mapping = try memfdBuffer(size: page, accessMode: .readOnly).map()
        let writable = mapping.isWritable
        #expect(!writable)
        let mock = fakeSync()
        for access in [DMABuffer.CPUWriteAccess.write, .readWrite] {
            expectError(.permissionDenied, .libraryMade, mock: mock) { try mapping.withCPUAccess(access) { _ in } }
        }
        #expect(syncFlags(mock).isEmpty, "refused before any ioctl")
        let first = try mock.run { try mapping.withCPUAccess(.read) { $0.unsafeLoad(as: UInt8.self) } }
        #expect(first == 0)
        #expect(syncFlags(mock) == [syncStart | syncRead, syncEnd | syncRead])
    }

    @Test func writeOnlyFdCannotBeMapped() throws {
        let buffer = try memfdBuffer(size: page, accessMode: .writeOnly)
        #expect(buffer.accessMode == .writeOnly && !buffer.isWritable)
        expectError(.permissionDenied, .libraryMade) { try buffer.map() }
    }

    @Test func readBracketGivesTheBytes() throws {
        var mapping = try memfdBuffer(size: page).map()
        var view = mapping.unsynchronizedMutableBytes
        view.storeBytes(of: 0x42, toByteOffset: 7, as: UInt8.self)
        let mock = fakeSync()
        let (byte, count) = try mock.run {
            try mapping.withCPUAccess(.read) { bytes in
                (bytes.unsafeLoad(fromByteOffset: 7, as: UInt8.self), bytes.byteCount)
            }
        }
        #expect(byte == 0x42 && count == page)
    }

    @Test(arguments: [(DMABuffer.CPUWriteAccess.write, syncWrite), (.readWrite, syncRead | syncWrite)])
    func writeBracketsBodyWithStartAndEnd(access: DMABuffer.CPUWriteAccess, direction: UInt64) throws {
        var mapping = try memfdBuffer(size: page).map()
        let mock = fakeSync()
        let seen = try mock.run {
            try mapping.withCPUAccess(access) { bytes in
                bytes.storeBytes(of: 0x5A, toByteOffset: page - 1, as: UInt8.self)
                return syncFlags(mock)
            }
        }
        #expect(seen == [syncStart | direction])
        #expect(syncFlags(mock) == [syncStart | direction, syncEnd | direction])
        #expect(mapping.unsynchronizedBytes.unsafeLoad(fromByteOffset: page - 1, as: UInt8.self) == 0x5A)
    }

    @Test func endsEvenWhenTheBodyThrows() throws {
        var mapping = try memfdBuffer(size: page).map()
        let mock = fakeSync([nil, .invalidArgument])  // END fails too: the body's error wins
        #expect(throws: Boom.self) { try mock.run { try mapping.withCPUAccess(.write) { _ in throw Boom() } } }
        #expect(syncFlags(mock) == [syncStart | syncWrite, syncEnd | syncWrite])
    }

    @Test func failedStartSkipsBodyAndEnd() throws {
        let mapping = try memfdBuffer(size: page).map()
        let mock = fakeSync([.noMemory])
        var ran = false
        let error = expectError(.outOfMemory, .kernel(.noMemory), mock: mock) {
            try mapping.withCPUAccess(.read) { _ in ran = true }
        }
        #expect(!ran && syncFlags(mock).count == 1)
        #expect(error?.operation == "DMA_BUF_IOCTL_SYNC(START, READ)")
    }

    @Test func failedEndIsReported() throws {
        var mapping = try memfdBuffer(size: page).map()
        let mock = fakeSync([nil, .invalidArgument])
        let error = expectError(.invalidArgument, .kernel(.invalidArgument), mock: mock) {
            try mapping.withCPUAccess(.readWrite) { _ in 1 }
        }
        #expect(error?.operation == "DMA_BUF_IOCTL_SYNC(END, RW)")
    }

    /// SYNC waits for fences and can be interrupted (EINTR) or asked to come back (EAGAIN):
    /// both are retried, START and END alike, and the body runs once.
    @Test func startAndEndRetryEINTRAndEAGAIN() throws {
        var mapping = try memfdBuffer(size: page).map()
        let mock = fakeSync([.interrupted, .resourceTemporarilyUnavailable, nil, .interrupted, .interrupted])
        var runs = 0
        try mock.run { try mapping.withCPUAccess(.write) { _ in runs += 1 } }
        #expect(runs == 1)
        let start = syncStart | syncWrite
        let end = syncEnd | syncWrite
        #expect(syncFlags(mock) == [start, start, start, end, end, end])
    }

    @Test func otherSyncErrorsAreNotRetried() throws {
        let mapping = try memfdBuffer(size: page).map()
        let mock = fakeSync([.resourceBusy])
        expectError(.busy, .kernel(.resourceBusy), mock: mock) { try mapping.withCPUAccess(.read) { _ in } }
        #expect(syncFlags(mock).count == 1)
    }

    @Test func realSyncIoctlOnAMemfdIsUnsupported() throws {
        let mapping = try memfdBuffer(size: page).map()
        let error = expectError(.unsupported, .kernel(.inappropriateIOCTLForDevice)) {
            try mapping.withCPUAccess(.read) { _ in }
        }
        #expect(error?.operation == "DMA_BUF_IOCTL_SYNC(START, READ)")
        #expect(error?.target?.hasPrefix("mapping of dma-buf fd") == true)
    }
}
