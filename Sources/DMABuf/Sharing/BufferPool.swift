#if os(Linux)
import SystemPackage

/// One buffer of a pool, shared by reference: `DMABuffer` cannot live in an array itself.
final class PoolSlot: Sendable {
    let buffer: DMABuffer

    init(_ buffer: consuming DMABuffer) {
        self.buffer = buffer
    }
}

/// The producing side of a buffer pool over a ``DMABufChannel``: it registers its N buffers
/// once (their fds cross the socket a single time), then passes frames as small `ready`
/// messages and gets buffers back as `release` messages.
///
/// ```swift
/// var producer = try BufferPoolProducer(channel: channel, count: 3) { _ throws(DMABufError) in
///     try allocator.allocate(size: frameSize, name: "frame")
/// }
/// let index = try producer.blockingAcquire()   // waits while the consumer holds every buffer
/// try producer.withBuffer(at: index) { buffer in /* fill it */ }
/// try producer.submit(index: index, bytesUsed: frameSize)
/// ```
///
/// If the consumer goes away (closes, says goodbye, or dies), every buffer comes back to the
/// producer: ``blockingAcquire()`` throws ``DMABufError/Code/disconnected`` and ``freeCount`` is the
/// whole pool.
public struct BufferPoolProducer: ~Copyable, Sendable {
    private let channel: DMABufChannel
    private let slots: [PoolSlot]
    private var withConsumer: [Bool]
    private var nextSequence: UInt64 = 0
    /// False once the consumer has gone: closed its end, said goodbye or died.
    public private(set) var isConsumerConnected = true

    /// The most buffers a pool may have.
    public static let maximumCount = 64

    /// Makes `count` buffers with `makeBuffer(index)` and registers them with the consumer at the
    /// other end of `channel`, one `register` message and fd each.
    ///
    /// - Throws: ``DMABufError/Code/invalidArgument`` for a count outside 1...``maximumCount``;
    ///   `makeBuffer`'s errors; ``DMABufError/Code/disconnected`` if the consumer is gone.
    public init(
        channel: consuming DMABufChannel, count: Int, makeBuffer: (Int) throws(DMABufError) -> DMABuffer
    ) throws(DMABufError) {
        guard (1...Self.maximumCount).contains(count) else {
            throw DMABufError(
                .invalidArgument, operation: "make a buffer pool",
                hint: "The count \(count) is not 1 to \(Self.maximumCount)")
        }
        var slots: [PoolSlot] = []
        for index in 0..<count { slots.append(PoolSlot(try makeBuffer(index))) }
        for (index, slot) in slots.enumerated() {
            let message = DMABufChannelMessage(
                .register, sequence: UInt64(count), length: UInt64(slot.buffer.size), index: UInt32(index))
            try channel.send(message, buffer: slot.buffer)
        }
        self.channel = channel
        self.slots = slots
        self.withConsumer = Array(repeating: false, count: count)
    }

    /// How many buffers the pool has.
    public var count: Int { slots.count }

    /// How many buffers are with the producer now.
    public var freeCount: Int { withConsumer.lazy.filter { !$0 }.count }

    /// Calls `body` with buffer `index`, to fill it or map it. Don't touch a buffer that is with
    /// the consumer.
    public borrowing func withBuffer<R: ~Copyable, E: Error>(
        at index: Int, _ body: (borrowing DMABuffer) throws(E) -> R
    ) throws(E) -> R {
        try body(slots[index].buffer)
    }

    /// A free buffer's index, waiting for the consumer to release one while it holds them all.
    ///
    /// - Throws: ``DMABufError/Code/disconnected`` once the consumer has gone (all buffers are
    ///   then free: ``freeCount`` is ``count``); ``DMABufError/Code/malformedInput`` if it breaks
    ///   the protocol.
    public mutating func blockingAcquire() throws(DMABufError) -> Int {
        while true {
            if let index = try acquireIfAvailable() { return index }
            _ = try receiveOne(blocking: true)
        }
    }

    /// A free buffer's index, or nil if the consumer holds them all ("would block"), after taking
    /// in every release that has arrived. Never waits.
    public mutating func acquireIfAvailable() throws(DMABufError) -> Int? {
        try ensureConnected()
        while try receiveOne(blocking: false) {}
        return withConsumer.firstIndex(of: false)
    }

    /// A free buffer's index, waiting up to `timeout` for a release.
    ///
    /// - Throws: ``DMABufError/Code/timedOut`` when the consumer has released none by then; as
    ///   ``blockingAcquire()``.
    public mutating func blockingAcquire(timeout: Duration) throws(DMABufError) -> Int {
        let deadline = Deadline(after: timeout)
        while true {
            if let index = try acquireIfAvailable() { return index }
            try channel.waitForMessage(until: deadline)
        }
    }

