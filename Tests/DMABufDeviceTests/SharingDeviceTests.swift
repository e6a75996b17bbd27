import DMABuf
import DMABufDRM
import DMABufSources
import DMABufTestSupport
import Glibc
import SystemPackage
import Testing

// Buffers and fences between real processes on real kernels: the pool over every source a kernel
// has, backpressure, fences from vgem (every kernel) and sw_sync (the debug kernel) holding a
// consumer back, and the EXPORT_SYNC_FILE probe.

extension DeviceTests {
    @Suite(.exporterDevice) struct Sharing {
        static let frameSize = 64 * 1024

        /// A channel pair; the second end goes to a helper child, which gets its own copy.
        static func spawn(_ arguments: [String], _ body: (consuming DMABufChannel) throws -> Void) throws -> CInt? {
            let pair = try DMABufChannel.pair()
            var child = try HelperProcess(arguments, descriptor: pair.second.withUnsafeDescriptor { $0 })
            try pair.second.close()
            try body(pair.first)
            return child.wait()
        }

        @Test(arguments: [DMABufSource.exporter, .heapSystem, .udmabuf, .vgem])
        func aProducerProcessAndAConsumerProcess(source: DMABufSource) throws {
            try withSource(source) { allocator in
                // The child produces from the source; this process consumes and checks each frame.
                let producerStatus = try Self.spawn(
                    ["pool-producer", source.rawValue, "\(Self.frameSize)", "3", "8", "never"]
                ) { channel in
                    var consumer = try BufferPoolConsumer(channel: channel)
                    #expect(consumer.count == 3)
                    var frames: UInt64 = 0
                    while let frame = try consumer.blockingNext() {
                        #expect(frame.sequence == frames)
                        let sequence = frame.sequence
                        let bad = try consumer.withBuffer(at: frame.index) { buffer in
                            try mismatch(in: buffer, pattern: FillPattern(seed: sequence + 1))
                        }
                        #expect(bad == nil, "\(source) frame \(sequence)")
                        try consumer.release(frame)
                        frames += 1
                    }
                    #expect(frames == 8)
                    try consumer.finish()
                }
                #expect(producerStatus == 0)

                // And the other way round: this process produces, the child checks.
                let consumerStatus = try Self.spawn(["pool-consumer", "dmabuf", "never", "5000"]) { channel in
                    var producer = try BufferPoolProducer(channel: channel, count: 2) { _ throws(DMABufError) in
                        try allocator.allocate(size: Self.frameSize, name: "pool")
                    }
                    for frame in 0..<8 {
                        let index = try producer.blockingAcquire()
                        try producer.withBuffer(at: index) {
                            try fillBuffer($0, with: FillPattern(seed: UInt64(frame) + 1))
                        }
                        try producer.submit(index: index, bytesUsed: Self.frameSize)
                    }
                    try producer.finish()
                }
                #expect(consumerStatus == 0)
            }
        }

        @Test func backpressureWithExporterBuffers() throws {
            let pair = try DMABufChannel.pair()
            let exporter = try DMABufSource.exporter.open()
            var producer = try BufferPoolProducer(channel: pair.first, count: 2) { _ throws(DMABufError) in
                try exporter.allocate(size: Self.frameSize, name: "pool")
            }
            var consumer = try BufferPoolConsumer(channel: pair.second)
            for _ in 0..<2 { try producer.submit(index: try producer.blockingAcquire(), bytesUsed: 1) }
            #expect(try producer.acquireIfAvailable() == nil, "every buffer is with the consumer")
            let clock = ContinuousClock()
            let start = clock.now
            expectError(.timedOut, .libraryMade, "acquire with every buffer out") {
                try producer.blockingAcquire(timeout: .milliseconds(100))
            }
            #expect(clock.now - start >= .milliseconds(100))
            guard let frame = try consumer.blockingNext() else { throw TestFailure("no frame") }
            let index = frame.index
            try consumer.release(frame)
            #expect(try producer.blockingAcquire(timeout: .seconds(5)) == index)
            try consumer.finish()
            #expect(throws: DMABufError.self) { try producer.blockingAcquire() }
            #expect(producer.freeCount == 2, "a consumer that leaves gives every buffer back")
        }

