import DMABuf
import DMABufTestSupport
import DMABufV4L2
import Glibc
import Synchronization
import SystemPackage
import Testing

// Waits, deadlines and adoption on the host: what each owner does with a socket or fd it did not
// make (non-blocking, SO_RCVTIMEO, not what it expects), and waits that must end when asked to.

/// Runs `body` on a thread of its own, outside the cooperative pool and outside any task's
/// `SyscallMock`: the peer of a test that blocks, or that counts the system calls it makes.
/// Returns when the thread has started; `join()` the result.
final class PeerThread: Sendable {
    private let body: @Sendable () -> Void
    private let finished = Atomic(false)
    nonisolated(unsafe) private var thread = pthread_t()

    init(_ body: @escaping @Sendable () -> Void) {
        self.body = body
        let context = Unmanaged.passRetained(self).toOpaque()
        let created = pthread_create(
            &thread, nil,
            { context in
                let peer = Unmanaged<PeerThread>.fromOpaque(context!).takeRetainedValue()
                peer.body()
                peer.finished.store(true, ordering: .releasing)
                return nil
            }, context)
        precondition(created == 0, "pthread_create: \(Errno(rawValue: created))")
    }

    var isFinished: Bool { finished.load(ordering: .acquiring) }

    func join() {
        pthread_join(thread, nil)
    }
}

/// Two connected SOCK_SEQPACKET fds made with `flags` (SOCK_NONBLOCK, say) and SOCK_CLOEXEC.
func seqpacketPair(flags: CInt = 0) throws -> (FileDescriptor, FileDescriptor) {
    var ends: [CInt] = [-1, -1]
    let type = CInt(SOCK_SEQPACKET.rawValue) | CInt(SOCK_CLOEXEC.rawValue) | flags
    guard socketpair(AF_UNIX, type, 0, &ends) == 0 else { throw Errno(rawValue: errno) }
    return (FileDescriptor(rawValue: ends[0]), FileDescriptor(rawValue: ends[1]))
}

/// Sends `message` on the socket `fd`, which stays the caller's.
func sendRaw(_ message: DMABufChannelMessage, on fd: FileDescriptor) {
    guard let copy = try? fd.duplicate(), let channel = try? DMABufChannel(adopting: copy) else { return }
    _ = try? channel.send(message)
}

@Suite struct NonBlockingSocketTests {
    @Test func anAdoptedNonBlockingSocketWaitsWithoutSpinning() throws {
        let (mine, peer) = try seqpacketPair(flags: CInt(SOCK_NONBLOCK.rawValue))
        defer { try? peer.close() }
        let channel = try DMABufChannel(adopting: mine)
        let sender = PeerThread {
            usleep(200_000)
            sendRaw(DMABufChannelMessage(.data, sequence: 9), on: peer)
        }
        defer { sender.join() }
        let mock = SyscallMock()
        let message = try mock.run { () throws(DMABufError) in try channel.blockingReceive().message }
        #expect(message.sequence == 9)
        let receives = mock.calls("recvmsg").count
        #expect(receives <= 2, "recvmsg was called \(receives) times while waiting 200 ms")
    }

    @Test func anAdoptedSocketWithAReceiveTimeoutTimesOut() throws {
        let (mine, peer) = try seqpacketPair()
        defer { try? peer.close() }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        #expect(
            setsockopt(mine.rawValue, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size)) == 0)
        let channel = try DMABufChannel(adopting: mine)
        // Were it to wait forever, the peer ends the wait after 3 s, and the test fails.
        let watchdog = PeerThread {
            usleep(3_000_000)
            _ = shutdown(peer.rawValue, CInt(SHUT_RDWR))
        }
        defer { watchdog.join() }
        let started = ContinuousClock.now
        expectError(.timedOut, .kernel(.resourceTemporarilyUnavailable), "SO_RCVTIMEO") {
            try channel.blockingReceive()
        }
        #expect(ContinuousClock.now - started < .seconds(2))
    }

    @Test func aPoolConsumerOnANonBlockingSocketWaitsWithoutSpinning() throws {
        let (mine, peer) = try seqpacketPair(flags: CInt(SOCK_NONBLOCK.rawValue))
        defer { try? peer.close() }
        let producer = PeerThread {
            usleep(200_000)
            sendRaw(DMABufChannelMessage(.goodbye), on: peer)
        }
        defer { producer.join() }
        let mock = SyscallMock()
        // A goodbye is no registration.
        expectError(.malformedInput, .libraryMade, "a goodbye for a registration", mock: mock) {
            try BufferPoolConsumer(channel: DMABufChannel(adopting: mine))
        }
        #expect(mock.calls("recvmsg").count <= 2, "\(mock.calls("recvmsg").count) recvmsg calls")
    }
}

