import DMABuf
import SystemPackage

/// What a pipeline's event log says: frames shown, their rate and latency, the writeback
/// checks, the frames dropped for a fence that did not signal, and whether any of those was shown.
struct PipelineSummary {
    var shown = 0
    var firstShown: UInt64?
    var lastShown: UInt64?
    var latencies: [UInt64] = []
    var checks = 0
    var badChecks = 0
    var fenceTimeouts = 0
    /// Frames shown although their fence had timed out: captured_ns of each.
    var shownAfterTimeout = 0
    var restarts: [(String, Int)]

    init(eventsPath: String, restarts: [(String, Int)]) {
        self.restarts = restarts
        var timedOut: Set<UInt64> = []
        var shownFrames: Set<UInt64> = []
        for line in Self.lines(of: eventsPath) {
            switch Self.text("event", in: line) {
            case "shown":
                shown += 1
                guard let captured = Self.number("captured_ns", in: line),
                    let flipped = Self.number("flipped_ns", in: line)
                else { continue }
                shownFrames.insert(captured)
                firstShown = firstShown ?? flipped
                lastShown = flipped
                if flipped >= captured { latencies.append(flipped - captured) }
            case "check":
                checks += 1
                if line.contains("\"ok\": false") || line.contains("\"ok\":false") { badChecks += 1 }
            case "fence-timeout":
                fenceTimeouts += 1
                if let captured = Self.number("captured_ns", in: line) { timedOut.insert(captured) }
            default: break
            }
        }
        shownAfterTimeout = timedOut.intersection(shownFrames).count
    }

    var isGood: Bool { shown > 0 && badChecks == 0 && shownAfterTimeout == 0 }

    var verdict: String {
        if shown == 0 { return "no frame was shown" }
        if badChecks > 0 { return "\(badChecks) of \(checks) writeback checks failed" }
        if shownAfterTimeout > 0 { return "\(shownAfterTimeout) frames were shown after their fence timed out" }
        return "good"
    }

    var lines: [String] {
        var lines = ["shown     \(shown) frames"]
        if let first = firstShown, let last = lastShown, last > first, shown > 1 {
            let rate = Double(shown - 1) / (Double(last - first) / 1e9)
            lines.append("rate      \(Capture.format(rate, digits: 1)) frames/s")
        }
        if !latencies.isEmpty {
            let sorted = latencies.sorted()
            func percentile(_ percent: Double) -> String {
                let rank = Int((percent / 100 * Double(sorted.count)).rounded(.up))
                return Capture.format(Double(sorted[min(max(rank, 1), sorted.count) - 1]) / 1e6, digits: 1)
            }
            lines.append("latency   capture to flip p50 \(percentile(50)) ms, p99 \(percentile(99)) ms")
        }
        lines.append("checks    \(checks) writebacks, \(badChecks) with a CRC-32C other than the worker's")
        lines.append(
            "dropped   \(fenceTimeouts) frames whose fence did not signal in time, \(shownAfterTimeout) of them shown")
        lines.append("restarts  " + restarts.map { "\($0.0) \($0.1)" }.joined(separator: ", "))
        return lines
    }

    /// The lines of the file at `path`; none if it cannot be read.
    static func lines(of path: String) -> [Substring] {
        guard let file = try? FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec]) else { return [] }
        defer { try? file.close() }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while let read = try? chunk.withUnsafeMutableBytes({ try file.read(into: $0) }), read > 0 {
            bytes += chunk.prefix(read)
        }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n")
    }

    /// The text after `"key":` up to the next delimiter, with spaces and quotes trimmed: enough
    /// for the flat objects of the event log.
    static func rawValue(_ key: String, in line: Substring) -> Substring? {
        guard let keyRange = line.firstRange(of: "\"\(key)\"") else { return nil }
        var rest = line[keyRange.upperBound...].drop { $0 == " " }
        guard rest.first == ":" else { return nil }
        rest = rest.dropFirst().drop { $0 == " " }
        if rest.first == "\"" {
            rest = rest.dropFirst()
            return rest.prefix { $0 != "\"" }
        }
        return rest.prefix { $0 != "," && $0 != "}" && $0 != " " }
    }

    static func text(_ key: String, in line: Substring) -> String? {
        rawValue(key, in: line).map(String.init)
    }

    static func number(_ key: String, in line: Substring) -> UInt64? {
        rawValue(key, in: line).flatMap { UInt64($0) }
    }
}
