import DMABuf
import DMABufTestSupport
import Glibc
import SystemPackage
import Testing

// The channel and the buffer pool on the host, which has no dma-buf: memfds stand in for
// buffers through the receive path's test-only admission (debug builds). Leak checks count every
// fd the library made, including each that arrived with a message.

/// A channel pair whose receive path takes memfds for buffers.
func memfdChannelPair(maximumDescriptors: Int = 16) throws -> DMABufChannel.Pair {
    try DMABufChannel.pair(maximumDescriptors: maximumDescriptors, admission: .dmaBufsAndMemfdsForTesting)
}

/// Raw bytes and fds on the socket, bypassing the library's encoder: what a hostile peer sends.
func sendRaw(_ channel: borrowing DMABufChannel, _ bytes: [UInt8], descriptors: [FileDescriptor] = []) throws {
    let fd = channel.withUnsafeDescriptor { $0 }
    _ = try bytes.withUnsafeBytes { bytes in
        descriptors.withUnsafeBufferPointer { Sys.send(fd, bytes, descriptors: $0) }
    }.get()
}

@Suite struct ChannelTests {
    @Test func messageAndFdsMakeTheRoundTrip() throws {
        try expectNoLeaks {
            let pair = try memfdChannelPair()
            let sender = pair.first
            let receiver = pair.second
            let first = try memfdBuffer(size: 8192)
            let second = try memfdBuffer(size: 4096)
            let message = DMABufChannelMessage(
                .data, sequence: 42, length: 4096, index: 7, name: "frame ✓", metadata: [1, 2, 3])
            try sender.send(message, buffers: [first.withUnsafeDescriptor { $0 }, second.withUnsafeDescriptor { $0 }])
            var received = try receiver.blockingReceive()
            #expect(received.message == message)
            #expect(received.bufferCount == 2)
            let a = try received.takeBuffer(at: 0)
            let b = try received.takeBuffer(at: 1)
            #expect(a.identity == first.identity && b.identity == second.identity)
            #expect(a.size == 8192 && b.size == 4096)
            // The sender keeps its own fds.
            #expect(first.withUnsafeDescriptor(isOpen) && second.withUnsafeDescriptor(isOpen))
            let noFence = received.takeFence() == nil
            #expect(noFence)
            #expect(throws: DMABufError.self) { _ = try received.takeBuffer(at: 0) }
        }
    }

    @Test func nothingWaitingIsNilNotABlock() throws {
        try expectNoLeaks {
            let pair = try memfdChannelPair()
            #expect(try pair.second.receiveIfAvailable() == nil)
            expectError(.timedOut, .libraryMade, "no message") {
                try pair.second.waitForMessage(timeout: .milliseconds(20))
            }
        }
    }

    @Test func tooManyFdsForTheControlBufferAreAllClosed() throws {
        // Room for 1 fd (rounded up to 2 by CMSG_SPACE): 6 fds truncate the control data.
        let pair = try memfdChannelPair(maximumDescriptors: 1)
        let buffers = try (0..<6).map { _ in try makeMemfd(size: 4096) }
        defer { for fd in buffers { try? fd.close() } }
        try pair.first.send(DMABufChannelMessage(.data), buffers: buffers)
        let error = expectError(.limitExceeded, .libraryMade, "MSG_CTRUNC") { try pair.second.blockingReceive() }
        #expect(error?.hint?.contains("MSG_CTRUNC") == true)
    }

    @Test func moreFdsThanAllowedAreAllClosed() throws {
        // Two fds fit the control buffer of a channel that allows one: refused all the same.
        let pair = try memfdChannelPair(maximumDescriptors: 1)
        let buffers = try (0..<2).map { _ in try makeMemfd(size: 4096) }
        defer { for fd in buffers { try? fd.close() } }
        try pair.first.send(DMABufChannelMessage(.data), buffers: buffers)
        expectError(.limitExceeded, .libraryMade, "2 fds for 1") { try pair.second.blockingReceive() }
    }

    @Test(arguments: [ForeignDescriptor.memfd, .pipeReadEnd, .devNull, .unixSocket])
    func aFileThatIsNotADMABufIsRejected(kind: ForeignDescriptor) throws {
        let pair = try DMABufChannel.pair()  // the real check: dma-bufs only
        let (fd, other) = try kind.open()
        defer {
            try? fd.close()
            try? other?.close()
        }
        try pair.first.send(DMABufChannelMessage(.data), buffers: [fd])
        expectError(.notADMABuf, .libraryMade, "\(kind)") { try pair.second.blockingReceive() }
        #expect(isOpen(fd), "the sender's fd stays open")
    }

