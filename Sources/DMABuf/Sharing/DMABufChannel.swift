#if os(Linux)
internal import CDMABuf
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemPackage

/// One end of a `SOCK_SEQPACKET` Unix socket that carries ``DMABufChannelMessage``s with dma-buf
/// and sync_file fds (SCM_RIGHTS): how a buffer reaches another process.
///
/// Make a pair with ``pair(maximumDescriptors:)`` (one end for a child process), or connect to
/// a ``Listener`` at a path with ``connect(to:maximumDescriptors:)``.
///
/// ```swift
/// try channel.send(DMABufChannelMessage(.data, name: "frame"), buffers: [fd])
/// var received = try peer.blockingReceive()  // or, from async code, try await peer.receive()
/// let buffer = try received.takeBuffer(at: 0)
/// ```
///
/// Sending keeps the sender's fds open (the peer gets its own). Receiving checks everything that
/// arrives: every fd is verified as a dma-buf (or, for a message's fence, a sync_file), and a
/// message that is malformed, truncated, or carries more fds than allowed is refused after every
/// fd that came with it is closed. A peer that closed its end or died is
/// ``DMABufError/Code/disconnected``, never a hang or a SIGPIPE.
///
/// One limit remains: a peer may send an fd of a file on a FUSE file system, and the `fstat`
/// that checks it, or the `close` that refuses it, then blocks for as long as the FUSE server
/// does not answer. Receive from peers you trust not to stall you, or on a thread that may block.
public struct DMABufChannel: ~Copyable, Sendable, DescriptorOwner {
    /// The fd's ownership, which ``DescriptorOwner``'s methods use.
    public let _owned: OwnedDescriptor
    /// See ``DescriptorOwner``.
    public consuming func _releaseOwned() -> OwnedDescriptor { _owned }
    /// The most fds one received message may bring; a message with more is refused.
    public let maximumDescriptors: Int
    /// Room for the fds one receive may bring: `maximumDescriptors`, rounded up as the control
    /// buffer is.
    private let receivableDescriptors: Int
    let admission: Admission

    /// What the receive path accepts as a buffer fd.
    package enum Admission: Sendable {
        /// dma-bufs only: file system type DMA_BUF_MAGIC.
        case dmaBufs
        #if ENABLE_MOCKING
        /// Memfds too, for tests on a host without dma-buf (debug builds only).
        case dmaBufsAndMemfdsForTesting
        #endif
    }

    private static func check(maximumDescriptors: Int) throws(DMABufError) {
        guard (1...Sys.maximumDescriptorsPerMessage).contains(maximumDescriptors) else {
            throw DMABufError(
                .invalidArgument, operation: "make a channel",
                hint: "maximumDescriptors is \(maximumDescriptors); it must be 1 to "
                    + "\(Sys.maximumDescriptorsPerMessage) (SCM_MAX_FD)")
        }
    }

    /// The default for ``maximumDescriptors``.
    public static let defaultMaximumDescriptors = 16

    /// Takes over `socket`, a connected `AF_UNIX` `SOCK_SEQPACKET` socket: an end of a socketpair a
    /// parent passed down, for example. Sets FD_CLOEXEC on it.
    ///
    /// The socket may be non-blocking (O_NONBLOCK): ``blockingReceive()`` then waits in poll as it
    /// otherwise waits in recvmsg, and a send that finds the socket full throws
    /// ``DMABufError/Code/busy`` instead of waiting. With a receive timeout (SO_RCVTIMEO),
    /// ``blockingReceive()`` throws ``DMABufError/Code/timedOut`` when it runs out.
    ///
    /// - Throws: ``DMABufError/Code/invalidArgument`` if it is not a `SOCK_SEQPACKET` socket or
    ///   `maximumDescriptors` is not 1 to 253; getsockopt's errors. The fd then stays the
    ///   caller's, open.
    public init(
        adopting socket: FileDescriptor, maximumDescriptors: Int = DMABufChannel.defaultMaximumDescriptors
    ) throws(DMABufError) {
        let owned = try OwnedDescriptor(adopting: socket, operation: "adopt as a channel") {
            (socket) throws(DMABufError) in
            let type = try Sys.socketType(socket).get(
                "adopt as a channel", on: Sys.name(socket),
                hint: { $0 == .notSocket || $0 == .notSupportedOnSocket ? "It is not a socket" : nil })
            guard type == CDMABuf_SOCK_SEQPACKET() else {
                throw DMABufError(
                    .invalidArgument, operation: "adopt as a channel", target: Sys.name(socket),
                    hint: "It is a socket of type \(type), not SOCK_SEQPACKET (\(CDMABuf_SOCK_SEQPACKET()))")
            }
            try Self.check(maximumDescriptors: maximumDescriptors)
        }
        self.init(owned, maximumDescriptors: maximumDescriptors, admission: .dmaBufs)
    }