    /// A free buffer's index, suspending without blocking a thread while the consumer holds them
    /// all.
    ///
    /// - Throws: as ``blockingAcquire()``; ``DMABufError/Code/cancelled`` when the task is cancelled.
    public mutating func acquire() async throws(DMABufError) -> Int {
        while true {
            if let index = try acquireIfAvailable() { return index }
            try await channel.suspendForMessage()
        }
    }

    /// Hands buffer `index` to the consumer as the next frame: a `ready` message with its
    /// sequence number and the bytes in use.
    ///
    /// - Returns: the frame's sequence number, counting from 0.
    /// - Throws: ``DMABufError/Code/invalidArgument`` for a buffer that is with the consumer or
    ///   out of range, or `bytesUsed` beyond its size; ``DMABufError/Code/disconnected``.
    @discardableResult
    public mutating func submit(index: Int, bytesUsed: Int) throws(DMABufError) -> UInt64 {
        try submit(index: index, bytesUsed: bytesUsed, fenceDescriptor: nil)
    }

    /// Hands buffer `index` to the consumer as the next frame, which it must not read before
    /// `fence` signals: the fence's fd goes with the `ready` message (the caller keeps its own).
    ///
    /// - Returns: the frame's sequence number, counting from 0.
    /// - Throws: as ``submit(index:bytesUsed:)``.
    @discardableResult
    public mutating func submit(index: Int, bytesUsed: Int, fence: borrowing SyncFile) throws(DMABufError) -> UInt64 {
        try submit(index: index, bytesUsed: bytesUsed, fenceDescriptor: fence.withUnsafeDescriptor { $0 })
    }

    /// Hands buffer `index` to the consumer as the next frame with `metadata`, the application's
    /// bytes about the frame (a capture time, a checksum), which the consumer reads as
    /// ``BufferPoolConsumer/Frame/metadata``.
    ///
    /// - Returns: the frame's sequence number, counting from 0.
    /// - Throws: as ``submit(index:bytesUsed:)``; ``DMABufError/Code/invalidArgument`` for more than
    ///   ``DMABufChannelMessage/maximumMetadataLength`` bytes of metadata.
    @discardableResult
    public mutating func submit(index: Int, bytesUsed: Int, metadata: [UInt8]) throws(DMABufError) -> UInt64 {
        try submit(index: index, bytesUsed: bytesUsed, fenceDescriptor: nil, metadata: metadata)
    }

    /// Hands buffer `index` to the consumer as the next frame with `metadata`, which it must not
    /// read before `fence` signals (the caller keeps its own fence fd).
    ///
    /// - Returns: the frame's sequence number, counting from 0.
    /// - Throws: as ``submit(index:bytesUsed:metadata:)``.
    @discardableResult
    public mutating func submit(
        index: Int, bytesUsed: Int, fence: borrowing SyncFile, metadata: [UInt8]
    ) throws(DMABufError) -> UInt64 {
        try submit(
            index: index, bytesUsed: bytesUsed, fenceDescriptor: fence.withUnsafeDescriptor { $0 }, metadata: metadata)
    }

    /// Whether buffer `index` is with the consumer: submitted and not released as far as the
    /// releases taken in so far say (``acquireIfAvailable()`` takes in every one that has
    /// arrived). A producer that hands out buffers in an order of its own, such as a camera's,
    /// asks this to learn which of them came back.
    public func isWithConsumer(_ index: Int) -> Bool {
        withConsumer.indices.contains(index) && withConsumer[index]
    }

    private mutating func submit(
        index: Int, bytesUsed: Int, fenceDescriptor: FileDescriptor?, metadata: [UInt8] = []
    ) throws(DMABufError) -> UInt64 {
        let operation = "submit buffer \(index)"
        guard withConsumer.indices.contains(index), !withConsumer[index] else {
            throw DMABufError(
                .invalidArgument, operation: operation,
                hint: "The pool has buffers 0 to \(count - 1), and only those the producer holds can be submitted")
        }
        guard (0...slots[index].buffer.size).contains(bytesUsed) else {
            throw DMABufError(
                .invalidArgument, operation: operation,
                hint: "bytesUsed \(bytesUsed) is not within the buffer's \(slots[index].buffer.size) bytes")
        }
        try ensureConnected()
        let sequence = nextSequence
        let message = DMABufChannelMessage(
            .ready, sequence: sequence, length: UInt64(bytesUsed), index: UInt32(index), metadata: metadata)
        // The buffer fd went over once, at registration; only a fence travels with a frame.
        do {
            try channel.send(message, descriptors: [], fence: fenceDescriptor)
        } catch  where error.code == .disconnected {
            consumerLeft()
            throw error
        }
        withConsumer[index] = true
        nextSequence += 1
        return sequence
    }

