import DMABuf
import DMABufExporterClient
import DMABufTestSupport
import Glibc
import SystemPackage
import Testing

/// Each owner closes its fd exactly once. A memfd stands in for the dma-buf (`init(trusting:)`
/// skips the file system check); a recording `SyscallMock` shows every close.
@Suite struct Ownership {
    func closes(_ mock: SyscallMock) -> [CInt] { mock.calls("close").compactMap(\.call.descriptor) }

    @Test func deinitClosesOnce() throws {
        let fd = try makeMemfd(size: 4096)
        let mock = try expectNoLeaks {
            let buffer = try DMABuffer(trusting: fd)
            #expect(buffer.size == 4096 && buffer.accessMode == .readWrite && buffer.isWritable)
        }
        #expect(closes(mock) == [fd.rawValue])
    }

    @Test func closeClosesOnceAndReports() throws {
        let fd = try makeMemfd(size: 4096)
        let mock = try expectNoLeaks { try DMABuffer(trusting: fd).close() }
        #expect(closes(mock) == [fd.rawValue])
        // a close that fails is reported, and the fd is not closed again
        let failing = SyscallMock { $0.name == "close" ? .fail(.ioError) : .passThrough }
        let other = try makeMemfd(size: 4096)
        defer { try? other.close() }
        expectError(.other, .kernel(.ioError), mock: failing) { try DMABuffer(trusting: other).close() }
        #expect(closes(failing) == [other.rawValue])
    }

    @Test func takeDescriptorHandsItOver() throws {
        let fd = try makeMemfd(size: 4096)
        defer { try? fd.close() }
        let mock = SyscallMock()
        let taken = try mock.run { try DMABuffer(trusting: fd).takeDescriptor() }
        #expect(taken == fd && isOpen(fd) && closes(mock).isEmpty)
    }

    @Test func adoptingSetsCloseOnExecOnlyAfterChecking() throws {
        let fd = try makeMemfd(size: 4096)
        defer { try? fd.close() }
        _ = fcntl(fd.rawValue, F_SETFD, 0)
        _ = try DMABuffer(trusting: fd).takeDescriptor()
        #expect(fcntl(fd.rawValue, F_GETFD) & FD_CLOEXEC != 0)
        // a refused fd is left as it was
        _ = fcntl(fd.rawValue, F_SETFD, 0)
        expectError(.notADMABuf, .libraryMade) { try DMABuffer(adopting: fd) }
        #expect(fcntl(fd.rawValue, F_GETFD) & FD_CLOEXEC == 0)
    }

    @Test func duplicateIsASecondOwnerWithTheSameMetadata() throws {
        let mock = try expectNoLeaks {
            let buffer = try memfdBuffer(size: 8192, accessMode: .readOnly)
            let copy = try buffer.duplicate()
            #expect(buffer.identity == copy.identity && copy.size == 8192 && copy.accessMode == .readOnly)
            #expect(buffer.withUnsafeDescriptor { $0 } != copy.withUnsafeDescriptor { $0 })
            try buffer.close()
            #expect(isOpen(copy.withUnsafeDescriptor { $0 }))
        }
        #expect(mock.calls("fstat").count == 1, "read for the first owner only")
        #expect(mock.calls("lseek").isEmpty, "fstat gives the size")
    }

    @Test func metadataIsReadOnce() throws {
        let buffer = try memfdBuffer(size: 4096)
        let mock = SyscallMock()
        mock.run {
            _ = (buffer.size, buffer.identity, buffer.accessMode, buffer.isWritable)
        }
        #expect(mock.records.isEmpty)
    }

    @Test func mappingKeepsItsOwnFdAndReleasesIt() throws {
        let mock = try expectNoLeaks {
            var mapping: DMABuffer.Mapping? = try memfdBuffer(size: 4096).map()
            #expect(mapping?.count == 4096)
            mapping = nil
        }
        #expect(mock.calls("munmap").count == 1 && mock.calls("close").count == 2)
    }

    @Test func failedMmapLeaksNothing() throws {
        let buffer = try memfdBuffer(size: 4096)
        let mock = SyscallMock { $0.name == "mmap" ? .fail(.noMemory) : .passThrough }
        expectError(.outOfMemory, .kernel(.noMemory), mock: mock) { try buffer.map() }
        #expect(mock.calls("close").count == 1, "the mapping's duplicate fd is closed")
    }

    @Test func adoptingAMemfdLeavesItOpen() throws {
        let fd = try makeMemfd(size: 4096)
        defer { try? fd.close() }
        let error = expectError(.notADMABuf, .libraryMade) { try DMABuffer(adopting: fd) }
        #expect(isOpen(fd))
        #expect(error?.target == "fd \(fd.rawValue) (/memfd:dmabuf-test (deleted))")
    }

    @Test func adoptingAClosedFd() {
        let fd = unusedDescriptor()
        let error = expectError(.badDescriptor, .kernel(.badFileDescriptor)) { try DMABuffer(adopting: fd) }
        #expect(error?.hint == "It is not an open file descriptor")
    }

    @Test func failedDeviceOpenLeaksNothing() {
        expectError(.deviceMissing, .kernel(.noSuchFileOrDirectory)) { try DMABufExporter(path: "/nonexistent") }
    }

    @Test func nameTruncation() {
        func name(_ text: String) -> String {
            String(decoding: DMABuffer.kernelName(text, capacity: 32), as: UTF8.self)
        }
        #expect(name("short") == "short")
        #expect(name(String(repeating: "a", count: 31)).utf8.count == 31)
        #expect(name(String(repeating: "a", count: 40)) == String(repeating: "a", count: 31))
        // 30 ASCII bytes then a 2-byte "é": cut before it rather than through it
        #expect(name(String(repeating: "a", count: 30) + "é") == String(repeating: "a", count: 30))
        #expect(name(String(repeating: "a", count: 29) + "é") == String(repeating: "a", count: 29) + "é")
        #expect(name(String(repeating: "😀", count: 8)) == String(repeating: "😀", count: 7))
        // Into a C array: the same bytes, and the rest of the array left as it was.
        var array = [UInt8](repeating: 0xEE, count: 32)
        array.withUnsafeMutableBytes { DMABuffer.copyKernelName(String(repeating: "a", count: 30) + "é", into: $0) }
        #expect(array == Array(repeating: UInt8(ascii: "a"), count: 30) + [0xEE, 0xEE])
        #expect(name("a\0b") == "a")
    }
}
