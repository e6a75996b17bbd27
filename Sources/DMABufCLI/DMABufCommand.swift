import ArgumentParser
import DMABuf
import DMABufExporterClient
import Glibc
import SystemPackage

/// Every subcommand is synchronous: without Swift concurrency the process keeps one thread, and
/// `dmabuf bench` measures what single-threaded C does (a second thread alone puts every fd system
/// call on the kernel's slower path for shared fd tables).
@main
struct DMABufCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dmabuf",
        abstract: "Work with Linux dma-bufs: every source of them, and the dmabuf_exporter kernel module.",
        subcommands: [
            Demo.self, Alloc.self, Sources.self, Verify.self, Capture.self, Serve.self, Consume.self, List.self,
            Bench.self, Display.self, ProcessStage.self, Pipeline.self,
        ]
    )
}

/// The exporter device, for every subcommand that talks to it.
struct DeviceOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The exporter device.", valueName: "path"))
    var device = DMABufExporter.defaultPath.string

    func open() throws -> DMABufExporter {
        try withCommandHints { () throws(DMABufError) in try DMABufExporter(path: FilePath(device)) }
    }
}

/// A library error with what this repository's tools add: how to get the exporter module and access
/// to it (only for errors about the module's device).
struct CommandError: Error, CustomStringConvertible {
    var error: DMABufError

    var description: String {
        var text = error.description
        switch error.code {
        case .deviceMissing where error.target?.hasSuffix(DMABufExporter.exporterName) == true:
            text +=
                ". In a swift-dmabuf checkout, build and load it for the running kernel with "
                + "`make -C kernel && sudo insmod kernel/dmabuf_exporter.ko`, or run `make demo` to try it in a VM"
        case .permissionDenied where error.operation == "open" && error.hint?.contains("permission problem") == true:
            text +=
                ". Run as root, or install the udev rule (`sudo make install-udev` in a swift-dmabuf "
                + "checkout) and join the dmabuf group"
        default: break
        }
        return text
    }
}

/// Runs `body`, adding the command's hints to a library error.
func withCommandHints<R: ~Copyable>(_ body: () throws(DMABufError) -> R) throws(CommandError) -> R {
    do {
        return try body()
    } catch {
        throw CommandError(error: error)
    }
}

/// Sleeps the calling thread for `seconds` (0 or more, finite), through signals that interrupt it.
func sleep(seconds: Double) {
    let whole = seconds.rounded(.down)
    var request = timespec(tv_sec: Int(whole), tv_nsec: Int((seconds - whole) * 1e9))
    var remaining = timespec()
    while nanosleep(&request, &remaining) == -1 && errno == EINTR {
        request = remaining
    }
}
