import DMABuf
import DMABufSources
import DMABufTestSupport
import Glibc
import SystemPackage
import Testing

extension DeviceTests {
    /// udmabuf beyond the conformance suite: the memfd side, CREATE_LIST, and each refusal
    /// triggered for real: the library explains it, and the kernel, asked anyway, refuses too.
    @Suite struct UDMABuf {
        let page = Sys.pageSize

        /// Runs `body` with /dev/udmabuf where the kernel has it (and fails where it must).
        func withDevice(_ body: (borrowing UDMABufDevice) throws -> Void) throws {
            let expected = TestKernel.current.expectedSources?.contains(.udmabuf) ?? false
            guard expected || (TestEnvironment.usesHostDevices && DeviceAccess.exists(UDMABufDevice.defaultPath))
            else { return }
            try body(try UDMABufDevice())
        }

        /// The library refuses `segment` with a hint containing `fix`, and the kernel refuses it too.
        func expectRefusal(
            _ device: borrowing UDMABufDevice, _ segment: UDMABufDevice.Segment, fix: String,
            sourceLocation: SourceLocation = #_sourceLocation
        ) {
            let error = expectError(.invalidArgument, .libraryMade, sourceLocation: sourceLocation) {
                try device.create(from: [segment])
            }
            #expect(error?.hint?.contains(fix) == true, "\(error?.description ?? "")", sourceLocation: sourceLocation)
            switch device.createUnchecked([segment]) {
            case .success(let fd):
                try? fd.close()
                Issue.record("the kernel took what the library refuses (\(fix))", sourceLocation: sourceLocation)
            case .failure(let errno):
                #expect(errno != .badFileDescriptor, "the kernel refused: \(errno)", sourceLocation: sourceLocation)
            }
        }

        @Test func noSeal() throws {
            try withDevice { device in
                let memfd = try Memfd(size: page, seals: [])
                memfd.withUnsafeDescriptor {
                    expectRefusal(device, .init(memfd: $0, range: 0..<page), fix: "F_SEAL_SHRINK")
                }
            }
        }

        @Test func writeSeal() throws {
            try withDevice { device in
                let memfd = try Memfd(size: page, seals: [.shrink, .write])
                memfd.withUnsafeDescriptor {
                    expectRefusal(device, .init(memfd: $0, range: 0..<page), fix: "F_SEAL_SHRINK only")
                }
            }
        }

        @Test func misalignedOffset() throws {
            try withDevice { device in
                let memfd = try Memfd(size: 3 * page)
                memfd.withUnsafeDescriptor {
                    expectRefusal(device, .init(memfd: $0, range: 512..<(512 + page)), fix: "Start at 0")
                }
            }
        }

        @Test func overTheSizeLimit() throws {
            try withDevice { device in
                let limits = try #require(UDMABufDevice.Limits.current())
                let size = limits.sizeLimit + page  // sparse: no page is touched
                let memfd = try Memfd(size: size)
                memfd.withUnsafeDescriptor {
                    expectRefusal(device, .init(memfd: $0, range: 0..<size), fix: "size_limit_mb. Raise it")
                }
            }
        }

        @Test func notAMemfd() throws {
            try withDevice { device in
                let (read, write) = try FileDescriptor.pipe()
                defer {
                    try? read.close()
                    try? write.close()
                }
                expectRefusal(device, .init(memfd: read, range: 0..<page), fix: "It is not a memfd")
                let null = try FileDescriptor.open("/dev/null", .readWrite, options: .closeOnExec)
                defer { try? null.close() }
                expectRefusal(device, .init(memfd: null, range: 0..<page), fix: "It is not a memfd")
            }
        }

        @Test func theMemfdIsTheProducersWayIn() throws {
            try withDevice { device in
                let backed = try device.allocateWithMemfd(size: 3 * page, name: "backed")
                let mapping = try backed.buffer.map()
                try backed.memfd.write(Array("written through the memfd".utf8), at: page)
                let seen = try mapping.withCPUAccess(.read) { bytes in
                    bytes.withUnsafeBytes { Array($0[page..<(page + 25)]) }
                }
                #expect(String(decoding: seen, as: UTF8.self) == "written through the memfd")
                #expect(try backed.buffer.info().exporterName == UDMABufDevice.exporterName)
            }
        }

        /// A new udmabuf is synced once for reading and writing, so that 6.1's udmabuf maps its
        /// CPU-access sg table bidirectionally; then a write, a read and a write again are all valid
        /// (the debug kernel's DMA_API_DEBUG checks that).
        @Test func aNewBufferIsSyncedBothWaysFirst() throws {
            try withDevice { device in
                var created: DMABuffer?
                let mock = try expectNoLeaks { created = try device.allocate(size: 2 * page, name: nil) }
                let syncs = mock.calls("ioctl").filter { $0.call.request == syncRequest }.map(\.call.argument)
                let both = syncRead | syncWrite
                #expect(syncs == [syncStart | both, syncEnd | both])
                guard let buffer = created.take() else {
                    Issue.record("no buffer")
                    return
                }
                var mapping = try buffer.map()
                try fill(&mapping, with: 7)
                #expect(try allBytes(of: mapping, equal: 7))
                try fill(&mapping, with: 8)
                #expect(try allBytes(of: mapping, equal: 8))
            }
        }

        @Test func createListJoinsRangesOfSeveralMemfds() throws {
            try withDevice { device in
                let first = try Memfd(size: 4 * page)
                let second = try Memfd(size: 2 * page)
                let pattern = FillPattern(seed: 99)
                try first.write(pattern.bytes(0..<page), at: 2 * page)  // becomes page 0
                try second.write(pattern.bytes(page..<3 * page), at: 0)  // pages 1 and 2
                let segments = [
                    first.withUnsafeDescriptor { UDMABufDevice.Segment(memfd: $0, range: 2 * page..<3 * page) },
                    second.withUnsafeDescriptor { UDMABufDevice.Segment(memfd: $0, range: 0..<2 * page) },
                ]
                let buffer = try device.create(from: segments, name: "list")
                #expect(buffer.size == 3 * page)
                #expect(try mismatch(in: buffer, pattern: pattern) == nil)
                #expect(try buffer.info().name == "list")
            }
        }
    }
}