    /// Takes over `socket`, closing it if `maximumDescriptors` is out of range.
    package init(owning socket: FileDescriptor, maximumDescriptors: Int, admission: Admission) throws(DMABufError) {
        let owned = OwnedDescriptor(socket)
        try Self.check(maximumDescriptors: maximumDescriptors)
        self.init(owned, maximumDescriptors: maximumDescriptors, admission: admission)
    }

    private init(_ owned: consuming OwnedDescriptor, maximumDescriptors: Int, admission: Admission) {
        self._owned = owned
        self.maximumDescriptors = maximumDescriptors
        self.receivableDescriptors = Sys.receivableDescriptors(room: maximumDescriptors)
        self.admission = admission
    }

    /// Two connected ends of one channel.
    @frozen public struct Pair: ~Copyable, Sendable {
        /// One end.
        public var first: DMABufChannel
        /// The other end.
        public var second: DMABufChannel
    }

    /// Two connected ends (`socketpair`). Give one to a child process, through
    /// ``takeDescriptor()`` and ``init(adopting:maximumDescriptors:)`` on its side.
    ///
    /// ```swift
    /// let pair = try DMABufChannel.pair()
    /// let (parent, child) = (pair.first, pair.second)
    /// ```
    public static func pair(
        maximumDescriptors: Int = DMABufChannel.defaultMaximumDescriptors
    ) throws(DMABufError) -> Pair {
        try pair(maximumDescriptors: maximumDescriptors, admission: .dmaBufs)
    }

    package static func pair(maximumDescriptors: Int, admission: Admission) throws(DMABufError) -> Pair {
        let (first, second) = try Sys.seqpacketPair().get("socketpair(AF_UNIX, SOCK_SEQPACKET)")
        let firstEnd: DMABufChannel
        do {
            firstEnd = try DMABufChannel(owning: first, maximumDescriptors: maximumDescriptors, admission: admission)
        } catch {
            _ = Sys.close(second)
            throw error
        }
        let secondEnd = try DMABufChannel(owning: second, maximumDescriptors: maximumDescriptors, admission: admission)
        return Pair(first: firstEnd, second: secondEnd)
    }

    /// Connects to the ``Listener`` at `path`.
    ///
    /// - Throws: ``DMABufError/Code/deviceMissing`` (ENOENT) or ECONNREFUSED when nobody listens
    ///   there, with a hint to start the server first.
    public static func connect(
        to path: FilePath, maximumDescriptors: Int = DMABufChannel.defaultMaximumDescriptors
    ) throws(DMABufError) -> DMABufChannel {
        let operation = "connect"
        guard let address = Sys.unixAddress(path) else { throw Listener.pathTooLong(path, operation) }
        let socket = try Sys.seqpacketSocket().get("socket(AF_UNIX, SOCK_SEQPACKET)")
        let channel = try DMABufChannel(owning: socket, maximumDescriptors: maximumDescriptors, admission: .dmaBufs)
        try Sys.connect(socket, address).get(
            operation, on: path.string,
            hint: { error in
                error == .noSuchFileOrDirectory || error == .connectionRefused
                    ? "Nothing listens there: start the serving side (`dmabuf serve --socket \(path)`) first" : nil
            })
        return channel
    }

    // MARK: Sending

