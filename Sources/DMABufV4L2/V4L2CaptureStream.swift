#if os(Linux)
internal import CDMABuf
import DMABuf
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization
import SystemPackage

extension V4L2Device {
    /// A capture stream over the device's own buffers: VIDIOC_REQBUFS with V4L2_MEMORY_MMAP, then
    /// every buffer exported as a `DMABuffer` (VIDIOC_EXPBUF). The frames are in the driver's
    /// memory; each frame's buffer is a dma-buf other devices and processes can import.
    ///
    /// - Parameter count: buffers to ask for; the driver may give more (it never gives fewer than it needs).
    /// - Throws: `.unsupported` for a node that is not a streaming capture device, `.busy` if
    ///   another open file of the device is streaming.
    public func exportingStream(count: Int = 4) throws(DMABufError) -> V4L2CaptureStream {
        try requireCapture("VIDIOC_REQBUFS(MMAP)")
        let format = try self.format()
        let duplicate = try Sys.duplicate(descriptor).get("dup", on: path)
        let queue = CaptureQueue(device: OwnedDescriptor(duplicate), path: path, memory: .mmap, format: format)
        let granted = try queue.requestBuffers(count)
        for index in 0..<granted {
            var export = v4l2_exportbuffer()
            export.type = CDMABuf_V4L2_BUF_TYPE_VIDEO_CAPTURE()
            export.index = UInt32(index)
            export.flags = UInt32(O_RDWR | O_CLOEXEC)
            _ = try Sys.ioctl(queue.descriptor, CDMABuf_VIDIOC_EXPBUF(), &export).get(
                "VIDIOC_EXPBUF of buffer \(index)", on: path)
            queue.append(
                try DMABuffer(
                    returned: export.fd, by: "VIDIOC_EXPBUF of buffer \(index)", on: path, accessMode: nil,
                    closeOnExecIsSet: true))  // O_CLOEXEC
        }
        return V4L2CaptureStream(queue)
    }

    /// A capture stream into buffers from `allocator` (VIDIOC_REQBUFS with V4L2_MEMORY_DMABUF):
    /// `count` buffers of the format's `sizeimage`, the device writes frames straight into them.
    ///
    /// - Throws: as ``importingStream(count:buffers:)``, and the allocator's errors.
    public func importingStream(
        count: Int = 4, from allocator: borrowing some DMABufAllocator & ~Copyable
    ) throws(DMABufError) -> V4L2CaptureStream {
        try importingStream(count: count) { (index, size) throws(DMABufError) in
            try allocator.allocate(size: size, name: "v4l2-capture-\(index)")
        }
    }

    /// A capture stream into buffers the caller makes (VIDIOC_REQBUFS with V4L2_MEMORY_DMABUF).
    /// `buffers` is called once per buffer the driver grants, with the buffer's index and the
    /// format's `sizeimage`, and returns a dma-buf from any source; the stream owns it from then on.
    ///
    /// - Throws: `.limitExceeded` for a buffer smaller than `sizeimage` (checked before the
    ///   device sees it), `.permissionDenied` for a read-only one (the device writes frames
    ///   into it), `.unsupported` for a node that is not a streaming capture device or a driver
    ///   that cannot import dma-bufs, `.busy` if another open file of the device is streaming.
    public func importingStream(
        count: Int = 4, buffers: (_ index: Int, _ sizeImage: Int) throws(DMABufError) -> DMABuffer
    ) throws(DMABufError) -> V4L2CaptureStream {
        try requireCapture("VIDIOC_REQBUFS(DMABUF)")
        let format = try self.format()
        let duplicate = try Sys.duplicate(descriptor).get("dup", on: path)
        let queue = CaptureQueue(device: OwnedDescriptor(duplicate), path: path, memory: .dmabuf, format: format)
        let granted = try queue.requestBuffers(count)
        for index in 0..<granted {
            let buffer = try buffers(index, format.sizeImage)
            let target = "dma-buf fd \(buffer.withUnsafeDescriptor(\.rawValue)) for buffer \(index)"
            guard buffer.size >= format.sizeImage else {
                throw DMABufError(
                    .limitExceeded, operation: "import into \(path)", target: target,
                    hint: "The buffer has \(buffer.size) bytes; the format (\(format)) needs at least "
                        + "\(format.sizeImage) (sizeimage)")
            }
            guard buffer.isWritable else {
                throw DMABufError(
                    .permissionDenied, operation: "import into \(path)", target: target,
                    hint: "The fd is read-only; the device writes frames into the buffer, so it needs O_RDWR")
            }
            queue.append(buffer)
        }
        return V4L2CaptureStream(queue)
    }
}