        /// Two dma-bufs and a sync_file in one message: the received fds are kept apart (the
        /// first on its own, the rest in an array), so every position must come back as sent.
        @Test func buffersAndAFenceInOneMessage() throws {
            let exporter = try DMABufSource.exporter.open()
            let first = try exporter.allocate(size: 4096, name: "first")
            let second = try exporter.allocate(size: 8192, name: "second")
            let fence = try first.exportSyncFile(.write)
            let pair = try DMABufChannel.pair()
            let buffers = [first.withUnsafeDescriptor { $0 }, second.withUnsafeDescriptor { $0 }]
            try pair.first.send(DMABufChannelMessage(.ready, sequence: 9), buffers: buffers, fence: fence)
            var received = try pair.second.blockingReceive()
            #expect(received.message.sequence == 9 && received.bufferCount == 2)
            let b = try received.takeBuffer(at: 1)
            #expect(b.identity == second.identity && b.size == 8192)
            guard let arrived = received.takeFence() else { throw TestFailure("the fence did not arrive") }
            #expect(try arrived.isSignaled(), "an export without fences is signalled")
            let again = received.takeFence() == nil
            #expect(again, "a fence is taken once")
            let a = try received.takeBuffer(at: 0)
            #expect(a.identity == first.identity && a.size == 4096)
            #expect(throws: DMABufError.self) { _ = try received.takeBuffer(at: 0) }
            #expect(throws: DMABufError.self) { _ = try received.takeBuffer(at: 2) }
        }

        /// Receiving a buffer checks it with the fstat that also gives its size and identity:
        /// after the first dma-buf, no fstatfs, and taking it adds only the access mode.
        @Test func receivingABufferCostsOneFstat() throws {
            let buffer = try DMABufSource.exporter.open().allocate(size: 8192, name: "calls")
            let pair = try DMABufChannel.pair()
            let mock = SyscallMock()
            try mock.run { () throws(DMABufError) in
                for _ in 0..<2 {
                    try pair.first.send(DMABufChannelMessage(.data), buffer: buffer)
                    var received = try pair.second.blockingReceive()
                    let taken = try received.takeBuffer(at: 0)
                    #expect(taken.identity == buffer.identity && taken.size == 8192 && taken.isWritable)
                }
            }
            #expect(mock.calls("recvmsg").count == 2 && mock.calls("fstat").count == 2)
            #expect(mock.calls("fstatfs").count == 1, "the first dma-buf only")
            #expect(mock.calls("fcntl").count == 2, "F_GETFL for each buffer taken")
            #expect(mock.leakedDescriptors.isEmpty)
        }

        @Test func exportSyncFileProbe() throws {
            // Every test kernel has DMA_BUF_IOCTL_EXPORT_SYNC_FILE (6.0 and later): flags 0 is EINVAL.
            let buffer = try DMABufSource.exporter.open().allocate(size: 4096, name: "probe")
            let supported = try buffer.supportsSyncFileExport()
            if case .other = TestKernel.current {
            } else {
                #expect(supported, "\(TestKernel.current)")
            }
            // Without fences, the export is an already signalled sync_file.
            let fence = try buffer.exportSyncFile(.write)
            #expect(try fence.isSignaled())
        }
    }