    /// Sends `message` with the dma-bufs `buffers`. The fds stay open and the caller's: the peer
    /// gets its own fds for the same files.
    ///
    /// - Throws: ``DMABufError/Code/invalidArgument`` for a message that cannot be encoded or
    ///   more fds than one message carries; ``DMABufError/Code/disconnected`` when the peer is
    ///   gone (EPIPE, ECONNRESET, never SIGPIPE); ``DMABufError/Code/busy`` from a non-blocking
    ///   socket that is full; sendmsg's other errors.
    public borrowing func send(_ message: DMABufChannelMessage, buffers: [FileDescriptor] = []) throws(DMABufError) {
        try send(message, descriptors: buffers, fence: nil)
    }

    /// Sends `message` with the dma-bufs `buffers` and `fence`, a sync_file that the peer waits
    /// for before it reads them (it takes it with ``Received/takeFence()``). Every fd stays
    /// open and the caller's. Throws as ``send(_:buffers:)``.
    public borrowing func send(
        _ message: DMABufChannelMessage, buffers: [FileDescriptor] = [], fence: borrowing SyncFile
    ) throws(DMABufError) {
        try send(message, descriptors: buffers, fence: fence.withUnsafeDescriptor { $0 })
    }

    /// Sends `message` with the fd of `buffer`, which stays the caller's.
    public borrowing func send(_ message: DMABufChannelMessage, buffer: borrowing DMABuffer) throws(DMABufError) {
        // One fd needs no array: this is the channel's hot path.
        let descriptor = buffer.withUnsafeDescriptor { $0 }
        try withUnsafePointer(to: descriptor) { fd throws(DMABufError) in
            try send(message, descriptors: UnsafeBufferPointer(start: fd, count: 1), flags: 0)
        }
    }

    /// Sends `message` with dma-buf fds `descriptors` and, last, a sync_file `fence`, flagged
    /// in the message.
    package borrowing func send(
        _ message: DMABufChannelMessage, descriptors: [FileDescriptor], fence: FileDescriptor?, flags: CInt = 0
    ) throws(DMABufError) {
        var message = message
        message.hasFence = fence != nil
        guard let fence else {
            return try descriptors.withUnsafeBufferPointer { descriptors throws(DMABufError) in
                try send(message, descriptors: descriptors, flags: flags)
            }
        }
        // A frame's fence alone, the pool's case, needs no array.
        guard !descriptors.isEmpty else {
            return try withUnsafePointer(to: fence) { fence throws(DMABufError) in
                try send(message, descriptors: UnsafeBufferPointer(start: fence, count: 1), flags: flags)
            }
        }
        try (descriptors + [fence]).withUnsafeBufferPointer { descriptors throws(DMABufError) in
            try send(message, descriptors: descriptors, flags: flags)
        }
    }

    /// Encodes the message on the stack and sends it: no array, no string unless it fails.
    @inline(__always)
    private borrowing func send(
        _ message: DMABufChannelMessage, descriptors: UnsafeBufferPointer<FileDescriptor>, flags: CInt
    ) throws(DMABufError) {
        try withUnsafeTemporaryAllocation(byteCount: DMABufChannelMessage.maximumLength, alignment: 8) {
            buffer throws(DMABufError) in
            let count = try message.encode(into: buffer, descriptorCount: descriptors.count)
            let sent: Int
            switch Sys.send(
                _owned.rawValue, UnsafeRawBufferPointer(rebasing: buffer[..<count]), descriptors: descriptors,
                flags: flags)
            {
            case .success(let value): sent = value
            case .failure(let error): throw sendError(message.kind, descriptors.count, errno: error)
            }
            // A SOCK_SEQPACKET send is all or nothing; anything else is a broken socket.
            guard sent == count else {
                throw sendError(
                    message.kind, descriptors.count, code: .badResponse,
                    hint: "sendmsg sent \(sent) of \(count) bytes of one packet")
            }
        }
    }