@Suite struct DeadlineTests {
    @Test func theLongestTimeoutIsNoTrap() throws {
        // A memfd is always readable: the wait ends at once, whatever its limit.
        let buffer = try memfdBuffer(size: 4096)
        try buffer.waitForFences(.read, timeout: .seconds(Int64.max))
        let fd = buffer.withUnsafeDescriptor { $0 }
        #expect(try Sys.poll(fd, events: Int16(POLLIN), timeout: .seconds(Int64.max)).get() != 0)
        #expect(
            try Sys.poll(
                fd, events: Int16(POLLIN),
                timeout: Duration(secondsComponent: .max, attosecondsComponent: 999_999_999_999_999_999)
            ).get() != 0)
        #expect(Deadline(after: .seconds(Int64.max)).isNever)
        #expect(Deadline(after: .seconds(-5)).hasPassed)
        #expect(Deadline(after: .milliseconds(1500)).pollMilliseconds > 1400)
    }

    @Test func finishEndsAtItsLingerWhileTheConsumerKeepsSending() throws {
        let (mine, peer) = try seqpacketPair()
        let stop = Atomic(false)
        // A consumer that sends without pause and never closes; it gives up after 5 s.
        let consumer = PeerThread {
            guard let channel = try? DMABufChannel(adopting: peer) else { return }  // closes it at the end
            let started = ContinuousClock.now
            while !stop.load(ordering: .relaxed), ContinuousClock.now - started < .seconds(5) {
                do { try channel.send(DMABufChannelMessage(.release, index: 0)) } catch { return }
            }
        }
        defer {
            stop.store(true, ordering: .relaxed)
            consumer.join()
        }
        // Each receive takes the producer a millisecond: the consumer's messages never run out.
        let slowReceives = SyscallMock { call in
            if call.name == "recvmsg" { usleep(1000) }
            return .passThrough
        }
        let started = ContinuousClock.now
        try slowReceives.run { () throws(DMABufError) in
            let producer = try BufferPoolProducer(channel: DMABufChannel(adopting: mine), count: 1) {
                _ throws(DMABufError) in try poolMemfd(size: 4096)
            }
            try producer.finish(linger: .milliseconds(200))
        }
        #expect(ContinuousClock.now - started < .seconds(2))
    }
}

/// A listener that tasks share.
final class SharedListener: Sendable {
    let listener: DMABufChannel.Listener
    init(_ listener: consuming DMABufChannel.Listener) { self.listener = listener }
}

@Suite struct ListenerRaceTests {
    @Test func theTaskThatLosesTheRaceForAConnectionCanBeCancelled() async throws {
        let path = FilePath("/tmp/dmabuf-race-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock")
        let listener = SharedListener(try DMABufChannel.Listener(path: path))
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    do {
                        _ = try await listener.listener.accept()
                        return true
                    } catch {
                        return false
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(100))
            let client = try DMABufChannel.connect(to: path)
            let first = try await group.next()
            #expect(first == true, "one task gets the connection")
            // The other waits on: cancelled, it must end promptly, not block in accept().
            let cancelled = ContinuousClock.now
            group.cancelAll()
            // Were it blocked in accept(), a second client lets it go, late.
            let rescue = Task {
                try await Task.sleep(for: .seconds(3))
                _ = try DMABufChannel.connect(to: path).takeDescriptor()  // closed with the process
            }
            let second = try await group.next()
            #expect(second == false, "the cancelled task ends without a connection")
            #expect(ContinuousClock.now - cancelled < .seconds(1))
            rescue.cancel()
            _ = try? await rescue.value
            _ = client
        }
    }
}

