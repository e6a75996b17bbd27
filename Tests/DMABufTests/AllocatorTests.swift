import ArgumentParser
import DMABuf
import DMABufExporterClient
import DMABufSources
import DMABufTestSupport
import Glibc
import Synchronization
import SystemPackage
import Testing

@testable import DMABufCLI

/// What needs no device: names, the picker's table, memfds and udmabuf's checks, error hints.
@Suite struct AllocatorTests {
    let page = Sys.pageSize

    // MARK: Sources

    @Test func sourceNames() {
        #expect(DMABufSource.allCases.map(\.rawValue) == ["heap:system", "heap:cma", "udmabuf", "exporter", "vgem"])
        for source in DMABufSource.allCases { #expect(DMABufSource(rawValue: source.rawValue) == source) }
        #expect(DMABufSource(rawValue: "auto") == nil && DMABufSource(rawValue: "heap") == nil)
        #expect(DMABufSource.automaticOrder == [.heapSystem, .udmabuf, .exporter, .vgem])
        #expect(SourceChoice(argument: "auto") == .auto)
        #expect(SourceChoice(argument: "heap:cma") == .source(.heapCMA))
        #expect(SourceChoice(argument: "cma") == nil)
    }

    @Test func sourceDifferences() {
        #expect(DMABufSource.allCases.filter { !$0.supportsReadOnly } == [.udmabuf])
        #expect(DMABufSource.allCases.filter { !$0.honoursMappingOffset } == [.vgem])
        #expect(DMABufSource.heapSystem.exporterName == "system")
        #expect(DMABufSource.udmabuf.exporterName == "udmabuf")
        #expect(DMABufSource.exporter.exporterName == "dmabuf_exporter")
        #expect(DMABufSource.vgem.exporterName == "drm")
    }

    @Test func sourcesListingMarksTheDefault() throws {
        let statuses = [
            DMABufSource.Status(source: .heapSystem, isAvailable: false, detail: "No /dev/dma_heap/system: \"x\"\n"),
            DMABufSource.Status(source: .heapCMA, isAvailable: true, detail: "/dev/dma_heap/reserved"),
            DMABufSource.Status(source: .udmabuf, isAvailable: true, detail: "/dev/udmabuf"),
        ]
        #expect(Sources.defaultSource(statuses) == .udmabuf, "CMA is never the default")
        let text = Sources.render(statuses, json: false)
        #expect(text.contains("* udmabuf      yes"))
        #expect(text.contains("  heap:cma     yes"))
        let json = Sources.render(statuses, json: true)
        #expect(json.contains(#""detail": "No /dev/dma_heap/system: \"x\"\n""#))
        #expect(json.contains(#"{"source": "udmabuf", "available": true, "default": true, "#))
        #expect(json.hasPrefix("[\n") && json.hasSuffix("\n]"))
        #expect(Sources.quoted("\u{1}") == #""\u0001""#)
        #expect(Sources.defaultSource([]) == nil)
    }

    @Test func sourcesCommandPrintsTheSurvey() throws {
        // The command's output is the survey's rendering, here as in-process (nothing it finds
        // changes in between: it only looks at device nodes and the kernel's configuration).
        for json in [true, false] {
            let (status, output) = try HelperProcess.runCommand(["sources"] + (json ? ["--json"] : []))
            #expect(status == 0)
            #expect(output == Sources.render(DMABufSource.survey(), json: json) + "\n")
        }
    }

    // MARK: Memfd

    @Test func memfdIsMadeTheWayUdmabufWantsIt() throws {
        let memfd = try Memfd(name: "t", size: 3 * page)
        #expect(memfd.size == 3 * page)
        let seals = try memfd.seals()
        #expect(seals.contains(.shrink) && !seals.contains(.write) && !seals.contains(.seal))
        try memfd.write(Array("hello".utf8), at: page)
        #expect(try memfd.read(count: 5, at: page) == Array("hello".utf8))
        #expect(try memfd.read(count: 10, at: 3 * page - 4).count == 4, "short at the end")
        try UDMABufDevice.check(
            [memfd.withUnsafeDescriptor { .init(memfd: $0, range: 0..<3 * page) }],
            limits: .init(sizeLimit: 64 << 20, listLimit: 1024))
        #expect(Memfd.Seals([.shrink, .write]).description == "F_SEAL_SHRINK|F_SEAL_WRITE")
        #expect(Memfd.Seals().description == "none")
    }

    @Test func memfdAdoptsTakesAndCloses() throws {
        let fd = try makeMemfd(size: 2 * page)
        let adopted = try Memfd(adopting: fd)
        #expect(adopted.size == 2 * page)
        #expect(try adopted.seals() == .seal, "made without MFD_ALLOW_SEALING")
        let taken = adopted.takeDescriptor()
        #expect(taken == fd && isOpen(fd))
        // Whether fd is still open cannot be asked afterwards: tests run in parallel, and another
        // one may open the same number at once. The mock sees the close itself.
        let mock = SyscallMock()
        try SyscallMock.$current.withValue(mock) { try Memfd(adopting: taken).close() }
        #expect(mock.calls("close").contains { $0.call.descriptor == fd.rawValue && (try? $0.result.get()) != nil })
        expectError(.badDescriptor, .kernel(.badFileDescriptor)) { try Memfd(adopting: unusedDescriptor()) }
        let sealed = try Memfd(size: page)
        try sealed.addSeals(.grow)
        #expect(try sealed.seals() == [.shrink, .grow])
    }

    // MARK: udmabuf's checks: every refusal names the fix

    /// Runs udmabuf's check on `fd` over `range`, expecting a refusal whose hint contains `fix`.
    func expectRefusal(
        _ fd: FileDescriptor, _ range: Range<Int>, limits: UDMABufDevice.Limits? = nil, fix: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let error = expectError(.invalidArgument, .libraryMade, sourceLocation: sourceLocation) {
            try UDMABufDevice.check([.init(memfd: fd, range: range)], limits: limits)
        }
        #expect(error?.hint?.contains(fix) == true, "\(error?.description ?? "")", sourceLocation: sourceLocation)
    }

    @Test func refusesAMemfdWithoutSeals() throws {
        let memfd = try Memfd(size: page, seals: [])
        memfd.withUnsafeDescriptor { expectRefusal($0, 0..<page, fix: "F_ADD_SEALS, F_SEAL_SHRINK") }
        let unsealable = try makeMemfd(size: page)  // no MFD_ALLOW_SEALING: F_SEAL_SEAL
        defer { try? unsealable.close() }
        expectRefusal(unsealable, 0..<page, fix: "MFD_ALLOW_SEALING")
    }

    @Test func refusesAWriteSealedMemfd() throws {
        for seal in [Memfd.Seals.write, .futureWrite] {
            let memfd = try Memfd(size: page, seals: [.shrink, seal])
            memfd.withUnsafeDescriptor { expectRefusal($0, 0..<page, fix: "seal it with F_SEAL_SHRINK only") }
        }
    }

    @Test func refusesMisalignedRanges() throws {
        let memfd = try Memfd(size: 4 * page)
        memfd.withUnsafeDescriptor { fd in
            expectRefusal(fd, 100..<(100 + page), fix: "Start at 0 instead")
            expectRefusal(fd, page..<(2 * page + 1), fix: "Use \(2 * page) bytes")
            expectRefusal(fd, page..<page, fix: "positive multiple")
            expectRefusal(fd, 2 * page..<6 * page, fix: "ftruncate")
        }
    }

    @Test func refusesMoreThanTheLimits() throws {
        let memfd = try Memfd(size: 4 * page)
        memfd.withUnsafeDescriptor { fd in
            expectRefusal(
                fd, 0..<4 * page, limits: .init(sizeLimit: 2 * page, listLimit: 8), fix: "size_limit_mb. Raise it")
            let error = expectError(.invalidArgument, .libraryMade) {
                try UDMABufDevice.check(
                    Array(repeating: .init(memfd: fd, range: 0..<page), count: 3),
                    limits: .init(sizeLimit: 64 << 20, listLimit: 2))
            }
            #expect(error?.hint?.contains("list_limit") == true)
        }
    }

    @Test(arguments: [ForeignDescriptor.pipeReadEnd, .devNull, .unixSocket, .procFile])
    func refusesWhatIsNotAMemfd(kind: ForeignDescriptor) throws {
        let (fd, other) = try kind.open()
        defer {
            try? fd.close()
            try? other?.close()
        }
        expectRefusal(fd, 0..<page, fix: "It is not a memfd")
    }

    @Test func refusesAClosedFd() {
        expectError(.badDescriptor, .kernel(.badFileDescriptor)) {
            try UDMABufDevice.check([.init(memfd: unusedDescriptor(), range: 0..<4096)], limits: nil)
        }
        expectError(.invalidArgument, .libraryMade) { try UDMABufDevice.check([], limits: nil) }
    }

    // MARK: Open errors name the node and the way in

    /// A mock that fails the first `open` with `errno` (later ones, such as the stat for the
    /// hint, pass).
    func failingFirstOpen(_ errno: Errno) -> SyscallMock {
        let opens = Mutex(0)
        return SyscallMock { call in
            guard call.name == "open" else { return .passThrough }
            return opens.withLock { count in
                count += 1
                return count == 1 ? .fail(errno) : .passThrough
            }
        }
    }

    @Test func permissionErrorsNameTheNodeAndItsGroup() throws {
        let error = expectError(
            .permissionDenied, .kernel(.permissionDenied), mock: failingFirstOpen(.permissionDenied)
        ) {
            try UDMABufDevice(path: "/dev/null")
        }
        #expect(error?.hint?.hasPrefix("/dev/null: permission denied; it belongs to group root") == true)
        #expect(error?.hint?.contains("udev rule") == true)
        let heap = expectError(.permissionDenied, .kernel(.notPermitted), mock: failingFirstOpen(.notPermitted)) {
            try DMAHeap(name: "system")
        }
        #expect(heap?.hint?.hasPrefix("/dev/dma_heap/system: permission denied") == true)
    }

    @Test func missingHeapsSayWhichKernelOption() {
        #expect(DMAHeap.openHint(.noSuchFileOrDirectory, name: "system")?.contains("CONFIG_DMABUF_HEAPS") == true)
        #expect(DMAHeap.cmaMissingHint.contains("CONFIG_DMABUF_HEAPS"))
        #expect(
            UDMABufDevice.openHint(.noSuchFileOrDirectory, path: UDMABufDevice.defaultPath)?.contains("udmabuf") == true
        )
        #expect(DMAHeap.cmaNames == ["linux,cma", "reserved", "default-pool", "default_cma_region"])
    }