/// A running (or ready) capture stream: a set of buffers the device fills in turn.
///
/// Queue every buffer and start with ``start()``; take frames with ``dequeue(timeout:)`` (or
/// ``nextFrame(timeout:)`` and ``frames(timeout:)`` from async code); give each one back with
/// ``requeue(_:)``. ``stop()``, or the stream going away, turns streaming off (VIDIOC_STREAMOFF)
/// and frees the device's buffers (VIDIOC_REQBUFS with count 0), so the next open finds the
/// device free. Buffers whose fds someone still holds (a `DMABuffer.duplicate()`) stay valid.
public struct V4L2CaptureStream: ~Copyable, Sendable {
    let queue: CaptureQueue

    init(_ queue: CaptureQueue) {
        self.queue = queue
    }

    deinit {
        _ = queue.shutDown()
    }

    /// The format the buffers were made for.
    public var format: V4L2Format { queue.format }
    /// How many buffers the stream has.
    public var bufferCount: Int { queue.count }
    /// Whether the buffers are the device's own (MMAP, exported) or imported (DMABUF).
    public var memory: Memory { queue.memory }

    /// Where a stream's buffers come from.
    public enum Memory: Hashable, Sendable, CustomStringConvertible {
        /// The device's own buffers, exported with VIDIOC_EXPBUF (V4L2_MEMORY_MMAP).
        case mmap
        /// dma-bufs from elsewhere, imported (V4L2_MEMORY_DMABUF).
        case dmabuf

        var rawValue: UInt32 { self == .mmap ? CDMABuf_V4L2_MEMORY_MMAP() : CDMABuf_V4L2_MEMORY_DMABUF() }

        /// "MMAP" or "DMABUF".
        public var description: String { self == .mmap ? "MMAP" : "DMABUF" }
    }

    /// Calls `body` with buffer `index` (0 to ``bufferCount`` - 1).
    public func withBuffer<R: ~Copyable, E: Error>(_ index: Int, _ body: (borrowing DMABuffer) throws(E) -> R) throws(E)
        -> R
    {
        try queue.withBuffer(index, body)
    }

    /// Queues every buffer (VIDIOC_QBUF) and turns streaming on (VIDIOC_STREAMON).
    public func start() throws(DMABufError) {
        for index in 0..<queue.count { try queue.enqueue(index) }
        try queue.streamOn()
    }

    /// The next filled frame (VIDIOC_DQBUF), waiting for it with poll at most `timeout`.
    ///
    /// - Throws: `.timedOut` if no frame came in time (the hint says why that may
    ///   be), `.invalidArgument` if the stream is not on, `.badResponse` for a frame the
    ///   driver marked as failed (V4L2_BUF_FLAG_ERROR; it is requeued).
    public func dequeue(timeout: Duration) throws(DMABufError) -> V4L2Frame {
        try queue.dequeue(timeout: timeout)
    }

    /// As ``dequeue(timeout:)``, from async code: waits for the device on a Dispatch read source,
    /// so no thread of the cooperative pool blocks.
    public func nextFrame(timeout: Duration) async throws(DMABufError) -> V4L2Frame {
        try await queue.nextFrame(timeout: timeout)
    }

    /// Gives `frame` back to the device (VIDIOC_QBUF) to be filled again. The frame is consumed:
    /// it cannot be used once the device may write over it.
    public func requeue(_ frame: consuming V4L2Frame) throws(DMABufError) {
        precondition(frame.queue === queue, "a frame goes back to the stream it came from")
        let index = frame.index
        frame.forget()
        try queue.enqueue(index)
    }

    /// Frames as an AsyncSequence, each waited for at most `timeout` as with ``nextFrame(timeout:)``.
    /// The sequence gives each frame's ``V4L2Frame/Metadata``; read its buffer with
    /// ``withBuffer(_:_:)`` in the loop's body. Asking for the next frame requeues the previous one.
    public func frames(timeout: Duration) -> Frames {
        Frames(queue: queue, timeout: timeout)
    }

    /// Turns streaming off (VIDIOC_STREAMOFF) and frees the device's buffers (VIDIOC_REQBUFS 0),
    /// reporting the first failure; the stream's own fds are closed after both.
    public consuming func stop() throws(DMABufError) {
        try queue.shutDown().get()  // deinit's turn then finds nothing left to do
    }