    /// Made out of line, only on failure: on every message it would cost more than the sendmsg
    /// (`dmabuf bench`, fd-round-trip).
    @inline(never)
    private borrowing func sendError(
        _ kind: DMABufChannelMessage.Kind, _ descriptorCount: Int, code: DMABufError.Code? = nil, errno: Errno? = nil,
        hint: String? = nil
    ) -> DMABufError {
        DMABufError(
            code, errno: errno, operation: "send a \(kind) message with \(descriptorCount) fds", target: target,
            hint: hint ?? errno.flatMap(Self.peerHint))
    }

    static func peerHint(_ error: Errno) -> String? {
        switch error {
        case .brokenPipe, .connectionReset, .socketNotConnected: "The peer closed its end of the channel or died"
        case .resourceTemporarilyUnavailable: "Nothing to do without waiting (non-blocking)"
        default: nil
        }
    }

    // MARK: Receiving

    /// Waits for the next message and returns it with its fds, each verified.
    ///
    /// On an adopted socket that is non-blocking (O_NONBLOCK) it waits in `poll`, as on any
    /// other; on one with a receive timeout (SO_RCVTIMEO) it waits that long at the most.
    ///
    /// - Throws: ``DMABufError/Code/disconnected`` when the peer has closed its end or died;
    ///   ``DMABufError/Code/malformedInput`` for a message that is not well formed (truncated,
    ///   unknown version or kind, fd count not as declared); ``DMABufError/Code/limitExceeded``
    ///   for more fds than ``maximumDescriptors`` (or MSG_CTRUNC);
    ///   ``DMABufError/Code/notADMABuf`` for an fd that is not a dma-buf (or a fence fd that is
    ///   not a sync_file); ``DMABufError/Code/timedOut`` when SO_RCVTIMEO ran out. Every fd that
    ///   came with a refused message is closed.
    public borrowing func blockingReceive() throws(DMABufError) -> Received {
        while true {
            if let received = try receive(flags: 0) { return received }
            try waitAfterWouldBlock()
        }
    }

    /// A blocking recvmsg said EAGAIN, which it does on a socket the caller made non-blocking,
    /// and at the end of SO_RCVTIMEO: waits in poll for the first, throws for the second.
    /// Out of line: a message that is there never comes here.
    @inline(never)
    private borrowing func waitAfterWouldBlock() throws(DMABufError) {
        let operation = "receive a message"
        let flags = try Sys.statusFlags(_owned.rawValue).get(operation + ": fcntl(F_GETFL)", on: target)
        guard flags & O_NONBLOCK != 0 else {
            throw DMABufError(
                .timedOut, errno: .resourceTemporarilyUnavailable, operation: operation, target: target,
                hint: "No message came within the socket's receive timeout (SO_RCVTIMEO)")
        }
        try Readiness.block(on: _owned.rawValue, until: .never, operation: operation, target: target)
    }

    /// The next message if one is waiting, nil if none is (MSG_DONTWAIT). Throws as ``blockingReceive()``.
    public borrowing func receiveIfAvailable() throws(DMABufError) -> Received? {
        try receive(flags: CDMABuf_MSG_DONTWAIT())
    }

    /// Suspends until the next message arrives, without blocking a thread (a Dispatch read source
    /// watches the socket), then returns it as ``blockingReceive()`` does.
    ///
    /// - Throws: as ``blockingReceive()``; ``DMABufError/Code/cancelled`` when the task is cancelled.
    public borrowing func receive() async throws(DMABufError) -> Received {
        while true {
            if let received = try receiveIfAvailable() { return received }
            try await Readiness.suspend(on: _owned.rawValue, operation: "receive a message", target: target)
        }
    }

    /// Waits up to `timeout` (nil: no limit) for the socket to have a message, or to see the
    /// peer's end.
    ///
    /// - Throws: ``DMABufError/Code/timedOut`` when `timeout` passes first; poll's errors.
    public borrowing func waitForMessage(timeout: Duration?) throws(DMABufError) {
        try waitForMessage(until: Deadline(after: timeout))
    }

    /// Waits as ``waitForMessage(timeout:)``, without blocking a thread.
    package borrowing func suspendForMessage(until deadline: Deadline = .never) async throws(DMABufError) {
        try await Readiness.suspend(
            on: _owned.rawValue, until: deadline, operation: "wait for a message", target: target)
    }