    /// Tells the consumer that no more frames come (a `goodbye` message), waits up to `linger`
    /// for it to close its end, and closes the channel. A consumer that has gone already is no
    /// error, and one that keeps sending is cut off at the end of `linger`.
    ///
    /// The wait matters: closing a Unix socket with the consumer's last releases unread would
    /// reset the connection (ECONNRESET) before the consumer has read the goodbye.
    public consuming func finish(linger: Duration = .seconds(2)) throws(DMABufError) {
        if isConsumerConnected {
            do {
                try channel.send(DMABufChannelMessage(.goodbye, sequence: nextSequence))
                let deadline = Deadline(after: linger)
                while !deadline.hasPassed {
                    try channel.waitForMessage(until: deadline)
                    _ = try channel.receiveIfAvailable()  // releases, now moot
                }
            } catch  where error.code == .disconnected || error.code == .timedOut {
                // The consumer has closed, or lingered past the deadline: done.
            }
        }
        try channel.close()
    }

    // MARK: Protocol

    /// Takes in one message from the consumer, waiting for it if `blocking`. Returns false if
    /// none was waiting.
    private mutating func receiveOne(blocking: Bool) throws(DMABufError) -> Bool {
        let message: DMABufChannelMessage
        do {
            if blocking {
                message = try channel.blockingReceive().message
            } else {
                guard let received = try channel.receiveIfAvailable() else { return false }
                message = received.message
            }
        } catch  where error.code == .disconnected {
            consumerLeft()
            throw error
        }
        switch message.kind {
        case .release:
            let index = Int(message.index)
            guard withConsumer.indices.contains(index), withConsumer[index] else {
                throw DMABufError(
                    .malformedInput, operation: "buffer pool: release of buffer \(index)",
                    hint: "The consumer released a buffer it does not hold")
            }
            withConsumer[index] = false
        case .goodbye:
            consumerLeft()
            try ensureConnected()
        default:
            throw DMABufError(
                .malformedInput, operation: "buffer pool: a \(message.kind) message from the consumer",
                hint: "A consumer sends release and goodbye messages only")
        }
        return true
    }

    /// The consumer has gone: every buffer is the producer's again.
    private mutating func consumerLeft() {
        isConsumerConnected = false
        withConsumer = Array(repeating: false, count: slots.count)
    }

    private mutating func ensureConnected() throws(DMABufError) {
        guard isConsumerConnected else {
            throw DMABufError(
                .disconnected, operation: "buffer pool",
                hint: "The consumer has gone; all \(count) buffers are back with the producer")
        }
    }
}

/// The consuming side of a buffer pool: it takes the producer's buffers once, then receives
/// frames (``blockingNext()``) and gives each back with ``release(_:)``.
///
/// ```swift
/// var consumer = try BufferPoolConsumer(channel: channel)
/// while var frame = try consumer.blockingNext() {
///     if let fence = frame.fence.take() { try fence.wait(timeout: .seconds(1)) }
///     try consumer.withBuffer(at: frame.index) { buffer in /* read it */ }
///     try consumer.release(frame)
/// }
/// ```
///
/// The buffers are the consumer's own fds: if the producer dies, frames already received stay
/// valid until the consumer drops them.
public struct BufferPoolConsumer: ~Copyable, Sendable {
    private let channel: DMABufChannel
    private let slots: [PoolSlot]
    private var held: [Bool]
    /// False once the producer has said goodbye or gone.
    public private(set) var isProducerConnected = true

    /// A frame the producer handed over: which buffer, its sequence number, how many bytes are in
    /// use, and the fence to wait for before reading, if the producer sent one.
    public struct Frame: ~Copyable, Sendable {
        /// The buffer's index in the pool.
        public let index: Int
        /// The producer's frame number, from 0.
        public let sequence: UInt64
        /// Bytes of the buffer the frame uses.
        public let bytesUsed: Int
        /// Signals when the buffer may be read; take it with `fence.take()`.
        public var fence: SyncFile?
        /// The producer's bytes about the frame, as it gave them to
        /// ``BufferPoolProducer/submit(index:bytesUsed:metadata:)``; empty if it gave none.
        public let metadata: [UInt8]
    }

