import ArgumentParser
import DMABuf

@main
struct DMABufCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dmabuf",
        abstract: "Work with Linux dma-bufs and the dmabuf_exporter kernel module.",
        subcommands: [Demo.self, Alloc.self]
    )
}

/// The exporter device, for every subcommand that talks to it.
struct DeviceOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The exporter device.", valueName: "path"))
    var device = DMABufExporter.defaultPath

    func open() throws -> DMABufExporter {
        try DMABufExporter(path: device)
    }
}
