import ArgumentParser
import DMABuf
import DMABufExporterClient
import DMABufSources
import SystemPackage

/// Proves a buffer end to end: allocates it from a source, fills it from user space with a seeded
/// pattern, has the exporter module import it and checksum it in the kernel, and compares that
/// CRC-32C with the one Swift computes for the pattern.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that the kernel, importing a buffer, reads what user space wrote into it.",
        discussion: """
            Allocates a buffer from the source, fills it with a seeded pattern through a mapping (between \
            DMA_BUF_IOCTL_SYNC START and END), has the dmabuf_exporter module import it as a driver would \
            and compute the CRC-32C of the range, and compares that with the CRC-32C Swift computes for the \
            pattern. Exits 1 if they differ.
            """
    )

    @OptionGroup var options: DeviceOptions

    @OptionGroup var source: SourceOptions

    @Option(
        help: ArgumentHelp("The first byte the kernel checks (default 0).", valueName: "bytes"),
        transform: { text in try ByteCount.parse(text) })
    var offset: Int = 0

    @Option(
        help: ArgumentHelp("How many bytes the kernel checks (default: to the buffer's end).", valueName: "bytes"),
        transform: { text in try ByteCount.parse(text) })
    var length: Int?

    @Option(
        help: ArgumentHelp("The pattern's seed: a number, decimal or 0x hexadecimal (default 1).", valueName: "n"),
        transform: { text in try Self.parseSeed(text) })
    var seed: UInt64 = 1

    /// The seed whose pattern the kernel's checksum is compared with, if not `seed`: a way to
    /// see a mismatch reported.
    @Option(help: .hidden, transform: { text in try Self.parseSeed(text) })
    var checkSeed: UInt64?

    func validate() throws {
        if source.size < 1 { throw ValidationError("--size must be at least 1 byte") }
        if let length, length < 1 { throw ValidationError("--length must be at least 1 byte") }
    }

    func run() throws {
        let report = try verify()
        print(report.lines.joined(separator: "\n"))
        guard report.matches else { throw ExitCode.failure }
    }

    /// What `verify` found, and how it says so.
    struct Report {
        var source: DMABufSource
        var range: Range<Int>
        var imported: DMABufExporter.ImportResult
        /// Swift's CRC-32C of the checked pattern over `range`.
        var expected: UInt32
        var lines: [String]

        var matches: Bool { imported.crc32c == expected }
    }

    /// Allocates, fills, imports and compares; the report's lines are what `run` prints.
    func verify() throws -> Report {
        let exporterPath = FilePath(options.device)
        let allocator = try source.open(exporterPath: exporterPath)
        var lines = allocator.passedOver.map { "skipped   \($0.source): \($0.detail)" }
        let device = try options.open()
        let buffer = try withCommandHints { () throws(DMABufError) in
            try allocator.allocate(size: source.size, name: "dmabuf-verify")
        }
        let end = length.map { offset.addingReportingOverflow($0) }
        guard offset < buffer.size, end.map({ !$0.overflow && $0.partialValue <= buffer.size }) ?? true else {
            throw RangeError(
                description: "--offset \(offset)" + (length.map { " --length \($0)" } ?? "")
                    + " is not within the buffer's \(buffer.size) bytes")
        }
        let range = offset..<(end?.partialValue ?? buffer.size)

        let pattern = FillPattern(seed: seed)
        let checked = FillPattern(seed: checkSeed ?? seed)
        let imported: DMABufExporter.ImportResult
        do {
            var mapping = try buffer.map()
            try mapping.withCPUAccess(.write) { bytes in pattern.fill(&bytes) }
            imported = try device.import(buffer, range: range)
        } catch let error as DMABufError {
            throw CommandError(error: error)
        }
        let expected = checked.checksum(of: range)

        let fields = [
            ("source", "\(allocator.source) (\(allocator.path))"),
            ("size", ByteCount.describe(buffer.size)),
            ("range", "\(range.lowerBound)..<\(range.upperBound), \(ByteCount.describe(range.count))"),
            ("seed", "\(seed)"),
            ("exporter", imported.exporterName),
            ("nents", "\(imported.segmentCount)"),
            ("read via", "\(imported.readPath)"),
            ("kernel", "crc32c " + Self.hex(imported.crc32c)),
            ("swift", "crc32c " + Self.hex(expected) + (checkSeed.map { " (of seed \($0))" } ?? "")),
        ]
        for (label, value) in fields {
            lines.append(label + String(repeating: " ", count: 10 - label.count) + value)
        }
        var report = Report(
            source: allocator.source, range: range, imported: imported, expected: expected, lines: lines)
        report.lines.append(
            report.matches
                ? "OK: the kernel, importing the buffer, read what user space wrote"
                : "FAIL: the kernel's CRC-32C \(Self.hex(imported.crc32c)) differs from Swift's "
                    + "\(Self.hex(expected)): the kernel did not read the bytes user space wrote")
        return report
    }

    /// A range the buffer does not have: known only once it is allocated (sizes round up to pages).
    struct RangeError: Error, CustomStringConvertible {
        var description: String
    }

    /// `0x` and eight hexadecimal digits.
    static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }

    /// A seed as written: decimal, or hexadecimal after 0x.
    static func parseSeed(_ text: String) throws -> UInt64 {
        let value =
            text.lowercased().hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text, radix: 10)
        guard let value else {
            throw ValidationError(
                "'\(text)' is not a seed: give a number from 0 to \(UInt64.max), or 0x and hex digits")
        }
        return value
    }
}