@Suite struct AdoptionTests {
    @Test func aV4L2DeviceRefusedOnAdoptionStaysTheCallers() throws {
        let fd = try FileDescriptor.open("/dev/null", .readWrite)
        defer { try? fd.close() }
        expectError(.unsupported, .kernel(.inappropriateIOCTLForDevice), "adopt /dev/null") {
            try V4L2Device(adopting: fd)
        }
        #expect(isOpen(fd), "a refused fd stays the caller's")
    }
}

@Suite struct SyncFileAdoptionTests {
    /// The hint says what became of the fd: on adoption it is still the caller's (the receive
    /// path, which shares the check, closes the message's fds instead).
    @Test func aRefusedFdIsSaidToStayTheCallers() throws {
        let fd = try makeMemfd(size: 4096)
        defer { try? fd.close() }
        let error = expectError(.notADMABuf, .kernel(.inappropriateIOCTLForDevice), "adopt a memfd as a sync_file") {
            try SyncFile(adopting: fd)
        }
        let hint = error?.hint ?? ""
        #expect(hint.contains("not a sync_file") && hint.contains("stays the caller's"), "\(hint)")
        #expect(!hint.contains("closed"), "\(hint)")
        #expect(isOpen(fd))
    }
}

/// Every `init(adopting:)` by the one rule: refused, the fd stays open and as it was; taken,
/// it is close-on-exec.
@Suite struct AdoptionRuleTests {
    /// An fd of `kind` without FD_CLOEXEC, and the other end to close, if any.
    func openWithoutCloseOnExec(_ kind: ForeignDescriptor) throws -> (FileDescriptor, FileDescriptor?) {
        let (fd, other) = try kind.open()
        _ = fcntl(fd.rawValue, F_SETFD, 0)
        return (fd, other)
    }

    /// Each owner's adoption of an fd that is not its kind of file.
    static let refusals: [(String, ForeignDescriptor, @Sendable (FileDescriptor) throws -> Void)] = [
        ("DMABuffer", .devNull, { _ = try DMABuffer(adopting: $0) }),
        ("SyncFile", .memfd, { _ = try SyncFile(adopting: $0) }),
        ("DMABufChannel", .pipeReadEnd, { _ = try DMABufChannel(adopting: $0) }),
        ("V4L2Device", .devNull, { _ = try V4L2Device(adopting: $0) }),
    ]

    @Test(arguments: 0..<4)
    func aRefusedFdStaysOpenAndAsItWas(case index: Int) throws {
        let (owner, kind, adopt) = Self.refusals[index]
        let (fd, other) = try openWithoutCloseOnExec(kind)
        defer {
            try? fd.close()
            try? other?.close()
        }
        #expect(throws: DMABufError.self, "\(owner)") { try adopt(fd) }
        #expect(isOpen(fd), "\(owner): a refused fd stays the caller's")
        #expect(fcntl(fd.rawValue, F_GETFD) & FD_CLOEXEC == 0, "\(owner): and as it was")
    }

    @Test func anAdoptedFdIsCloseOnExec() throws {
        let memfd = try makeMemfd(size: 4096)
        _ = fcntl(memfd.rawValue, F_SETFD, 0)
        let owner = try Memfd(adopting: memfd)
        #expect(owner.size == 4096 && fcntl(memfd.rawValue, F_GETFD) & FD_CLOEXEC != 0)
        try owner.close()
        let (mine, peer) = try seqpacketPair()
        defer { try? peer.close() }
        _ = fcntl(mine.rawValue, F_SETFD, 0)
        let channel = try DMABufChannel(adopting: mine)
        #expect(fcntl(mine.rawValue, F_GETFD) & FD_CLOEXEC != 0)
        #expect(channel.takeDescriptor() == mine && isOpen(mine))
        try mine.close()
    }