    @Test func aFenceThatIsNotASyncFileIsRejected() throws {
        let pair = try memfdChannelPair()
        let fd = try makeMemfd(size: 4096)
        defer { try? fd.close() }
        try pair.first.send(DMABufChannelMessage(.ready), descriptors: [fd], fence: fd)
        expectError(.notADMABuf, .anyKernel, "memfd as fence") { try pair.second.blockingReceive() }
    }

    static let malformed: [(String, [UInt8])] = {
        let good = try! DMABufChannelMessage(.data, name: "x", metadata: [9]).encoded(descriptorCount: 1)
        func with(_ offset: Int, _ byte: UInt8) -> [UInt8] {
            var bytes = good
            bytes[offset] = byte
            return bytes
        }
        return [
            ("empty header", [0]), ("short", Array(good.prefix(20))), ("bad magic", with(0, 0)),
            ("version 2", with(4, 2)), ("kind 0", with(6, 0)), ("kind 99", with(6, 99)),
            ("unknown flag", with(29, 2)), ("name length too long", with(30, 40)),
            ("lengths disagree", with(31, 2)), ("declares 2 fds", with(28, 2)), ("declares 0 fds", with(28, 0)),
            ("trailing byte", good + [0]), ("longer than the protocol", good + [UInt8](repeating: 0, count: 200)),
            ("name not UTF-8", with(32, 0xff)),
        ]
    }()

    @Test(arguments: 0..<malformed.count)
    func aMalformedMessageIsRefusedAndItsFdClosed(case index: Int) throws {
        let (what, bytes) = Self.malformed[index]
        let pair = try memfdChannelPair()
        let fd = try makeMemfd(size: 4096)
        defer { try? fd.close() }
        try sendRaw(pair.first, bytes, descriptors: [fd])
        expectError(.malformedInput, .libraryMade, what) { try pair.second.blockingReceive() }
    }

    @Test func aPeerThatClosedIsDisconnectedNotAHang() throws {
        let pair = try memfdChannelPair()
        let sender = pair.first
        let receiver = pair.second
        try sender.close()
        expectError(.disconnected, .libraryMade, "receive after EOF") { try receiver.blockingReceive() }
        expectError(.disconnected, .kernel(.brokenPipe), "send to a closed peer") {
            try receiver.send(DMABufChannelMessage(.goodbye))
        }
    }

    @Test func asyncReceiveSuspendsUntilAMessageComes() async throws {
        let pair = try memfdChannelPair()
        let sender = pair.first
        let receiver = pair.second
        async let received = receiver.receive().message
        try await Task.sleep(for: .milliseconds(50))
        try sender.send(DMABufChannelMessage(.data, sequence: 5))
        #expect(try await received.sequence == 5)
    }

    @Test func cancellingAnAsyncReceiveEndsIt() async throws {
        let pair = try memfdChannelPair()
        let receiver = pair.second
        let task = Task { try await receiver.receive().message }
        try await Task.sleep(for: .milliseconds(50))
        task.cancel()
        let outcome = await task.result
        let error = #expect(throws: DMABufError.self) { try outcome.get() }
        #expect(error?.code == .cancelled, "\(String(describing: error))")
        _ = pair.first
    }

    @Test func adoptingRefusesAStreamSocket() throws {
        let (fd, other) = try ForeignDescriptor.unixSocket.open()
        defer {
            try? fd.close()
            try? other?.close()
        }
        expectError(.invalidArgument, .libraryMade) { try DMABufChannel(adopting: fd) }
        #expect(isOpen(fd))
        let pair = try DMABufChannel.pair()
        let seqpacket = pair.first.withUnsafeDescriptor { $0 }
        for maximum in [0, 254] {
            expectError(.invalidArgument, .libraryMade, "maximum \(maximum)") {
                try DMABufChannel(adopting: seqpacket, maximumDescriptors: maximum)
            }
            #expect(isOpen(seqpacket), "a refused socket stays the caller's")
        }
    }

    @Test func listenerAndConnect() throws {
        let path = FilePath("/tmp/dmabuf-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock")
        try expectNoLeaks {
            let listener = try DMABufChannel.Listener(path: path)
            let client = try DMABufChannel.connect(to: path)
            let server = try listener.blockingAccept()
            try client.send(DMABufChannelMessage(.data, name: "hello"))
            #expect(try server.blockingReceive().message.name == "hello")
            expectError(.other, .kernel(.addressInUse)) { try DMABufChannel.Listener(path: path) }
        }
        #expect(!TestEnvironment.exists(path.string), "closing the listener removes its path")
        let error = expectError(.deviceMissing, .kernel(.noSuchFileOrDirectory)) {
            try DMABufChannel.connect(to: path)
        }
        #expect(error?.hint?.contains("dmabuf serve") == true)
    }
}

