import Glibc
import SystemPackage
import Testing

@testable import DMABuf

extension DMABufTests {
    /// Each owner closes its fd exactly once. A memfd stands in for the dma-buf (`init(owning:)`
    /// trusts its caller); after each step the process's open fds are counted.
    @Suite struct Ownership {
        @Test func deinitClosesOnce() throws {
            let before = openDescriptorCount()
            let fd = try makeMemfd(size: 4096)
            do {
                let buffer = DMABuffer(owning: fd)
                #expect(openDescriptorCount() == before + 1)
                _ = buffer
            }
            #expect(openDescriptorCount() == before && !isOpen(fd))
            // the number is free again; whatever reuses it stays open: nothing closes it a second time
            let next = try makeMemfd(size: 4096)
            #expect(next == fd && isOpen(next))
            try next.close()
        }

        @Test func closeClosesOnceAndReports() throws {
            let before = openDescriptorCount()
            let fd = try makeMemfd(size: 4096)
            try DMABuffer(owning: fd).close()
            #expect(openDescriptorCount() == before && !isOpen(fd))
            // closing a dead fd reports it
            expectError(.badFileDescriptor) { try DMABuffer(owning: fd).close() }
        }

        @Test func takeDescriptorHandsItOver() throws {
            let fd = try makeMemfd(size: 4096)
            let taken = DMABuffer(owning: fd).takeDescriptor()
            #expect(taken == fd && isOpen(fd))
            try fd.close()
        }

        @Test func duplicateIsASecondOwner() throws {
            let before = openDescriptorCount()
            do {
                let buffer = DMABuffer(owning: try makeMemfd(size: 4096))
                let copy = try buffer.duplicate()
                #expect(openDescriptorCount() == before + 2)
                #expect(try buffer.identity == copy.identity)
                #expect(buffer.withUnsafeDescriptor { $0 } != copy.withUnsafeDescriptor { $0 })
                try buffer.close()
                #expect(try copy.size == 4096)
            }
            #expect(openDescriptorCount() == before)
        }

        @Test func mappingKeepsItsOwnFdAndReleasesIt() throws {
            let before = openDescriptorCount()
            var mapping: DMABufferMapping? = try DMABuffer(owning: makeMemfd(size: 4096)).map()
            #expect(openDescriptorCount() == before + 1, "the buffer's fd is closed, the mapping's remains")
            #expect(mapping?.count == 4096)
            mapping = nil
            #expect(openDescriptorCount() == before)
        }

        @Test func failedMapLeaksNothing() throws {
            let buffer = DMABuffer(owning: try makeMemfd(size: 4096))
            let before = openDescriptorCount()
            expectError(.invalidArgument) { try buffer.map(100..<200) }
            #expect(openDescriptorCount() == before)
        }

        @Test func adoptingANonDmaBufLeavesItOpen() throws {
            let fd = try makeMemfd(size: 4096)
            defer { try? fd.close() }
            let error = expectError(.invalidArgument) { try DMABuffer(adopting: fd) }
            #expect(isOpen(fd))
            #expect(error?.description == "adopt as dma-buf on fd \(fd.rawValue) (/memfd:dmabuf-test (deleted)): "
                + "Invalid argument [EINVAL]. It is not a dma-buf: its fdinfo has no exp_name")
        }

        @Test func adoptingDevNull() throws {
            let fd = try FileDescriptor.open("/dev/null", .readOnly, options: .closeOnExec)
            defer { try? fd.close() }
            let error = expectError(.invalidArgument) { try DMABuffer(adopting: fd) }
            #expect(error?.target == "fd \(fd.rawValue) (/dev/null)")
        }

        @Test func adoptingAClosedFd() {
            let error = expectError(.badFileDescriptor) { try DMABuffer(adopting: FileDescriptor(rawValue: 999_999)) }
            #expect(error?.description.contains("not an open file descriptor") == true)
        }

        @Test func failedDeviceOpenLeaksNothing() {
            let before = openDescriptorCount()
            expectError(.noSuchFileOrDirectory) { try DMABufExporter(path: "/nonexistent") }
            #expect(openDescriptorCount() == before)
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
            #expect(name("a\0b") == "a")
        }
    }
}
