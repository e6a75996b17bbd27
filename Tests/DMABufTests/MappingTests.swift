import CDMABuf
import Glibc
import Synchronization
import SystemPackage
import Testing

@testable import DMABuf

/// Stands in for DMA_BUF_IOCTL_SYNC, which a memfd does not have: records the flags, and fails
/// with `failure` the call numbered `failingCall` (0-based).
final class FakeSync: Sendable {
    let calls = Mutex<[UInt64]>([])
    let failingCall: Int?
    let failure: Errno

    init(failingCall: Int? = nil, with failure: Errno = .invalidArgument) {
        (self.failingCall, self.failure) = (failingCall, failure)
    }

    var flags: [UInt64] { calls.withLock { $0 } }

    func synchronizer() -> DMABufferMapping.Synchronizer {
        { _, flags in
            self.calls.withLock { calls in
                calls.append(flags)
                return calls.count - 1 == self.failingCall ? .failure(self.failure) : .success(())
            }
        }
    }
}

let syncStart = CDMABuf_DMA_BUF_SYNC_START(), syncEnd = CDMABuf_DMA_BUF_SYNC_END()
let syncRead = CDMABuf_DMA_BUF_SYNC_READ(), syncWrite = CDMABuf_DMA_BUF_SYNC_WRITE()

struct Boom: Error {}

extension DMABufTests {
    /// The mapping and its CPU-access bracket, on a memfd.
    @Suite struct MemfdMapping {
        let page = Sys.pageSize

        func map(size: Int, range: Range<Int>? = nil, readOnly: Bool = false, sync: FakeSync = FakeSync()) throws -> DMABufferMapping {
            try DMABufferMapping(owning: makeMemfd(size: size, readOnly: readOnly), range: range, synchronizer: sync.synchronizer())
        }

        @Test func wholeBufferViewsShareTheMemory() throws {
            var mapping = try map(size: 2 * page)
            #expect(mapping.count == 2 * page && mapping.offset == 0 && mapping.isWritable)
            var bytes = mapping.mutableBytes
            bytes.storeBytes(of: 0xAB, toByteOffset: page + 1, as: UInt8.self)
            #expect(mapping.bytes.unsafeLoad(fromByteOffset: page + 1, as: UInt8.self) == 0xAB)
            mapping.withUnsafeMutableBytes { $0[0] = 0x11 }
            #expect(mapping.withUnsafeBytes { $0[0] } == 0x11)
        }

        @Test func rangeStartsAtItsOffset() throws {
            let fd = try makeMemfd(size: 3 * page)
            _ = try "page two".utf8.withContiguousStorageIfAvailable { try fd.writeAll(toAbsoluteOffset: Int64(2 * page), $0) }
            let mapping = try DMABufferMapping(owning: fd, range: 2 * page..<3 * page)
            #expect(mapping.offset == 2 * page && mapping.count == page)
            #expect(mapping.withUnsafeBytes(cString) == "page two")
        }

        @Test func refusesBadRangesAndLeaksNothing() throws {
            let before = openDescriptorCount()
            for range in [1..<page, 0..<0, 0..<3 * page, -page..<page, page..<3 * page] {
                let error = expectError(.invalidArgument) { try map(size: 2 * page, range: range) }
                #expect(error?.hint?.contains("page boundary") == true)
            }
            #expect(openDescriptorCount() == before)
        }

        @Test func emptyFileCannotBeMapped() {
            expectError(.invalidArgument) { try map(size: 0) }
        }

        @Test func readOnlyFdGivesReadOnlyMapping() throws {
            let sync = FakeSync()
            var mapping = try map(size: page, readOnly: true, sync: sync)
            let writable = mapping.isWritable
            #expect(!writable)
            for access in [CPUAccess.write, .readWrite] {
                let error = expectError(.permissionDenied) { try mapping.withCPUAccess(access) { _ in } }
                #expect(error?.description.contains("read-only") == true)
            }
            #expect(sync.flags.isEmpty, "refused before any ioctl")
            #expect(try mapping.withCPUAccess(.read) { $0.withUnsafeBytes { $0[0] } } == 0)
            #expect(sync.flags == [syncStart | syncRead, syncEnd | syncRead])
        }

        @Test(arguments: [(CPUAccess.read, syncRead), (.write, syncWrite), (.readWrite, syncRead | syncWrite)])
        func bracketsBodyWithStartAndEnd(access: CPUAccess, direction: UInt64) throws {
            let sync = FakeSync()
            var mapping = try map(size: page, sync: sync)
            let seen = try mapping.withCPUAccess(access) { _ in sync.flags }
            #expect(seen == [syncStart | direction])
            #expect(sync.flags == [syncStart | direction, syncEnd | direction])
        }

        @Test func endsEvenWhenTheBodyThrows() throws {
            let sync = FakeSync(failingCall: 1)  // END fails too: the body's error wins
            var mapping = try map(size: page, sync: sync)
            #expect(throws: Boom.self) { try mapping.withCPUAccess(.write) { _ in throw Boom() } }
            #expect(sync.flags == [syncStart | syncWrite, syncEnd | syncWrite])
        }

        @Test func failedStartSkipsBodyAndEnd() throws {
            let sync = FakeSync(failingCall: 0, with: .noMemory)
            var mapping = try map(size: page, sync: sync)
            var ran = false
            let error = expectError(.noMemory) { try mapping.withCPUAccess(.read) { _ in ran = true } }
            #expect(!ran && sync.flags.count == 1)
            #expect(error?.operation == "DMA_BUF_IOCTL_SYNC(START, READ)")
        }

        @Test func failedEndIsReported() throws {
            var mapping = try map(size: page, sync: FakeSync(failingCall: 1))
            let error = expectError(.invalidArgument) { try mapping.withCPUAccess(.readWrite) { _ in 1 } }
            #expect(error?.operation == "DMA_BUF_IOCTL_SYNC(END, RW)")
        }

        @Test func realSyncIoctlOnAMemfdIsRefused() throws {
            var mapping = try DMABufferMapping(owning: makeMemfd(size: page), range: nil)
            let error = expectError(.inappropriateIOCTLForDevice) { try mapping.withCPUAccess(.read) { _ in } }
            #expect(error?.description.hasPrefix("DMA_BUF_IOCTL_SYNC(START, READ) on mapping of dma-buf fd") == true)
        }
    }
}