@Suite struct BufferPoolTests {
    @Test func backpressureAndRelease() throws {
        try expectNoLeaks {
            let pair = try memfdChannelPair()
            var producer = try BufferPoolProducer(channel: pair.first, count: 2) { _ throws(DMABufError) in
                try poolMemfd(size: 4096)
            }
            var consumer = try BufferPoolConsumer(channel: pair.second)
            #expect(consumer.count == 2)
            for frame in 0..<2 {
                let index = try producer.blockingAcquire()
                #expect(try producer.submit(index: index, bytesUsed: 100 + frame) == UInt64(frame))
            }
            // Every buffer is with the consumer: would block.
            #expect(try producer.acquireIfAvailable() == nil)
            expectError(.timedOut, .libraryMade, "acquire with every buffer out") {
                try producer.blockingAcquire(timeout: .milliseconds(30))
            }
            expectError(.invalidArgument, .libraryMade, "submit a held buffer") {
                try producer.submit(index: 0, bytesUsed: 1)
            }
            guard let first = try consumer.blockingNext() else { throw Failure("no first frame") }
            let noFence = first.fence == nil
            #expect(first.sequence == 0 && first.bytesUsed == 100 && noFence)
            let released = first.index
            try consumer.release(first)
            #expect(try producer.acquireIfAvailable() == released)
            #expect(producer.freeCount == 1)
            try producer.finish()
            guard let second = try consumer.blockingNext() else { throw Failure("no second frame") }
            #expect(second.sequence == 1)
            let ended = try consumer.blockingNext() == nil
            #expect(ended, "goodbye ends the frames")
            try consumer.finish()
        }
    }
}

extension BufferPoolTests {
    /// A frame's metadata arrives as submitted (the fence's overload: the pipeline's device test); and the producer learns
    /// which buffer came back whatever the order of the releases.
    @Test func metadataTravelsWithTheFrameAndReleasesAreTold() throws {
        try expectNoLeaks {
            let pair = try memfdChannelPair()
            var producer = try BufferPoolProducer(channel: pair.first, count: 3) { _ throws(DMABufError) in
                try poolMemfd(size: 4096)
            }
            var consumer = try BufferPoolConsumer(channel: pair.second)
            let stamped = (0..<64).map { UInt8($0 * 3 & 0xff) }
            try producer.submit(index: 2, bytesUsed: 10, metadata: stamped)
            try producer.submit(index: 0, bytesUsed: 20, metadata: [7, 8, 9])
            try producer.submit(index: 1, bytesUsed: 30)
            #expect((0..<3).allSatisfy { producer.isWithConsumer($0) })
            #expect(!producer.isWithConsumer(3) && !producer.isWithConsumer(-1))
            expectError(.invalidArgument, .libraryMade, "65 bytes of metadata") {
                try producer.submit(index: 0, bytesUsed: 1, metadata: Array(repeating: 0, count: 65))
            }
            guard let first = try consumer.blockingNext(), let second = try consumer.blockingNext(),
                let third = try consumer.blockingNext()
            else { throw Failure("three frames were submitted") }
            #expect(first.index == 2 && first.metadata == stamped)
            #expect(second.index == 0 && second.metadata == [7, 8, 9])
            #expect(third.index == 1 && third.metadata.isEmpty)
            try consumer.release(second)
            _ = try producer.acquireIfAvailable()
            #expect(!producer.isWithConsumer(0) && producer.isWithConsumer(1) && producer.isWithConsumer(2))
            try consumer.release(first)
            try consumer.release(third)
            try producer.finish(linger: .milliseconds(100))
            try consumer.finish()
        }
    }
}

/// A producer or consumer in a child process that SIGKILLs itself at one step of the protocol.
@Suite struct KilledPeerTests {
    static let frames = 6