    /// vgem's fences: on every test kernel (the debug kernel has vgem built in).
    @Suite(.vgemDevice) struct VGEMFences {
        @Test func aFenceHoldsWaitersUntilItIsSignalled() async throws {
            let device = try DRMDevice.open(driver: "vgem")
            let buffer = try device.allocate(size: 4096, name: "fenced")
            let handle = try device.importBuffer(buffer)
            let fence = try device.attachFence(to: handle, write: true)
            try device.closeHandle(handle)

            let sync = try buffer.exportSyncFile(.read)
            expectError(.timedOut, .libraryMade, "unsignalled: the wait times out") {
                try sync.wait(timeout: .milliseconds(100))
            }
            expectError(.timedOut, .libraryMade, "unsignalled: the buffer's wait times out") {
                try buffer.waitForFences(.read, timeout: .milliseconds(50))
            }
            let info = try sync.info()
            #expect(info.status == .active)
            #expect(info.fences.count == 1 && info.fences.first?.driverName == "vgem", "\(info)")
            #expect(info.fences.first?.timestamp == nil)

            let merged = try sync.merge(with: try buffer.exportSyncFile(.write), name: "both")
            #expect(try merged.info().name == "both")

            // Async waits suspend until another task signals.
            let clock = ContinuousClock()
            let start = clock.now
            async let signalled: Void = {
                try await Task.sleep(for: .milliseconds(200))
                try device.signalFence(fence)
            }()
            try await sync.wait()
            try await buffer.waitForFences(.read)
            try await signalled
            #expect(clock.now - start >= .milliseconds(200), "the waits did not wait")
            #expect(try sync.isSignaled() && merged.isSignaled())
            let after = try sync.info()
            #expect(after.status == .signaled && after.fences.first?.timestamp != nil, "\(after)")
            // vgem forgets a fence once signalled.
            expectError(.deviceMissing, .kernel(.noSuchFileOrDirectory), "signal twice") {
                try device.signalFence(fence)
            }
        }

        /// A sync_file handed over as a bare fd: `SyncFile(adopting:)` takes it, close-on-exec,
        /// and `isSignaled()` follows vgem's fence. A dma-buf's fd is no sync_file: refused, it
        /// stays the caller's and usable.
        @Test func anAdoptedSyncFileFollowsItsFence() throws {
            let device = try DRMDevice.open(driver: "vgem")
            let buffer = try device.allocate(size: 4096, name: "adopted")
            let handle = try device.importBuffer(buffer)
            let fence = try device.attachFence(to: handle, write: true)
            try device.closeHandle(handle)

            let raw = try buffer.exportSyncFile(.read).takeDescriptor()
            _ = fcntl(raw.rawValue, F_SETFD, 0)
            let sync = try SyncFile(adopting: raw)
            #expect(fcntl(raw.rawValue, F_GETFD) & FD_CLOEXEC != 0)
            #expect(try sync.info().fences.first?.driverName == "vgem")
            #expect(try !sync.isSignaled(), "vgem's fence is not signalled yet")
            try device.signalFence(fence)
            #expect(try sync.isSignaled(), "signalled")

            let bufferFD = buffer.withUnsafeDescriptor { $0 }
            let error = expectError(
                .notADMABuf, .kernel(.inappropriateIOCTLForDevice), "adopt a dma-buf as a sync_file"
            ) { try SyncFile(adopting: bufferFD) }
            #expect(error?.hint?.contains("stays the caller's") == true, "\(String(describing: error))")
            #expect(isOpen(bufferFD))
            #expect(try buffer.info().size == 4096, "the buffer is still the caller's")
        }

        @Test func cancellingAnAsyncFenceWaitEndsIt() async throws {
            let device = try DRMDevice.open(driver: "vgem")
            let buffer = try device.allocate(size: 4096, name: "fenced")
            let handle = try device.importBuffer(buffer)
            let fence = try device.attachFence(to: handle, write: true)
            try device.closeHandle(handle)
            let sync = try buffer.exportSyncFile(.read)
            let task = Task { [sync = consume sync] in try await sync.wait() }
            try await Task.sleep(for: .milliseconds(50))
            task.cancel()
            let outcome = await task.result
            let error = #expect(throws: DMABufError.self) { try outcome.get() }
            #expect(error?.code == .cancelled, "\(String(describing: error))")
            try device.signalFence(fence)
        }

