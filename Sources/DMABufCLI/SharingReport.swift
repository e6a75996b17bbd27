import DMABuf
import Dispatch
import Glibc

/// What `serve` and `consume` print at the end, and the copy through a socket they compare
/// themselves with, measured in the same run.
struct SharingReport {
    var frames: Int
    var frameBytes: Int
    var buffers: Int
    var elapsed: Duration
    /// Of `elapsed`, the time this side spent on the frames' bytes (filling, or checking).
    var patternWork: Duration
    /// What that work was: "filling", "checking".
    var patternWorkName: String
    /// The same bytes (`frames` x `frameBytes`) copied through a Unix stream socket.
    var copyElapsed: Duration

    var lines: [String] {
        let shared = frames * frameBytes
        let ratio = seconds(copyElapsed) / max(seconds(elapsed), 1e-9)
        let passing = elapsed - patternWork
        let passingRatio = seconds(copyElapsed) / max(seconds(passing), 1e-9)
        return [
            "frames        \(frames) of \(ByteCount.describe(frameBytes)) in \(buffers) buffers",
            "time          \(format(seconds(elapsed))) s, \(format(Double(frames) / max(seconds(elapsed), 1e-9))) frames/s",
            "bytes shared  \(ByteCount.describe(shared)) (each buffer's fd crossed the socket once)",
            "bytes copied  0",
            "pattern work  \(format(seconds(patternWork))) s of that \(patternWorkName) the frames; the rest, "
                + "\(format(seconds(passing))) s, passing them",
            "socket copy   \(format(seconds(copyElapsed))) s for the same \(ByteCount.describe(shared)) through a Unix "
                + "socket: \(format(passingRatio))x the time of passing them, \(format(ratio))x the whole run",
        ]
    }

    private func seconds(_ duration: Duration) -> Double {
        let (whole, fraction) = duration.components
        return Double(whole) + Double(fraction) / 1e18
    }

    private func format(_ value: Double) -> String {
        let hundredths = Int((value * 100).rounded())
        let part = hundredths % 100
        return "\(hundredths / 100).\(part < 10 ? "0" : "")\(part)"
    }

    /// How long `count` copies of `bytes` take through a socketpair: one thread writes, another
    /// reads every byte into its own buffer, as a consumer without fd passing would.
    static func measureSocketCopy(of bytes: UnsafeRawBufferPointer, count: Int) throws -> Duration {
        var ends: [CInt] = [-1, -1]
        guard socketpair(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            throw CopyError(description: "socketpair: \(String(cString: strerror(errno)))")
        }
        defer { for end in ends { close(end) } }
        let total = bytes.count * count
        let reader = ends[1]
        let chunkSize = max(bytes.count, 1)
        let done = DispatchSemaphore(value: 0)
        let clock = ContinuousClock()
        let start = clock.now
        DispatchQueue.global().async {
            let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 4096)
            defer { chunk.deallocate() }
            var received = 0
            while received < total {
                let n = read(reader, chunk.baseAddress, min(chunk.count, total - received))
                if n > 0 {
                    received += n
                } else if n == 0 || errno != EINTR {
                    break
                }
            }
            done.signal()
        }
        for _ in 0..<count {
            var sent = 0
            while sent < bytes.count {
                let n = write(ends[0], bytes.baseAddress! + sent, bytes.count - sent)
                if n > 0 {
                    sent += n
                } else if errno != EINTR {
                    throw CopyError(description: "write: \(String(cString: strerror(errno)))")
                }
            }
        }
        done.wait()
        return clock.now - start
    }

    struct CopyError: Error, CustomStringConvertible {
        var description: String
    }
}

/// A mapping kept for the whole run: a `Mapping` cannot live in an array itself.
final class KeptMapping {
    var mapping: DMABuffer.Mapping

    init(_ mapping: consuming DMABuffer.Mapping) {
        self.mapping = mapping
    }
}

/// The other side went away: a message and exit status 3.
struct PeerGone: Error, CustomStringConvertible {
    var description: String
}