    /// Waits as ``waitForMessage(timeout:)`` until `deadline`.
    package borrowing func waitForMessage(until deadline: Deadline) throws(DMABufError) {
        try Readiness.block(on: _owned.rawValue, until: deadline, operation: "wait for a message", target: target)
    }

    @inline(__always)
    private borrowing func receive(flags: CInt) throws(DMABufError) -> Received? {
        // The message (one byte more than the longest, to see a longer one truncated) and its
        // fds land on the stack, in one allocation: receiving is the channel's hot path, and
        // only a message with more than one fd allocates. The message is set from inside, not
        // returned: returned through the closure it went through a Result, three copies of it
        // (`dmabuf bench`, fd-round-trip).
        let messageRoom = (DMABufChannelMessage.maximumLength + 1 + 7) & ~7
        let room = messageRoom + receivableDescriptors * MemoryLayout<CInt>.stride
        var received: Received?
        try withUnsafeTemporaryAllocation(byteCount: room, alignment: 8) { room throws(DMABufError) in
            received = try receive(
                into: UnsafeMutableRawBufferPointer(rebasing: room[..<(DMABufChannelMessage.maximumLength + 1)]),
                descriptors: UnsafeMutableRawBufferPointer(rebasing: room[messageRoom...]).bindMemory(to: CInt.self),
                flags: flags)
        }
        return received
    }

    @inline(__always)
    private borrowing func receive(
        into bytes: UnsafeMutableRawBufferPointer, descriptors room: UnsafeMutableBufferPointer<CInt>, flags: CInt
    ) throws(DMABufError) -> Received? {
        let result = Sys.receive(
            _owned.rawValue, into: bytes, descriptorRoom: maximumDescriptors, descriptors: room, flags: flags)
        let packet: ReceivedPacket
        switch result {
        case .success(let value): packet = value
        case .failure(.resourceTemporarilyUnavailable): return nil
        case .failure(let error): throw receiveError(errno: error)
        }
        let count = packet.descriptorCount
        // Owned at once: closes them all unless kept.
        let arrived = ArrivedDescriptors(UnsafeBufferPointer(rebasing: room[..<count]))
        // recvmsg returns 0 both at the end and for an empty packet: the end is where the
        // socket also reports a hang-up.
        if packet.byteCount == 0 && count == 0 && !packet.truncated && peerHungUp() {
            throw receiveError(.disconnected, hint: "The peer closed its end of the channel or died (end of file)")
        }
        guard !packet.controlTruncated, packet.droppedDescriptors == 0, count <= maximumDescriptors, !packet.truncated
        else { throw refusal(of: packet) }
        let message = try DMABufChannelMessage.decode(
            UnsafeRawBufferPointer(rebasing: bytes[..<packet.byteCount]), descriptorCount: count)
        // The fds are the message's from here: it closes them all if a check fails. Each
        // buffer's fstat is kept for takeBuffer: one call checks the fd and gives the size and
        // identity.
        let (kind, fencePosition) = (message.kind, message.hasFence ? count - 1 : nil)
        var received = Received(message: consume message, owning: arrived.keep())
        for position in 0..<count {
            let fd = FileDescriptor(rawValue: room[position])
            if position == fencePosition {
                try SyncFile.verify(
                    fd, operation: "receive a \(kind) message: fence fd \(position)",
                    afterwards: "every fd of the message was closed")
            } else {
                received.keep(try verifyBuffer(fd, position: position, kind: kind), at: position)
            }
        }
        return received
    }