        /// The producer hands a frame with a vgem fence to a consumer process, writes the frame
        /// only afterwards, then signals: the consumer sees the whole frame, because it waited.
        @Test(arguments: [false, true])
        func aFenceOrdersAConsumerProcessBehindTheProducer(timesOut: Bool) throws {
            let device = try DRMDevice.open(driver: "vgem")
            let size = 64 * 1024
            let status = try DeviceTests.Sharing.spawn(
                ["pool-consumer", "dmabuf", "never", timesOut ? "300" : "10000"]
            ) { channel in
                var producer = try BufferPoolProducer(channel: channel, count: 1) { _ throws(DMABufError) in
                    try device.allocate(size: size, name: "fenced")
                }
                let index = try producer.blockingAcquire()
                let fence = try producer.withBuffer(at: index) { buffer in
                    let handle = try device.importBuffer(buffer)
                    defer { try? device.closeHandle(handle) }
                    return try device.attachFence(to: handle, write: true)
                }
                let sync = try producer.withBuffer(at: index) { try $0.exportSyncFile(.read) }
                try producer.submit(index: index, bytesUsed: size, fence: sync)
                if timesOut {
                    // Until the consumer gives up on the fence and exits.
                    #expect(throws: DMABufError.self) { _ = try producer.blockingAcquire(timeout: .seconds(30)) }
                } else {
                    usleep(300_000)
                }
                // The "device" writes the frame (vgem memory is coherent; a CPU-access bracket
                // would itself wait for the fence), then signals.
                try producer.withBuffer(at: index) { buffer in
                    var mapping = try buffer.map()
                    var bytes = mapping.unsynchronizedMutableBytes
                    FillPattern(seed: 1).fill(&bytes)
                }
                try device.signalFence(fence)
                if !timesOut {
                    _ = try producer.blockingAcquire()
                    try producer.finish()
                }
            }
            #expect(status == (timesOut ? 3 : 0), "the consumer \(timesOut ? "times out" : "waits")")
        }
    }

    /// sw_sync: on the debug kernel only (CONFIG_SW_SYNC); the stock kernels lack it.
    @Suite(.exporterDevice) struct SoftwareSync {
        static var expected: Bool { TestKernel.current == .debug }

        @Test func presentExactlyOnTheDebugKernel() throws {
            if Self.expected {
                _ = try SoftwareSyncTimeline()
            } else if case .other = TestKernel.current {
            } else {
                expectError(.deviceMissing, .kernel(.noSuchFileOrDirectory)) { try SoftwareSyncTimeline() }
            }
        }

        @Test(.enabled(if: SoftwareSync.expected)) func anImportedFenceHoldsReadersBack() async throws {
            let timeline = try SoftwareSyncTimeline()
            let fence = try timeline.makeFence(at: 2, name: "frame")
            #expect(try fence.info().fences.first?.driverName == "sw_sync")
            let buffer = try DMABufSource.exporter.open().allocate(size: 4096, name: "fenced")
            try buffer.importSyncFile(fence, .write)
            expectError(.timedOut, .libraryMade, "unsignalled") {
                try buffer.waitForFences(.read, timeout: .milliseconds(100))
            }
            try timeline.advance(by: 1)
            expectError(.timedOut, .libraryMade, "1 of 2: still pending") { try fence.wait(timeout: .milliseconds(50)) }
            try timeline.advance(by: 1)
            try fence.wait(timeout: .seconds(5))
            try buffer.waitForFences(.read, timeout: .seconds(5))
        }

        @Test(.enabled(if: SoftwareSync.expected), arguments: [false, true])
        func aFenceOrdersAConsumerProcessBehindTheProducer(timesOut: Bool) throws {
            let size = 64 * 1024
            let timeline = try SoftwareSyncTimeline()
            let exporter = try DMABufSource.exporter.open()
            let status = try DeviceTests.Sharing.spawn(
                ["pool-consumer", "dmabuf", "never", timesOut ? "300" : "10000"]
            ) { channel in
                var producer = try BufferPoolProducer(channel: channel, count: 1) { _ throws(DMABufError) in
                    try exporter.allocate(size: size, name: "fenced")
                }
                let index = try producer.blockingAcquire()
                try producer.submit(index: index, bytesUsed: size, fence: try timeline.makeFence(at: 1))
                if timesOut {
                    #expect(throws: DMABufError.self) { _ = try producer.blockingAcquire(timeout: .seconds(30)) }
                } else {
                    usleep(300_000)
                }
                try producer.withBuffer(at: index) { try fillBuffer($0, with: FillPattern(seed: 1)) }
                try timeline.advance(by: 1)
                if !timesOut {
                    _ = try producer.blockingAcquire()
                    try producer.finish()
                }
            }
            #expect(status == (timesOut ? 3 : 0), "the consumer \(timesOut ? "times out" : "waits")")
        }
    }
}

