import DMABuf
import DMABufV4L2
import Glibc
import SystemPackage

/// A capture frame the consumer holds: given back to the camera once the consumer releases it.
/// (A class, since a `V4L2Frame` cannot live in an array itself.)
private final class HeldFrame {
    var frame: V4L2Frame?
}

extension Capture {
    /// The capture stage of the pipeline (`--serve SOCKET`): the capture buffers are the pool.
    /// A buffer goes to the consumer only after DQBUF says the camera is done with it, and back
    /// to the camera (QBUF) only once the consumer has released it; with every buffer at the
    /// consumer the camera has none to fill, and the stage waits for a release: backpressure.
    /// A consumer that goes away gives every buffer back; the stage then waits for the next.
    func serveFrames(on socket: String) throws {
        let log = try PipelineEventLog(path: events)
        var lines: [String] = []
        let camera = try setup { () throws(DMABufError) in try openCamera() }
        let format = try setup { () throws(DMABufError) in
            try configure(camera, defaultSize: Self.serveSize, defaultFormat: Self.displayFormat, lines: &lines)
        }
        var memory = ""
        let stream = try setup { () throws(DMABufError) in try makeStream(camera, memory: &memory, lines: &lines) }
        let listener = try listenReplacingStale(at: socket)
        for line in lines { printError("dmabuf capture: \(line)") }
        let wait = Duration.milliseconds(Int(timeout * 1000))
        let held = (0..<stream.bufferCount).map { _ in HeldFrame() }
        var served = 0
        try withCommandHints { () throws(DMABufError) in try stream.start() }
        while frames.map({ served < $0 }) ?? true {
            printError("dmabuf capture: waiting for a consumer on \(socket)")
            let channel = try withCommandHints { () throws(DMABufError) in try listener.blockingAccept() }
            do {
                var producer = try BufferPoolProducer(channel: channel, count: stream.bufferCount) {
                    index throws(DMABufError) in
                    try stream.withBuffer(index) { buffer throws(DMABufError) in try buffer.duplicate() }
                }
                printError("dmabuf capture: a consumer has the \(stream.bufferCount) buffers")
                log.record("connected", ["stage": .text("capture-consumer")])
                while frames.map({ served < $0 }) ?? true {
                    // Releases in: their frames go back to the camera.
                    _ = try producer.acquireIfAvailable()
                    for index in held.indices where held[index].frame != nil && !producer.isWithConsumer(index) {
                        try stream.requeue(held[index].frame.take()!)
                    }
                    if held.allSatisfy({ $0.frame != nil }) {
                        // The consumer has every buffer: the camera has none to fill until one comes back.
                        do {
                            _ = try producer.blockingAcquire(timeout: wait)
                        } catch  where error.code == .timedOut {}
                        continue
                    }
                    let frame = try stream.dequeue(timeout: wait)
                    // The time the frame was handed over, not its V4L2 timestamp: vivid's end-of-frame stamps
                    // often lie after the handover, and a latency measured from them can come out negative.
                    let stamp = PipelineFrameStamp(
                        capturedNanoseconds: nanoseconds(monotonicNow()), sequence: UInt64(frame.sequence),
                        width: format.width, height: format.height)
                    try producer.submit(index: frame.index, bytesUsed: frame.bytesUsed, metadata: stamp.bytes)
                    let index = frame.index
                    held[index].frame = consume frame
                    served += 1
                }
                while producer.freeCount < producer.count { _ = try producer.blockingAcquire() }
                try producer.finish()
            } catch  where error.code == .disconnected {
                printError("dmabuf capture: the consumer went away; every buffer is back (\(error))")
            } catch  where error.code == .malformedInput {
                printError("dmabuf capture: the consumer broke the protocol; dropped it (\(error))")
            } catch {
                throw CommandError(error: error)
            }
            for frame in held where frame.frame != nil {
                try withCommandHints { () throws(DMABufError) in try stream.requeue(frame.frame.take()!) }
            }
        }
        do {
            try stream.stop()
            try listener.close()
        } catch {
            throw CommandError(error: error)
        }
    }

    /// The frame size of `--serve` unless told otherwise: vkms's smallest mode, which the display
    /// stage shows the frames in without scaling.
    static let serveSize = (width: 640, height: 480)
}
