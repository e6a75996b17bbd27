import ArgumentParser
import DMABuf
import Glibc
import SystemPackage

/// What travels with a pipeline frame in the pool's metadata, little-endian: CLOCK_MONOTONIC when
/// the capture stage dequeued the frame (a frame's identity across every stage: V4L2 sequence numbers start
/// again at 0 when the capture restarts), the capture's sequence number, the frame's size, and the
/// worker's CRC-32C of the bytes it wrote (0 before the worker).
struct PipelineFrameStamp: Equatable {
    var capturedNanoseconds: UInt64
    var sequence: UInt64
    var width: Int
    var height: Int
    var crc: UInt32 = 0

    static let byteCount = 28

    var bytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.byteCount)
        func append<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }
        append(capturedNanoseconds)
        append(sequence)
        append(UInt32(width))
        append(UInt32(height))
        append(crc)
        return bytes
    }

    /// The stamp in `bytes`, nil if they are not one.
    init?(_ bytes: [UInt8]) {
        guard bytes.count == Self.byteCount else { return nil }
        func load<T: FixedWidthInteger>(_ offset: Int, as type: T.Type) -> T {
            bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
        }
        capturedNanoseconds = load(0, as: UInt64.self)
        sequence = load(8, as: UInt64.self)
        width = Int(load(16, as: UInt32.self))
        height = Int(load(20, as: UInt32.self))
        crc = load(24, as: UInt32.self)
    }

    init(capturedNanoseconds: UInt64, sequence: UInt64, width: Int, height: Int) {
        self.capturedNanoseconds = capturedNanoseconds
        self.sequence = sequence
        self.width = width
        self.height = height
    }
}

/// The pipeline's event log, DIR/events.jsonl: one JSON object per line, each line one write(2)
/// to a file opened with O_APPEND, so that the stages and the supervisor append to it at once
/// without tearing a line. No file: nothing is written.
struct PipelineEventLog {
    private let file: FileDescriptor?

    init(path: String?) throws {
        guard let path else {
            file = nil
            return
        }
        do {
            file = try FileDescriptor.open(
                FilePath(path), .writeOnly, options: [.append, .create, .closeOnExec],
                permissions: [.ownerReadWrite, .groupRead, .otherRead])
        } catch {
            throw CommandError(
                error: DMABufError(errno: error as? Errno ?? .ioError, operation: "open the event log", target: path))
        }
    }

    /// One value of an event's field, written as JSON.
    enum Value {
        case int(Int64)
        case unsigned(UInt64)
        case text(String)
        case bool(Bool)

        var json: String {
            switch self {
            case .int(let value): "\(value)"
            case .unsigned(let value): "\(value)"
            case .bool(let value): value ? "true" : "false"
            case .text(let value):
                "\""
                    + value.unicodeScalars.map { scalar in
                        switch scalar {
                        case "\"": "\\\""
                        case "\\": "\\\\"
                        case _ where scalar.value < 0x20:
                            "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                                + String(scalar.value, radix: 16)
                        default: String(scalar)
                        }
                    }.joined() + "\""
            }
        }
    }

    /// Appends `{"t_ns": now, "event": event, fields...}`.
    func record(_ event: String, _ fields: KeyValuePairs<String, Value> = [:]) {
        guard let file else { return }
        var line = "{\"t_ns\": \(monotonicNanoseconds()), \"event\": \"\(event)\""
        for (key, value) in fields { line += ", \"\(key)\": \(value.json)" }
        line += "}\n"
        // One write: O_APPEND puts the whole line at the end, between other writers' lines.
        _ = try? file.writeAll(line.utf8)
    }
}

/// CLOCK_MONOTONIC now in nanoseconds, the clock of V4L2 timestamps, flip events and the log.
func monotonicNanoseconds() -> UInt64 {
    nanoseconds(monotonicNow())
}

func nanoseconds(_ duration: Duration) -> UInt64 {
    let (seconds, attoseconds) = duration.components
    return UInt64(max(seconds, 0)) * 1_000_000_000 + UInt64(max(attoseconds, 0) / 1_000_000_000)
}

/// Exit statuses the stages share with `dmabuf pipeline`.
enum StageExit {
    /// The stage cannot run as set up (no camera, no display, a bad option): restarting it would
    /// fail the same way, so the supervisor stops and says why.
    static let cannotStart: Int32 = 4
}

/// An error that ends a stage before its loop: it exits with ``StageExit/cannotStart``.
struct StageSetupError: Error, CustomStringConvertible {
    var description: String
}

/// Runs a stage's `body`, turning an error into a line on stderr and an exit status: setup errors
/// exit ``StageExit/cannotStart``, others 1.
func runStage(_ name: String, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as StageSetupError {
        printError("dmabuf \(name): \(error)")
        throw ExitCode(StageExit.cannotStart)
    } catch let error as ExitCode {
        throw error
    } catch {
        printError("dmabuf \(name): \(error)")
        throw ExitCode.failure
    }
}

/// Runs setup step `body`; its error ends the stage with ``StageExit/cannotStart``, but for ENOMEM.
func setup<R: ~Copyable>(_ body: () throws(DMABufError) -> R) throws -> R {
    do {
        return try body()
    } catch  where error.code == .outOfMemory {
        // A squeezed memory cgroup: the next start may get the memory.
        throw CommandError(error: error)
    } catch {
        throw StageSetupError(description: CommandError(error: error).description)
    }
}

/// Listens at `path`, replacing a stale socket a killed predecessor left there (a socket nobody
/// accepts on); a path that is no socket, or one another server listens on, is an error.
func listenReplacingStale(at path: String) throws -> DMABufChannel.Listener {
    var status = stat()
    if lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFSOCK {
        if (try? DMABufChannel.connect(to: FilePath(path))) != nil {
            throw StageSetupError(description: "another process listens on \(path)")
        }
        unlink(path)
    }
    return try setup { () throws(DMABufError) in try DMABufChannel.Listener(path: FilePath(path)) }
}

/// Connects to `path`, trying again every 100 ms while nothing listens there (an upstream stage
/// that is restarting), for at most `seconds` (0: for ever).
func connectRetrying(to path: String, seconds: Double, stage: String) throws -> DMABufChannel {
    let deadline = seconds > 0 ? monotonicNow() + .milliseconds(Int64(seconds * 1000)) : nil
    var said = false
    while true {
        let failure: DMABufError
        do {
            return try DMABufChannel.connect(to: FilePath(path))
        } catch {
            failure = error
        }
        guard failure.code == .deviceMissing || failure.errno == .connectionRefused else {
            throw CommandError(error: failure)
        }
        if let deadline, monotonicNow() >= deadline {
            throw StageSetupError(
                description: "nothing listens on \(path) after \(seconds) s: start its upstream stage first "
                    + "(or run `dmabuf pipeline`), or give --retry-seconds 0 to wait for ever (\(failure))")
        }
        if !said {
            printError("dmabuf \(stage): waiting for \(path)")
            said = true
        }
        sleep(seconds: 0.1)
    }
}

/// Blocks `signals` in this thread, so that they stay pending until `takePending` takes them:
/// a signal is then a flag to poll, with no handler.
func blockSignals(_ signals: [Int32]) {
    var set = sigset_t()
    sigemptyset(&set)
    for signal in signals { sigaddset(&set, signal) }
    sigprocmask(SIG_BLOCK, &set, nil)
}

/// Whether `signal` (blocked with `blockSignals`) is pending; takes it.
func takePending(_ signal: Int32) -> Bool {
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, signal)
    var zero = timespec()
    return sigtimedwait(&set, nil, &zero) == signal
}