    /// The frames of a stream, as an AsyncSequence (see ``V4L2CaptureStream/frames(timeout:)``).
    public struct Frames: AsyncSequence, Sendable {
        let queue: CaptureQueue
        let timeout: Duration

        /// Starts iterating.
        public func makeAsyncIterator() -> Iterator {
            Iterator(queue: queue, timeout: timeout)
        }

        /// Waits for each frame in turn, and requeues the previous one before it does.
        public struct Iterator: AsyncIteratorProtocol {
            let queue: CaptureQueue
            let timeout: Duration
            var previous: Int?

            /// The next frame's metadata; throws as ``V4L2CaptureStream/nextFrame(timeout:)``.
            public mutating func next() async throws -> V4L2Frame.Metadata? {
                if let previous {
                    self.previous = nil
                    try queue.enqueue(previous)
                }
                let frame = try await queue.nextFrame(timeout: timeout)
                let metadata = frame.metadata
                previous = frame.index
                frame.forget()
                return metadata
            }
        }
    }
}

/// A filled buffer, dequeued from a ``V4L2CaptureStream``. Noncopyable: give it back with
/// ``V4L2CaptureStream/requeue(_:)``, after which it cannot be used. A frame dropped without
/// being requeued stays out of the device's rotation until the stream stops.
public struct V4L2Frame: ~Copyable, Sendable {
    let queue: CaptureQueue
    /// What the device reported about the frame.
    public let metadata: Metadata

    /// The buffer's index in its stream.
    public var index: Int { metadata.index }
    /// Bytes of the buffer the frame fills (from offset 0).
    public var bytesUsed: Int { metadata.bytesUsed }
    /// The driver's frame counter.
    public var sequence: UInt32 { metadata.sequence }
    /// When the frame was captured, on the clock the driver uses (CLOCK_MONOTONIC for most).
    public var timestamp: Duration { metadata.timestamp }

    /// What the device says about a frame: which buffer, how full, its number and time.
    public struct Metadata: Hashable, Sendable {
        /// The buffer's index in its stream.
        public var index: Int
        /// Bytes of the buffer the frame fills.
        public var bytesUsed: Int
        /// The driver's frame counter.
        public var sequence: UInt32
        /// When the frame was captured.
        public var timestamp: Duration
        /// Whether ``timestamp`` is on CLOCK_MONOTONIC (V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC), the clock of
        /// DRM's flip events, so that the two can be subtracted; false for a timestamp the driver copied
        /// from an output buffer or took on a clock it does not name.
        public var timestampIsMonotonic: Bool
    }

    /// Calls `body` with the frame's buffer: the stream's dma-buf, which `DMABuffer.duplicate()`
    /// can keep beyond the stream.
    public func withBuffer<R: ~Copyable, E: Error>(_ body: (borrowing DMABuffer) throws(E) -> R) throws(E) -> R {
        try queue.withBuffer(index, body)
    }

    /// Ends the frame's life without requeueing it (the caller just did, or is about to).
    consuming func forget() {}
}

/// The state a stream and its async iterators share: the device fd, the buffers and whether
/// streaming is on. The kernel serialises the ioctls; `state` guards the count and shutting
/// down once. Unchecked: `buffers` is written only while the stream is being made, before
/// anything else can see the queue, and read-only after.
final class CaptureQueue: @unchecked Sendable {
    let owned: OwnedDescriptor
    var descriptor: FileDescriptor { owned.rawValue }
    let path: String
    let memory: V4L2CaptureStream.Memory
    let format: V4L2Format
    private let buffers: UnsafeMutablePointer<DMABuffer>
    private let capacity = 64
    private let state = Mutex(State())

    private struct State {
        var count = 0
        var requested = false
        var streaming = false
        var shutDown = false
    }

    init(device: consuming OwnedDescriptor, path: String, memory: V4L2CaptureStream.Memory, format: V4L2Format) {
        self.owned = device
        self.path = path
        self.memory = memory
        self.format = format
        self.buffers = .allocate(capacity: capacity)
    }

    deinit {
        _ = shutDown()
        buffers.deinitialize(count: count)
        buffers.deallocate()
    }

    var count: Int { state.withLock { $0.count } }