    @Test func kernelConfigLines() {
        let config = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=m\nCONFIG_AB=y\n"
        #expect(DeviceAccess.configValue("CONFIG_A", in: config))
        #expect(!DeviceAccess.configValue("CONFIG_B", in: config))
        #expect(DeviceAccess.configValue("CONFIG_C", in: config))
        #expect(!DeviceAccess.configValue("CONFIG_D", in: config))
        #expect(!DeviceAccess.configValue("CONFIG_A", in: "CONFIG_AB=y"))
    }

    @Test func heapsRefuseBadRequestsBeforeTheKernel() throws {
        // Any open fd does: the checks come before the ioctl. The name reaches /dev/null through
        // /dev/dma_heap: a host without heaps skips, a VM whose kernel has them must not.
        let heapsExpected = TestEnvironment.requiresDevices && DeviceAccess.kernelConfig("CONFIG_DMABUF_HEAPS") != false
        guard heapsExpected || TestEnvironment.exists("/dev/dma_heap") else { return }
        let heap = try DMAHeap(name: "../../dev/null")
        expectError(.invalidArgument, .libraryMade) { try heap.allocate(size: 0, name: nil) }
        expectError(.invalidArgument, .libraryMade) { try heap.allocate(size: page, accessMode: .writeOnly) }
        expectError(.unsupported, .kernel(.inappropriateIOCTLForDevice)) { try heap.allocate(size: page, name: nil) }
    }
}
