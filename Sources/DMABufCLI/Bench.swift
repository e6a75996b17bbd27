import ArgumentParser
import DMABuf
import DMABufExporterClient
import Glibc
import SystemPackage

/// Times the library's basic operations on the exporter module's buffers: the Swift side of `make
/// bench`, whose C side (`kernel/tests/bench.c -g ops`) does the same operations with the same
/// batches, so that the two can be compared as ratios.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time the library's basic operations on dmabuf_exporter buffers.",
        discussion: """
            Each operation runs in batches after one warm-up batch; a sample is a batch's time divided by \
            its operations, and the figures are the median, minimum and maximum over the samples, in \
            seconds per operation: a DMA_BUF_IOCTL_SYNC START/END pair; a dma-buf fd sent there and back \
            over a DMABufChannel; allocate, map, touch one byte, \
            unmap and close, for 4 KiB and 4 MiB; a sequential read of 64 MiB through a RawSpan. Build \
            it in release (swift build -c release) for figures worth comparing.
            """
    )

    @OptionGroup var options: DeviceOptions

    @Flag(help: "Print one JSON object per measurement, the lines of make bench's results.json.")
    var json = false

    @Flag(help: "A smoke run: few samples, small batches, a 4 MiB read.")
    var quick = false

    func run() throws {
        let device = try options.open()
        let measurements: [Measurement]
        do {
            measurements = try Self.measure(device, plan: quick ? .quick : .full)
        } catch let error as DMABufError {
            throw CommandError(error: error)
        }
        if !json {
            print("measure                             size      median (s)   min (s)      max (s)")
        }
        for measurement in measurements {
            print(json ? measurement.json : measurement.line)
        }
    }

    /// How many samples and operations per batch: the same as the C side's (keep them in step).
    struct Plan {
        var samples: Int
        var syncBatch: Int
        var smallAllocationBatch: Int
        var largeAllocationBatch: Int
        var readSize: Int

        static let full = Plan(
            samples: 15, syncBatch: 1000, smallAllocationBatch: 200, largeAllocationBatch: 20, readSize: 64 << 20)
        static let quick = Plan(
            samples: 3, syncBatch: 100, smallAllocationBatch: 20, largeAllocationBatch: 5, readSize: 4 << 20)
    }

    /// One measurement in seconds per operation, as a line of results.json.
    struct Measurement {
        var measure: String
        var size: Int
        /// Seconds per operation, one per batch.
        var samples: [Double]

        var sorted: [Double] { samples.sorted() }
        var median: Double { sorted[samples.count / 2] }

        var json: String {
            let sorted = self.sorted
            return "{\"kernel\":\"\(Self.kernelRelease)\",\"group\":\"ops\",\"path\":\"swift\","
                + "\"measure\":\"\(measure)\",\"unit\":\"s\",\"size\":\(size),\"iterations\":\(samples.count),"
                + "\"median\":\(sorted[samples.count / 2]),\"min\":\(sorted[0]),\"max\":\(sorted[samples.count - 1])}"
        }

        var line: String {
            let sorted = self.sorted
            let columns = [sorted[samples.count / 2], sorted[0], sorted[samples.count - 1]].map {
                pad(String(describing: $0), 12)
            }
            return pad(measure, 35) + " " + pad(String(size), 9) + " " + columns.joined(separator: " ")
        }

        private func pad(_ text: String, _ width: Int) -> String {
            text + String(repeating: " ", count: max(0, width - text.count))
        }

        /// `uname -r`.
        static let kernelRelease: String = {
            var names = utsname()
            _ = uname(&names)
            return withUnsafeBytes(of: &names.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }()
    }

    /// Every operation, in the order of the C side.
    static func measure(_ device: borrowing DMABufExporter, plan: Plan) throws -> [Measurement] {
        var results: [Measurement] = []
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))

        let buffer = try device.allocate(size: page, name: "bench")
        let mapping = try buffer.map()
        results.append(
            try time("sync-pair", size: page, batch: plan.syncBatch, samples: plan.samples) {
                try mapping.withCPUAccess(.read) { _ in }
            })
        _ = consume mapping
        try buffer.close()

        let channels = try DMABufChannel.pair()
        let shared = try device.allocate(size: page, name: "bench")
        let message = DMABufChannelMessage(.data)
        results.append(
            try time("fd-round-trip", size: page, batch: plan.syncBatch, samples: plan.samples) {
                try channels.first.send(message, buffer: shared)
                var there = try channels.second.blockingReceive()
                let received = try there.takeBuffer(at: 0)
                try channels.second.send(message, buffer: received)
                var back = try channels.first.blockingReceive()
                _ = try back.takeBuffer(at: 0)
            })
        try shared.close()

        for (size, batch) in [(4 << 10, plan.smallAllocationBatch), (4 << 20, plan.largeAllocationBatch)] {
            results.append(
                try time("alloc-map-touch-unmap-close", size: size, batch: batch, samples: plan.samples) {
                    let buffer = try device.allocate(size: size, name: "bench")
                    var mapping = try buffer.map()
                    var bytes = mapping.unsynchronizedMutableBytes
                    bytes.storeBytes(of: 1, toByteOffset: 0, as: UInt8.self)
                    _ = consume mapping
                    try buffer.close()
                })
        }

        results.append(try sequentialRead(device, size: plan.readSize, samples: plan.samples))
        return results
    }

    /// Runs `operation` in one warm-up batch and `samples` timed batches of `batch` each.
    static func time(
        _ measure: String, size: Int, batch: Int, samples: Int, _ operation: () throws -> Void
    ) throws -> Measurement {
        var times: [Double] = []
        for sample in -1..<samples {
            let start = now()
            for _ in 0..<batch { try operation() }
            if sample >= 0 { times.append((now() - start) / Double(batch)) }
        }
        return Measurement(measure: measure, size: size, samples: times)
    }

    /// Fills a buffer, faults it in, then times whole reads of it through a `RawSpan`.
    static func sequentialRead(_ device: borrowing DMABufExporter, size: Int, samples: Int) throws -> Measurement {
        let buffer = try device.allocate(size: size, name: "bench")
        var mapping = try buffer.map()
        let expected = try mapping.withCPUAccess(.write) { (bytes: inout MutableRawSpan) in
            var sum: UInt64 = 0
            for index in 0..<size / 8 {
                let word = UInt64(truncatingIfNeeded: index) &* 0x9e37_79b9_7f4a_7c15
                bytes.storeBytes(of: word, toByteOffset: index &* 8, as: UInt64.self)
                sum &+= word
            }
            return sum
        }
        var times: [Double] = []
        for sample in -1..<samples {
            let start = now()
            let sum = sumOfWords(mapping.unsynchronizedBytes)
            if sample >= 0 { times.append(now() - start) }
            guard sum == expected else {
                throw DMABufError(
                    .other, operation: "sequential read", target: "dma-buf of \(size) bytes",
                    hint: "The words read summed to \(sum), not the \(expected) written")
            }
        }
        return Measurement(measure: "sequential-read", size: size, samples: times)
    }

    /// The sum of the span's 64-bit words: the C side's loop. The loop's condition keeps every
    /// load inside the span, so the loads need no check of their own: a checked load per word
    /// made the loop three times as slow as C's under TCG.
    static func sumOfWords(_ bytes: RawSpan) -> UInt64 {
        var sum: UInt64 = 0
        var offset = 0
        let end = bytes.byteCount
        while end &- offset >= 8 {
            sum &+= bytes.unsafeLoad(fromUncheckedByteOffset: offset, as: UInt64.self)
            offset &+= 8
        }
        return sum
    }

    /// CLOCK_MONOTONIC in seconds, as the C side reads it.
    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