/// A test's own failure, thrown where a value it needs is missing.
struct TestFailure: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}

extension DeviceTests {
    /// `dmabuf serve` and `dmabuf consume` as the installed-style binary runs them, two processes.
    @Suite(.exporterDevice) struct ServeAndConsume {
        static func socketPath() -> String { "/dev/shm/dmabuf-serve-\(getpid())-\(UInt32.random(in: 0...UInt32.max))" }

        static func waitForSocket(_ path: String) throws {
            for _ in 0..<1000 where !TestEnvironment.exists(path) { usleep(10_000) }
            try #require(TestEnvironment.exists(path), "serve did not listen on \(path)")
        }

        static func output(_ path: String) -> String {
            (try? Sys.readFile(FilePath(path)).get()).map { String(decoding: $0, as: UTF8.self) } ?? ""
        }

        @Test func serveAndConsumeShareEveryFrame() throws {
            let dmabuf = try HelperProcess.built("dmabuf")
            let socket = Self.socketPath()
            var serve = try HelperProcess(
                executable: dmabuf,
                ["serve", "--socket", socket, "--from", "exporter", "--size", "1M", "--count", "3", "--frames", "12"],
                outputPath: socket + ".serve")
            try Self.waitForSocket(socket)
            var consume = try HelperProcess(
                executable: dmabuf, ["consume", "--socket", socket, "--verify"], outputPath: socket + ".consume")
            let consumeStatus = consume.wait()
            let serveStatus = serve.wait()
            let (served, consumed) = (Self.output(socket + ".serve"), Self.output(socket + ".consume"))
            #expect(serveStatus == 0, "\(served)")
            #expect(consumeStatus == 0, "\(consumed)")
            for text in [served, consumed] {
                #expect(text.contains("frames        12 of 1048576 bytes (1 MiB) in 3 buffers"), "\(text)")
                #expect(text.contains("bytes copied  0"), "\(text)")
                #expect(text.contains("socket copy"), "\(text)")
            }
            #expect(consumed.contains("verified      every byte of every frame"))
            #expect(!TestEnvironment.exists(socket), "serve removes its socket")
            unlink(socket + ".serve")
            unlink(socket + ".consume")
        }

        @Test(arguments: ["serve", "consume"])
        func killingOneSideEndsTheOtherWithAClearMessage(victim: String) throws {
            let dmabuf = try HelperProcess.built("dmabuf")
            let socket = Self.socketPath()
            var serve = try HelperProcess(
                executable: dmabuf,
                [
                    "serve", "--socket", socket, "--from", "exporter", "--size", "1M", "--count", "2",
                    "--frames", "1000000",
                ],
                outputPath: socket + ".serve")
            try Self.waitForSocket(socket)
            var consume = try HelperProcess(
                executable: dmabuf, ["consume", "--socket", socket, "--verify"], outputPath: socket + ".consume")
            // Both sides past the registration, then one dies.
            for _ in 0..<3000 where !Self.output(socket + ".consume").contains("connected") { usleep(10_000) }
            try #require(Self.output(socket + ".consume").contains("dmabuf consume: connected to"))
            usleep(200_000)
            if victim == "serve" {
                serve.kill()
                #expect(serve.wait() == 128 + SIGKILL)
                #expect(consume.wait(timeout: .seconds(20)) == 3, "no hang, exit status 3")
                let text = Self.output(socket + ".consume")
                #expect(text.contains("dmabuf consume: the producer went away"), "\(text)")
                unlink(socket)  // a killed server leaves its socket behind
            } else {
                consume.kill()
                #expect(consume.wait() == 128 + SIGKILL)
                #expect(serve.wait(timeout: .seconds(20)) == 3, "no hang, exit status 3")
                let text = Self.output(socket + ".serve")
                #expect(text.contains("dmabuf serve: the consumer went away"), "\(text)")
                #expect(!TestEnvironment.exists(socket))
            }
            unlink(socket + ".serve")
            unlink(socket + ".consume")
        }
    }
}