    /// Why `packet` is refused: the checks of `receive(into:descriptors:flags:)` in its order.
    /// The errors of receiving are made out of line, so that the path of a good message stays
    /// short (`dmabuf bench`, fd-round-trip).
    @inline(never)
    private borrowing func refusal(of packet: ReceivedPacket) -> DMABufError {
        let count = packet.descriptorCount
        if packet.controlTruncated || packet.droppedDescriptors != 0 {
            return receiveError(
                .limitExceeded,
                hint: "The message carried more fds than the \(maximumDescriptors) this channel takes "
                    + "(MSG_CTRUNC); the \(count) that arrived were closed")
        }
        if count > maximumDescriptors {
            return receiveError(
                .limitExceeded,
                hint: "The message carried \(count) fds, more than the \(maximumDescriptors) this channel "
                    + "takes; all were closed")
        }
        return receiveError(
            .malformedInput,
            hint: "The message is longer than the \(DMABufChannelMessage.maximumLength) bytes the "
                + "protocol allows (MSG_TRUNC); its \(count) fds were closed")
    }

    @inline(never)
    private borrowing func receiveError(_ code: DMABufError.Code? = nil, errno: Errno? = nil, hint: String? = nil)
        -> DMABufError
    {
        DMABufError(
            code, errno: errno, operation: "receive a message", target: target,
            hint: hint ?? errno.flatMap(Self.peerHint))
    }

    private borrowing func peerHungUp() -> Bool {
        let hangUp = Int16(POLLHUP) | CDMABuf_POLLRDHUP()
        guard case .success(let events) = Sys.poll(_owned.rawValue, events: hangUp, timeout: .zero) else { return true }
        return events & hangUp != 0
    }

    /// Checks that `fd` is a dma-buf and returns what its `fstat` said.
    @inline(__always)
    private borrowing func verifyBuffer(
        _ fd: FileDescriptor, position: Int, kind: DMABufChannelMessage.Kind
    ) throws(DMABufError) -> DMABuffer.Metadata {
        let status = Sys.metadataAndFileSystemType(fd)
        if case .success(let (metadata, type)) = status, type == Sys.dmaBufMagic { return metadata }
        return try admitOrRefuse(fd, status, position: position, kind: kind)
    }

    /// `verifyBuffer`'s other outcomes, out of line: an fstat that failed, a memfd that a test
    /// channel admits, and anything else, refused.
    @inline(never)
    private borrowing func admitOrRefuse(
        _ fd: FileDescriptor, _ status: Result<(DMABuffer.Metadata, type: Int), Errno>, position: Int,
        kind: DMABufChannelMessage.Kind
    ) throws(DMABufError) -> DMABuffer.Metadata {
        let operation = "receive a \(kind) message: fd \(position)"
        let (metadata, type) = try status.get(operation + ": fstat", on: target)
        #if ENABLE_MOCKING
        if case .dmaBufsAndMemfdsForTesting = admission, type == Int(CDMABuf_TMPFS_MAGIC()) { return metadata }
        #endif
        throw DMABufError(
            .notADMABuf, operation: operation, target: target,
            hint: "The peer sent \(Sys.describe(fd) ?? "a file") (file system type 0x\(String(type, radix: 16))), "
                + "not a dma-buf; every fd of the message was closed")
    }

    private var target: String { "channel socket fd \(_owned.rawValue.rawValue)" }
}

/// Fds that arrived with a message, in the receive buffer: closed together when the value goes
/// away, unless kept.
private struct ArrivedDescriptors: ~Copyable {
    let descriptors: UnsafeBufferPointer<CInt>

    init(_ descriptors: UnsafeBufferPointer<CInt>) {
        self.descriptors = descriptors
    }

    deinit {
        for fd in descriptors { _ = Sys.close(FileDescriptor(rawValue: fd)) }
    }

    /// Hands the fds over: the caller now closes them.
    consuming func keep() -> UnsafeBufferPointer<CInt> {
        let descriptors = self.descriptors
        discard self
        return descriptors
    }
}

extension DMABufChannel {
    /// A message that arrived, with the fds that came with it, all verified: dma-bufs, and the
    /// sync_file the sender gave as the message's fence, if any. Fds not taken are closed when
    /// the value goes away.
    ///
    /// Sendable because it is the only owner of its fds and of the memory that holds them.
    public struct Received: ~Copyable, @unchecked Sendable {
        /// The message.
        public let message: DMABufChannelMessage
        /// The fds not taken yet, in the order they came; nil once taken. The first is kept
        /// apart, and the others are in memory of their own, allocated only for a message with
        /// more than one: a message with one fd, the usual case, allocates nothing, and going
        /// away costs no more than closing what is left (`dmabuf bench`, fd-round-trip).
        private var first: Arrival?
        private let rest: UnsafeMutableBufferPointer<Arrival?>
        private let descriptorCount: Int