    @Test func everyOwnerClosesTheSameWay() throws {
        // An fd closed behind the owner's back: close reports EBADF and names the owner.
        let memfd = try Memfd(name: "closed", size: 4096)
        _ = Glibc.close(memfd.withUnsafeDescriptor { $0.rawValue })
        do {
            try memfd.close()
            Issue.record("a close of a closed fd succeeded")
        } catch {
            #expect(error.code == .badDescriptor && error.errno == .badFileDescriptor, "\(error)")
            #expect(error.target?.hasPrefix("Memfd fd ") == true, "\(error)")
        }
    }

    @Test func closingAListenerRemovesItsPath() throws {
        let path = FilePath("/tmp/dmabuf-close-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock")
        try expectNoLeaks {
            let listener = try DMABufChannel.Listener(path: path)
            #expect(TestEnvironment.exists(path.string))
            try listener.close()
        }
        #expect(!TestEnvironment.exists(path.string))
        _ = try DMABufChannel.Listener(path: path)  // free again
    }
}

/// A channel on socket `fd` that takes memfds for dma-bufs (as `memfdChannelPair()`): the
/// consumer's end, for a thread or task to adopt.
func memfdChannel(_ fd: FileDescriptor) throws(DMABufError) -> DMABufChannel {
    try DMABufChannel(owning: fd, maximumDescriptors: 16, admission: .dmaBufsAndMemfdsForTesting)
}

/// A flag one task raises and another watches.
final class Flag: Sendable {
    private let raised = Atomic(false)
    func set() { raised.store(true, ordering: .releasing) }
    var isSet: Bool { raised.load(ordering: .acquiring) }
}

/// What a consumer task saw of a cancelled `next()`, and of what came after.
struct CancelledWait: Sendable {
    var error: DMABufError?
    var endedAt: ContinuousClock.Instant
    var againError: DMABufError?
    var frameAfter: UInt64?
    var leaked: [CInt]
}

/// `BufferPoolConsumer.next()`, the async wait for a frame, over a real socket pair.
@Suite struct AsyncConsumerTests {
    @Test func nextGivesTheFramesThenNilAfterTheGoodbye() async throws {
        let pair = try memfdChannelPair()
        var producer = try BufferPoolProducer(channel: pair.first, count: 2) { _ throws(DMABufError) in
            try poolMemfd(size: 4096)
        }
        var consumer = try BufferPoolConsumer(channel: pair.second)
        for frame in 0..<2 {
            try producer.submit(index: try producer.blockingAcquire(), bytesUsed: 100 + frame)
        }
        guard let first = try await consumer.next() else { throw Failure("no first frame") }
        #expect(first.sequence == 0 && first.bytesUsed == 100)
        let released = first.index
        try consumer.release(first)
        #expect(try producer.blockingAcquire(timeout: .seconds(5)) == released, "the release reached the producer")
        // Every message of the consumer's read: the close resets nothing.
        try producer.finish(linger: .zero)
        guard let second = try await consumer.next() else { throw Failure("no second frame") }
        #expect(second.sequence == 1 && second.bytesUsed == 101 && second.index != released)
        let ended = try await consumer.next() == nil
        #expect(ended, "the goodbye ends the frames")
        let stillEnded = try await consumer.next() == nil
        #expect(stillEnded && !consumer.isProducerConnected, "and they stay ended")
        _ = second
        try consumer.finish()
    }