    /// VIDIOC_REQBUFS for up to `count` buffers; returns how many the driver made.
    func requestBuffers(_ count: Int) throws(DMABufError) -> Int {
        let operation = "VIDIOC_REQBUFS(\(memory), \(count))"
        guard (1...capacity).contains(count) else {
            throw DMABufError(
                .invalidArgument, operation: operation, target: path, hint: "Ask for 1 to \(capacity) buffers")
        }
        var request = v4l2_requestbuffers()
        request.count = UInt32(count)
        request.type = CDMABuf_V4L2_BUF_TYPE_VIDEO_CAPTURE()
        request.memory = memory.rawValue
        _ = try Sys.ioctl(descriptor, CDMABuf_VIDIOC_REQBUFS(), &request).get(
            operation, on: path,
            hint: { errno in
                switch errno {
                case .resourceBusy:
                    "Another open file of the device is streaming or holds buffers; stop it, or close it"
                case .invalidArgument:
                    "The driver does not support \(self.memory) buffers for capture"
                default: nil
                }
            })
        state.withLock { $0.requested = true }
        guard (1...capacity).contains(Int(request.count)) else {
            throw DMABufError(
                .badResponse, operation: operation, target: path,
                hint: "The driver granted \(request.count) buffers; this library handles 1 to \(capacity)")
        }
        return Int(request.count)
    }

    func append(_ buffer: consuming DMABuffer) {
        let slot = state.withLock { state in
            defer { state.count += 1 }
            return state.count
        }
        precondition(slot < capacity, "more buffers than requestBuffers allows")
        (buffers + slot).initialize(to: buffer)
    }

    func withBuffer<R: ~Copyable, E: Error>(_ index: Int, _ body: (borrowing DMABuffer) throws(E) -> R) throws(E) -> R {
        precondition((0..<count).contains(index), "buffer index \(index) is not 0..<\(count)")
        return try body(buffers[index])
    }

    func enqueue(_ index: Int) throws(DMABufError) {
        var buffer = v4l2_buffer()
        buffer.index = UInt32(index)
        buffer.type = CDMABuf_V4L2_BUF_TYPE_VIDEO_CAPTURE()
        buffer.memory = memory.rawValue
        if memory == .dmabuf {
            withBuffer(index) { dmabuf in
                buffer.m.fd = dmabuf.withUnsafeDescriptor(\.rawValue)
                buffer.length = UInt32(clamping: dmabuf.size)
            }
        }
        let what = memory == .dmabuf ? "VIDIOC_QBUF of dma-buf fd \(buffer.m.fd)" : "VIDIOC_QBUF"
        _ = try Sys.ioctl(descriptor, CDMABuf_VIDIOC_QBUF(), &buffer).get(
            "\(what) as buffer \(index)", on: path,
            hint: { errno in
                switch errno {
                case .badFileDescriptor: "The buffer's fd is not open, or not a dma-buf the device can import"
                case .invalidArgument where self.memory == .dmabuf:
                    "The device could not import the buffer: too small, already queued, or an exporter it cannot "
                        + "map (vivid needs one with vmap)"
                case .invalidArgument: "The buffer is already queued, or the stream was stopped"
                case .badAddress where self.memory == .dmabuf:
                    "The device could not map the buffer into the kernel (an exporter without vmap?)"
                default: nil
                }
            })
    }

    func streamOn() throws(DMABufError) {
        var type = CDMABuf_V4L2_BUF_TYPE_VIDEO_CAPTURE()
        _ = try Sys.ioctl(descriptor, CDMABuf_VIDIOC_STREAMON(), &type).get(
            "VIDIOC_STREAMON", on: path,
            hint: { $0 == .resourceBusy ? "Another open file of the device is streaming" : nil })
        state.withLock { $0.streaming = true }
    }