        /// An fd that came with the message, with what the receive path's `fstat` said of it
        /// (nil for the fence).
        private struct Arrival {
            var descriptor: FileDescriptor
            var metadata: DMABuffer.Metadata?
        }

        /// Takes over `descriptors`; what the receive path learns of each is added with
        /// `keep(_:at:)`.
        @inline(__always)
        init(message: DMABufChannelMessage, owning descriptors: UnsafeBufferPointer<CInt>) {
            self.message = message
            self.descriptorCount = descriptors.count
            self.first = descriptors.first.map { Arrival(descriptor: FileDescriptor(rawValue: $0), metadata: nil) }
            guard descriptors.count > 1 else {
                self.rest = UnsafeMutableBufferPointer(start: nil, count: 0)
                return
            }
            self.rest = .allocate(capacity: descriptors.count - 1)
            for (index, fd) in descriptors.dropFirst().enumerated() {
                rest.initializeElement(at: index, to: Arrival(descriptor: FileDescriptor(rawValue: fd), metadata: nil))
            }
        }

        /// Keeps what the receive path's `fstat` said of the `position`th fd, a buffer.
        mutating func keep(_ metadata: DMABuffer.Metadata, at position: Int) {
            if position == 0 { first?.metadata = metadata } else { rest[position - 1]?.metadata = metadata }
        }

        deinit {
            if let first { _ = Sys.close(first.descriptor) }
            for case let arrival? in rest { _ = Sys.close(arrival.descriptor) }
            rest.deallocate()
        }

        /// How many dma-buf fds came with the message (the fence not counted).
        public var bufferCount: Int { descriptorCount - (message.hasFence ? 1 : 0) }

        /// The `position`th fd, still the value's; nil if taken already.
        private func arrival(at position: Int) -> Arrival? {
            position == 0 ? first : rest[position - 1]
        }

        /// The `position`th fd, which is the caller's from now on; nil if taken already.
        private mutating func take(at position: Int) -> Arrival? {
            defer {
                if position == 0 { first = nil } else { rest[position - 1] = nil }
            }
            return arrival(at: position)
        }

        /// Takes the `index`th dma-buf that came with the message.
        ///
        /// - Throws: ``DMABufError/Code/invalidArgument`` for an index out of range or taken
        ///   already; the errors of reading the buffer's access mode (the fd is then closed).
        public mutating func takeBuffer(at index: Int) throws(DMABufError) -> DMABuffer {
            // The receive path checked each buffer and kept its fstat; only the fence, never at a
            // buffer's index, has none. Looked at before taking, so that nothing is left taken.
            guard (0..<bufferCount).contains(index), let metadata = arrival(at: index)?.metadata,
                let arrival = take(at: index)
            else {
                throw DMABufError(
                    .invalidArgument, operation: "take buffer \(index) of a \(message.kind) message",
                    hint: "The message brought \(bufferCount) buffers; each can be taken once")
            }
            do {
                // MSG_CMSG_CLOEXEC made it close-on-exec as it arrived.
                return try DMABuffer(
                    trusting: arrival.descriptor, metadata: metadata, accessMode: nil,
                    operation: "adopt a received dma-buf", closeOnExecIsSet: true)
            } catch {
                _ = Sys.close(arrival.descriptor)
                throw error
            }
        }

        /// Takes the message's fence, if it came with one (and it was not taken already).
        public mutating func takeFence() -> SyncFile? {
            guard message.hasFence, let arrival = take(at: descriptorCount - 1) else { return nil }
            return SyncFile(owning: arrival.descriptor)
        }
    }