    @Test(arguments: ["start", "registered", "holding", "released"])
    func producerGetsItsBuffersBackWhenTheConsumerDies(at step: String) throws {
        try expectNoLeaks {
            let pair = try DMABufChannel.pair()
            var child = try HelperProcess(
                ["pool-consumer", "memfd", step, "1000"], descriptor: pair.second.withUnsafeDescriptor { $0 })
            let channel = pair.first
            try? pair.second.close()  // the child has its own
            var disconnected: DMABufError?
            do {
                var producer = try BufferPoolProducer(channel: channel, count: 3) { _ throws(DMABufError) in
                    try poolMemfd(size: 4096)
                }
                do {
                    for frame in 0..<Self.frames {
                        let index = try producer.blockingAcquire()
                        try producer.withBuffer(at: index) {
                            try fillBuffer($0, with: FillPattern(seed: UInt64(frame) + 1))
                        }
                        try producer.submit(index: index, bytesUsed: 4096)
                    }
                    // The consumer holds frames or is dead: wait for what comes.
                    while true { _ = try producer.blockingAcquire() }
                } catch let error as DMABufError where error.code == .disconnected {
                    disconnected = error
                    let allBack = producer.freeCount == producer.count
                    let connected = producer.isConsumerConnected
                    #expect(allBack, "the buffers come back")
                    #expect(!connected)
                }
            } catch let error as DMABufError where error.code == .disconnected {
                disconnected = error  // died before registration was through
            }
            #expect(disconnected != nil)
            #expect(child.wait() == 128 + SIGKILL)
        }
    }

    @Test(arguments: ["start", "registering", "registered", "submitted"])
    func consumerSeesTheProducerDieAndKeepsItsFrames(at step: String) throws {
        try expectNoLeaks {
            let pair = try memfdChannelPair()
            var child = try HelperProcess(
                ["pool-producer", "memfd", "4096", "2", "\(Self.frames)", step],
                descriptor: pair.second.withUnsafeDescriptor { $0 })
            let channel = pair.first
            try? pair.second.close()  // the child has its own
            do {
                var consumer = try BufferPoolConsumer(channel: channel)
                #expect(step == "registered" || step == "submitted")
                let held = try consumer.blockingNext()
                let gotFrame = held != nil
                #expect(step == "submitted" && gotFrame)
                _ = try consumer.blockingNext()
                Issue.record("a frame after the producer died at \(step)")
                _ = held
            } catch let error as DMABufError where error.code == .disconnected {
                #expect(error.description.contains("died"))
            }
            #expect(child.wait() == 128 + SIGKILL)
        }
    }

    @Test func framesStayValidAfterTheProducerDies() throws {
        let pair = try memfdChannelPair()
        var child = try HelperProcess(
            ["pool-producer", "memfd", "8192", "2", "1", "submitted"],
            descriptor: pair.second.withUnsafeDescriptor { $0 })
        let channel = pair.first
        try? pair.second.close()  // the child has its own
        var consumer = try BufferPoolConsumer(channel: channel)
        guard let frame = try consumer.blockingNext() else { throw Failure("no frame") }
        #expect(child.wait() == 128 + SIGKILL)
        expectError(.disconnected, .libraryMade) { try consumer.blockingNext() }
        try consumer.withBuffer(at: frame.index) { buffer in
            let mapping = try buffer.map()
            #expect(FillPattern(seed: 1).firstMismatch(in: mapping.unsynchronizedBytes) == nil)
        }
        do {
            try consumer.release(frame)
            Issue.record("release to a dead producer succeeded")
        } catch {
            #expect(error.code == .disconnected)
        }
    }

    @Test func aWholeRunBetweenTwoProcessesWithAsyncAcquire() async throws {
        let pair = try DMABufChannel.pair()
        var child = try HelperProcess(
            ["pool-consumer", "memfd", "never", "1000"], descriptor: pair.second.withUnsafeDescriptor { $0 })
        let channel = pair.first
        try? pair.second.close()  // the child has its own
        var producer = try BufferPoolProducer(channel: channel, count: 2) { _ throws(DMABufError) in
            try poolMemfd(size: 16384)
        }
        for frame in 0..<Self.frames {
            let index = try await producer.acquire()
            try producer.withBuffer(at: index) { try fillBuffer($0, with: FillPattern(seed: UInt64(frame) + 1)) }
            try producer.submit(index: index, bytesUsed: 16384)
        }
        try producer.finish()
        #expect(child.wait() == 0)
    }
}

/// Fills the whole of memfd `buffer` with `pattern` through a mapping (without
/// DMA_BUF_IOCTL_SYNC, which a memfd does not have).
func fillBuffer(_ buffer: borrowing DMABuffer, with pattern: FillPattern) throws {
    var mapping = try buffer.map()
    var bytes = mapping.unsynchronizedMutableBytes
    pattern.fill(&bytes)
}

/// A test's own failure, thrown where a value it needs is missing.
struct Failure: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}

/// A memfd as a pool's buffer (the test-only admission takes it for a dma-buf).
func poolMemfd(size: Int) throws(DMABufError) -> DMABuffer {
    let fd = try Sys.memfdCreate("pool", flags: 0).get("memfd_create")
    do {
        try Sys.truncate(fd, size: size).get("ftruncate")
        return try DMABuffer(trusting: fd)
    } catch {
        _ = Sys.close(fd)
        throw error
    }
}
