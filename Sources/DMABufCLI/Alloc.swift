import ArgumentParser
import DMABuf
import DMABufExporterClient
import DMABufSources
import Glibc
import SystemPackage

/// Allocates a buffer from a source (by default the first available: heap:system, udmabuf,
/// exporter, vgem) and describes it; optionally keeps it alive a while, so
/// that other tools can look at it (/proc/PID/fdinfo, /sys/kernel/debug/dma_buf/bufinfo).
struct Alloc: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Allocate a dma-buf from a source and print what it is."
    )

    @OptionGroup var options: DeviceOptions

    @OptionGroup var source: SourceOptions

    @Option(help: "The buffer's name (at most 31 bytes are kept).")
    var name: String?

    @Flag(help: "Get a read-only (O_RDONLY) fd instead of a read-write one.")
    var readOnly = false

    @Option(help: ArgumentHelp("Keep the buffer alive this many seconds before exiting.", valueName: "seconds"))
    var hold: Double?

    func validate() throws {
        if let hold, !(hold >= 0 && hold.isFinite) {
            throw ValidationError("--hold takes a number of seconds, 0 or more")
        }
    }

    func run() throws {
        let exporterPath = FilePath(options.device)
        let allocator = try source.open(exporterPath: exporterPath)
        for skipped in allocator.passedOver {
            print("skipped   \(skipped.source): \(skipped.detail)")
        }
        let buffer = try withCommandHints { () throws(DMABufError) in
            try allocator.allocate(size: source.size, name: name, accessMode: readOnly ? .readOnly : .readWrite)
        }
        let info = try withCommandHints { () throws(DMABufError) in try buffer.info() }
        let fd = buffer.withUnsafeDescriptor(\.rawValue)
        let fields = [
            ("source", "\(allocator.source) (\(allocator.path))"),
            ("fd", "\(fd)"),
            ("size", ByteCount.describe(buffer.size)),
            ("inode", "\(buffer.identity.inode)"),
            ("exporter", info.exporterName),
            ("name", info.name ?? "(none)"),
            ("access", buffer.isWritable ? "read-write" : "read-only"),
        ]
        for (label, value) in fields {
            print(label + String(repeating: " ", count: 10 - label.count) + value)
        }
        if let hold {
            print("holding it for \(hold) s: see /proc/\(getpid())/fdinfo/\(fd)")
            sleep(seconds: hold)
        }
    }
}

/// `--from` and `--size`: where a command gets its buffer, and how big.
struct SourceOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Where from: heap:system, heap:cma, udmabuf, exporter, vgem or auto (the first available of "
                + "heap:system, udmabuf, exporter, vgem; see `dmabuf sources`).",
            valueName: "source"))
    var from: SourceChoice = .auto

    @Option(
        help: ArgumentHelp(
            "Bytes, rounded up to pages: 4096, 64K, 4MiB, 1G (K/M/G = 1024-based, KB/MB/GB = 1000-based).",
            valueName: "size"),
        transform: { text in try ByteCount.parse(text) })
    var size: Int

    /// Opens the source `--from` names, or the first available one for auto.
    func open(exporterPath: FilePath) throws -> SourceAllocator {
        try Self.open(from, exporterPath: exporterPath)
    }

    /// Opens the source `choice` names, or the first available one for auto.
    static func open(_ choice: SourceChoice, exporterPath: FilePath) throws -> SourceAllocator {
        try withCommandHints { () throws(DMABufError) in
            switch choice {
            case .auto: try DMABufSource.automatic(exporterPath: exporterPath)
            case .source(let source): try source.open(exporterPath: exporterPath)
            }
        }
    }
}

/// `--from`: a source, or auto.
enum SourceChoice: ExpressibleByArgument, Equatable {
    case auto
    case source(DMABufSource)

    init?(argument: String) {
        if argument == "auto" {
            self = .auto
        } else if let source = DMABufSource(rawValue: argument) {
            self = .source(source)
        } else {
            return nil
        }
    }

    static var allValueStrings: [String] { DMABufSource.allCases.map(\.rawValue) + ["auto"] }
}