    /// A listening `SOCK_SEQPACKET` socket at a path, for peers to ``DMABufChannel/connect(to:maximumDescriptors:)``.
    /// Closing it, or its going away, removes the path.
    ///
    /// The socket is non-blocking: of several tasks or threads that wait in `accept` for one
    /// connection, one gets it and the others wait on, never blocked in the system call.
    public struct Listener: ~Copyable, Sendable {
        private let _owned: OwnedDescriptor
        private let binding: SocketPath
        /// Where it listens.
        public var path: FilePath { binding.path }

        /// Binds and listens at `path`, which must not exist yet.
        ///
        /// - Throws: EADDRINUSE if the path exists (a stale socket: remove it); EACCES; a path
        ///   longer than `sun_path` holds (107 bytes) as ``DMABufError/Code/invalidArgument``.
        public init(path: FilePath, backlog: CInt = 4) throws(DMABufError) {
            let operation = "listen"
            guard let address = Sys.unixAddress(path) else { throw Self.pathTooLong(path, operation) }
            let owned = OwnedDescriptor(
                try Sys.seqpacketSocket(nonBlocking: true).get("socket(AF_UNIX, SOCK_SEQPACKET)"))
            try Sys.bind(owned.rawValue, address).get(
                "bind", on: path.string,
                hint: { $0 == .addressInUse ? "The path exists: another server, or a stale socket to remove" : nil })
            let binding = SocketPath(path)
            try Sys.listen(owned.rawValue, backlog: backlog).get(operation, on: path.string)
            self._owned = owned
            self.binding = binding
        }

        /// Stops listening: closes the socket, reporting failure, and removes the path.
        public consuming func close() throws(DMABufError) {
            let path = binding.path
            _ = consume binding
            try _owned.close(reportingOn: path.string)
        }

        /// Waits for a peer and returns the channel to it.
        public borrowing func blockingAccept(
            maximumDescriptors: Int = DMABufChannel.defaultMaximumDescriptors
        ) throws(DMABufError) -> DMABufChannel {
            while true {
                if let channel = try acceptPending(maximumDescriptors: maximumDescriptors) { return channel }
                try Readiness.block(on: _owned.rawValue, until: .never, operation: "accept", target: path.string)
            }
        }

        /// Suspends until a peer connects, without blocking a thread, and returns the channel to it.
        ///
        /// - Throws: ``DMABufError/Code/cancelled`` when the task is cancelled; accept's errors.
        public borrowing func accept(
            maximumDescriptors: Int = DMABufChannel.defaultMaximumDescriptors
        ) async throws(DMABufError) -> DMABufChannel {
            while true {
                if let channel = try acceptPending(maximumDescriptors: maximumDescriptors) { return channel }
                try await Readiness.suspend(on: _owned.rawValue, operation: "accept", target: path.string)
            }
        }

        /// The channel to a peer that is waiting, nil if none is (EAGAIN: another waiter took it).
        private borrowing func acceptPending(maximumDescriptors: Int) throws(DMABufError) -> DMABufChannel? {
            let socket: FileDescriptor
            switch Sys.accept(_owned.rawValue) {
            case .success(let accepted): socket = accepted
            case .failure(.resourceTemporarilyUnavailable): return nil
            case .failure(let error): throw DMABufError(errno: error, operation: "accept", target: path.string)
            }
            return try DMABufChannel(owning: socket, maximumDescriptors: maximumDescriptors, admission: .dmaBufs)
        }

        static func pathTooLong(_ path: FilePath, _ operation: String) -> DMABufError {
            DMABufError(
                .invalidArgument, operation: operation, target: path.string,
                hint: "A Unix socket path must be 1 to 107 bytes without NUL; this one is "
                    + "\(path.string.utf8.count) bytes")
        }
    }
}

/// The path a listening socket is bound to, removed when the value goes away.
///
/// Not private: a ``DMABufChannel/Listener`` stored in another module's value needs this type's
/// metadata, which a release build does not export for a private type (the CLI's link failed).
package struct SocketPath: ~Copyable, Sendable {
    package let path: FilePath

    package init(_ path: FilePath) {
        self.path = path
    }

    deinit {
        _ = Sys.unlink(path)
    }
}
#endif  // os(Linux)