    /// A task waiting in `next()` with no frame coming ends with `.cancelled` when cancelled, at
    /// once; the wait consumed nothing, so the frame sent after the cancellation is the next one
    /// `blockingNext()` gets, and the consumer's fds are all closed at its finish.
    @Test func aCancelledWaitEndsPromptlyAndLosesNothing() async throws {
        let (producerEnd, consumerEnd) = try seqpacketPair()
        var producer = try BufferPoolProducer(channel: DMABufChannel(adopting: producerEnd), count: 1) {
            _ throws(DMABufError) in try poolMemfd(size: 4096)
        }
        let waiting = Flag()
        let consumerTask = Task { () throws -> CancelledWait in
            let mock = SyscallMock()
            return try await SyscallMock.$current.withValue(mock) { () async throws -> CancelledWait in
                var consumer = try BufferPoolConsumer(channel: memfdChannel(consumerEnd))
                var outcome = CancelledWait(endedAt: .now, leaked: [])
                do {
                    waiting.set()
                    // A wait that ignores the cancellation takes the frame sent after it.
                    if let frame = try await consumer.next() {
                        outcome.frameAfter = frame.sequence
                        return outcome
                    }
                } catch {
                    outcome.error = error as? DMABufError
                }
                outcome.endedAt = .now
                // The task stays cancelled: another async wait ends at once, taking nothing.
                do { _ = try await consumer.next() } catch { outcome.againError = error as? DMABufError }
                if let frame = try consumer.blockingNext() {
                    outcome.frameAfter = frame.sequence
                    try consumer.release(frame)
                }
                try consumer.finish()
                outcome.leaked = mock.leakedDescriptors
                return outcome
            }
        }
        while !waiting.isSet { try await Task.sleep(for: .milliseconds(10)) }
        try await Task.sleep(for: .milliseconds(200))  // into the wait
        let cancelled = ContinuousClock.now
        consumerTask.cancel()
        // Sent after the cancellation: a next() that ignored it would take this frame.
        try producer.submit(index: try producer.blockingAcquire(), bytesUsed: 7)
        let outcome = try await consumerTask.value
        #expect(outcome.error?.code == .cancelled, "the wait ended with \(String(describing: outcome.error))")
        #expect(outcome.error?.description.contains("cancelled") == true)
        let took: Duration = outcome.endedAt - cancelled
        #expect(took < .seconds(1), "the cancelled wait took \(took)")
        #expect(outcome.againError?.code == .cancelled)
        #expect(outcome.frameAfter == 0, "the frame after the cancellation is still there")
        #expect(outcome.leaked.isEmpty, "fds leaked: \(outcome.leaked)")
        // The consumer released the frame and said goodbye: the producer has every buffer back.
        expectError(.disconnected, .libraryMade, "after the consumer's goodbye") {
            try producer.blockingAcquire(timeout: .seconds(5))
        }
        #expect(producer.freeCount == producer.count)
        try producer.finish()
    }
}

/// `BufferPoolProducer.finish(linger:)` with lingers other than the default, against a consumer
/// thread that keeps its end open, or closes it.
@Suite struct FinishLingerTests {
    /// A producer of one memfd on `end`, the consumer's registration sent.
    func producer(on end: FileDescriptor) throws -> BufferPoolProducer {
        try BufferPoolProducer(channel: DMABufChannel(adopting: end), count: 1) { _ throws(DMABufError) in
            try poolMemfd(size: 4096)
        }
    }

    @Test func aSilentConsumerThatKeepsItsEndOpenIsWaitedForTheLingerOnly() throws {
        let (mine, peer) = try seqpacketPair()
        defer { try? peer.close() }
        let producer = try producer(on: mine)
        let started = ContinuousClock.now
        try producer.finish(linger: .milliseconds(400))
        let took = ContinuousClock.now - started
        #expect(took >= .milliseconds(400), "finish returned after \(took), before its linger")
        #expect(took < .milliseconds(1400), "finish returned after \(took), long past its 400 ms linger")
        #expect(!isOpen(mine), "finish closes the channel")
    }

    @Test func aConsumerThatClosesEndsTheLingerAtOnce() throws {
        let (mine, peer) = try seqpacketPair()
        // The consumer reads the registration and the goodbye, then closes its end.
        let consumer = PeerThread {
            guard let channel = try? memfdChannel(peer),
                var consumer = try? BufferPoolConsumer(channel: channel)
            else { return }
            do {
                while let frame = try consumer.blockingNext() { try consumer.release(frame) }
            } catch {}
            try? consumer.finish()
        }
        defer { consumer.join() }
        let producer = try producer(on: mine)
        let started = ContinuousClock.now
        try producer.finish(linger: .seconds(30))
        let took = ContinuousClock.now - started
        #expect(took < .seconds(3), "finish waited \(took) for a consumer that had closed")
    }
}