    /// VIDIOC_DQBUF without waiting: a frame, or nil if none is ready (EAGAIN).
    func tryDequeue() throws(DMABufError) -> V4L2Frame? {
        var buffer = v4l2_buffer()
        buffer.type = CDMABuf_V4L2_BUF_TYPE_VIDEO_CAPTURE()
        buffer.memory = memory.rawValue
        switch Sys.ioctl(descriptor, CDMABuf_VIDIOC_DQBUF(), &buffer) {
        case .success: break
        case .failure(.resourceTemporarilyUnavailable): return nil
        case .failure(let errno):
            throw DMABufError(
                errno: errno, operation: "VIDIOC_DQBUF", target: path,
                hint: errno == .invalidArgument ? "The stream is not on: start() it (VIDIOC_STREAMON) first" : nil)
        }
        let index = Int(buffer.index)
        guard (0..<count).contains(index) else {
            throw DMABufError(
                .badResponse, operation: "VIDIOC_DQBUF", target: path,
                hint: "The driver returned buffer \(index) of \(count)")
        }
        if buffer.flags & CDMABuf_V4L2_BUF_FLAG_ERROR() != 0 {
            try enqueue(index)
            throw DMABufError(
                .badResponse, operation: "VIDIOC_DQBUF", target: path,
                hint: "The driver marked frame \(buffer.sequence) as failed (V4L2_BUF_FLAG_ERROR); it was requeued")
        }
        let timestamp = Duration.seconds(buffer.timestamp.tv_sec) + .microseconds(buffer.timestamp.tv_usec)
        return V4L2Frame(
            queue: self,
            metadata: .init(
                index: index, bytesUsed: Int(buffer.bytesused), sequence: buffer.sequence, timestamp: timestamp,
                timestampIsMonotonic: buffer.flags & CDMABuf_V4L2_BUF_FLAG_TIMESTAMP_MASK()
                    == CDMABuf_V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC()))
    }

    /// The next filled frame, waiting in poll at most `timeout`.
    func dequeue(timeout: Duration) throws(DMABufError) -> V4L2Frame {
        let deadline = Deadline(after: timeout)
        while true {
            if let frame = try tryDequeue() { return frame }
            do {
                try Readiness.block(on: descriptor, until: deadline, operation: "VIDIOC_DQBUF", target: path)
            } catch {
                throw explained(error, timeout)
            }
            try checkPollError()
        }
    }

    /// POLLERR without a frame: vb2 says so when the stream is off or nothing is queued.
    private func checkPollError() throws(DMABufError) {
        guard case .success(let revents) = Sys.poll(descriptor, events: Int16(POLLIN), until: Deadline(after: .zero))
        else { return }
        guard revents & Int16(POLLIN) == 0, revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 else { return }
        throw DMABufError(
            .invalidArgument, operation: "poll", target: path,
            hint: "The device reports an error (revents 0x\(String(revents, radix: 16))): the stream is not on, "
                + "or no buffer is queued")
    }

    /// The next filled frame, waiting at most `timeout` without blocking a thread.
    func nextFrame(timeout: Duration) async throws(DMABufError) -> V4L2Frame {
        let deadline = Deadline(after: timeout)
        while true {
            if let frame = try tryDequeue() { return frame }
            do {
                try await Readiness.suspend(on: descriptor, until: deadline, operation: "VIDIOC_DQBUF", target: path)
            } catch {
                throw explained(error, timeout)
            }
            try checkPollError()
        }
    }

    /// A timeout with what may be its cause; any other error as it is.
    private func explained(_ error: DMABufError, _ timeout: Duration) -> DMABufError {
        guard error.code == .timedOut else { return error }
        var error = error
        error.hint =
            "No frame within \(timeout); every buffer may be dequeued and held (requeue frames), "
            + "or the device has stopped producing them"
        return error
    }

    /// STREAMOFF and REQBUFS(0), once: the first failure, if any.
    func shutDown() -> Result<Void, DMABufError> {
        let (requested, streaming) = state.withLock { state in
            defer { state.shutDown = true }
            return state.shutDown ? (false, false) : (state.requested, state.streaming)
        }
        var outcome: Result<Void, DMABufError> = .success(())
        if streaming {
            var type = CDMABuf_V4L2_BUF_TYPE_VIDEO_CAPTURE()
            if case .failure(let errno) = Sys.ioctl(descriptor, CDMABuf_VIDIOC_STREAMOFF(), &type) {
                outcome = .failure(DMABufError(errno: errno, operation: "VIDIOC_STREAMOFF", target: path))
            }
        }
        if requested {
            var request = v4l2_requestbuffers()
            request.type = CDMABuf_V4L2_BUF_TYPE_VIDEO_CAPTURE()
            request.memory = memory.rawValue
            if case .failure(let errno) = Sys.ioctl(descriptor, CDMABuf_VIDIOC_REQBUFS(), &request),
                case .success = outcome
            {
                outcome = .failure(DMABufError(errno: errno, operation: "VIDIOC_REQBUFS(\(memory), 0)", target: path))
            }
        }
        return outcome
    }
}
#endif  // os(Linux)