    /// Receives the producer's registration: every buffer of the pool, once.
    ///
    /// - Throws: ``DMABufError/Code/disconnected`` if the producer goes away first;
    ///   ``DMABufError/Code/malformedInput`` for a registration out of order, a count out of
    ///   range, or a buffer smaller than registered; the channel's receive errors.
    public init(channel: consuming DMABufChannel) throws(DMABufError) {
        var slots: [PoolSlot] = []
        var expected = 1
        while slots.count < expected {
            var received = try channel.blockingReceive()
            let message = received.message
            let count = Int(clamping: message.sequence)
            guard message.kind == .register, message.index == slots.count, received.bufferCount == 1,
                (1...BufferPoolProducer.maximumCount).contains(count), slots.isEmpty || count == expected
            else {
                throw DMABufError(
                    .malformedInput, operation: "buffer pool: receive registration",
                    hint: "Expected register message \(slots.count) with one dma-buf, got a \(message.kind) message "
                        + "\(message.index) of \(count) with \(received.bufferCount) fds")
            }
            expected = count
            let buffer = try received.takeBuffer(at: 0)
            guard buffer.size >= message.length else {
                throw DMABufError(
                    .malformedInput, operation: "buffer pool: receive registration",
                    hint:
                        "Buffer \(message.index) has \(buffer.size) bytes, fewer than the \(message.length) registered")
            }
            slots.append(PoolSlot(buffer))
        }
        self.channel = channel
        self.slots = slots
        self.held = Array(repeating: false, count: slots.count)
    }

    /// How many buffers the pool has.
    public var count: Int { slots.count }

    /// Calls `body` with buffer `index`: map it and read a frame.
    public borrowing func withBuffer<R: ~Copyable, E: Error>(
        at index: Int, _ body: (borrowing DMABuffer) throws(E) -> R
    ) throws(E) -> R {
        try body(slots[index].buffer)
    }

    /// Waits for the next frame; nil once the producer has said goodbye.
    ///
    /// - Throws: ``DMABufError/Code/disconnected`` if the producer died or closed without a
    ///   goodbye; ``DMABufError/Code/malformedInput`` if it breaks the protocol (a buffer the
    ///   consumer holds, an index or byte count out of range).
    public mutating func blockingNext() throws(DMABufError) -> Frame? {
        try receiveFrame()
    }

    /// The next frame, suspending without blocking a thread until it comes; nil after goodbye.
    ///
    /// - Throws: as ``blockingNext()``; ``DMABufError/Code/cancelled`` when the task is cancelled.
    public mutating func next() async throws(DMABufError) -> Frame? {
        guard isProducerConnected else { return nil }
        // Wait until a message (or the end) is there, so that the receive does not block.
        try await channel.suspendForMessage()
        return try receiveFrame()
    }

    private mutating func receiveFrame() throws(DMABufError) -> Frame? {
        guard isProducerConnected else { return nil }
        let received: DMABufChannel.Received
        do {
            received = try channel.blockingReceive()
        } catch  where error.code == .disconnected {
            isProducerConnected = false
            throw error
        }
        return try frame(from: received)
    }

    private mutating func frame(from received: consuming DMABufChannel.Received) throws(DMABufError) -> Frame? {
        let message = received.message
        let index = Int(message.index)
        switch message.kind {
        case .goodbye:
            isProducerConnected = false
            return nil
        case .ready:
            guard held.indices.contains(index), !held[index], received.bufferCount == 0,
                message.length <= UInt64(slots[index].buffer.size)
            else {
                throw DMABufError(
                    .malformedInput, operation: "buffer pool: ready message for buffer \(index)",
                    hint: "The producer sent a buffer out of range, one the consumer holds, a byte count beyond "
                        + "its size, or buffer fds after registration")
            }
            held[index] = true
            return Frame(
                index: index, sequence: message.sequence, bytesUsed: Int(message.length), fence: received.takeFence(),
                metadata: message.metadata)
        default:
            throw DMABufError(
                .malformedInput, operation: "buffer pool: a \(message.kind) message from the producer",
                hint: "After registration a producer sends ready and goodbye messages only")
        }
    }

    /// Gives the frame's buffer back to the producer (a `release` message).
    ///
    /// - Throws: ``DMABufError/Code/disconnected`` if the producer has gone (the buffer stays
    ///   valid here).
    public mutating func release(_ frame: consuming Frame) throws(DMABufError) {
        let index = frame.index
        held[index] = false
        try channel.send(DMABufChannelMessage(.release, sequence: frame.sequence, index: UInt32(index)))
    }

    /// Says goodbye to the producer, which gets every buffer back, and closes the channel.
    public consuming func finish() throws(DMABufError) {
        if isProducerConnected {
            do {
                try channel.send(DMABufChannelMessage(.goodbye))
            } catch  where error.code == .disconnected {
            }
        }
        try channel.close()
    }
}
#endif  // os(Linux)
