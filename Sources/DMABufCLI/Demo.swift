import ArgumentParser
import DMABuf
import DMABufExporterClient

/// The seed article's scenario through the Swift API: get the shared buffer's fd, map it, read the
/// kernel's text, write our own, and have the kernel read it back through the device.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the dma-buf article's demo against the exporter module.",
        discussion:
            "Exits 0 only if the kernel reads back, through the device, the text written through the dma-buf mapping."
    )

    @OptionGroup var options: DeviceOptions

    @Option(help: "The text to write into the buffer.")
    var text = "Hello from user space!"

    func run() throws {
        let device = try options.open()
        print("Opened \(device.path)")
        do {
            try scenario(device)
        } catch let error as DMABufError {
            throw CommandError(error: error)
        }
    }

    private func scenario(_ device: borrowing DMABufExporter) throws {
        let buffer = try device.sharedBuffer()
        let exporter = try buffer.info().exporterName
        let fd = buffer.withUnsafeDescriptor(\.rawValue)
        print("Received DMA-BUF FD: \(fd) (\(buffer.identity), \(buffer.size) bytes, exporter \(exporter))")

        var mapping = try buffer.map()
        let address = mapping.unsynchronizedBytes.withUnsafeBytes { $0.baseAddress! }
        let access = mapping.isWritable ? "read-write" : "read-only"
        print("DMA-BUF mapped successfully at address: \(address) (\(mapping.count) bytes, \(access))")
        print("DMA-BUF: \(try read(mapping))")

        print("Writing to DMA-BUF: \(text)")
        let written = Array(text.utf8) + [0]
        guard written.count <= mapping.count else {
            throw DMABufError(
                .limitExceeded, operation: "write", target: "the shared buffer",
                hint: "The text has \(written.count - 1) bytes; the buffer holds \(mapping.count - 1) and a NUL")
        }
        try mapping.withCPUAccess(.write) { bytes in
            for (offset, byte) in written.enumerated() {
                bytes.storeBytes(of: byte, toByteOffset: offset, as: UInt8.self)
            }
        }
        print("DMA-BUF: \(try read(mapping))")

        let kernelText = try device.readShared()
        print("Kernel reads through \(device.path): \(kernelText)")
        guard kernelText == text else {
            print("FAIL: the kernel read \"\(kernelText)\", not the text written through the mapping")
            throw ExitCode.failure
        }
        print("OK: the kernel sees what user space wrote through the dma-buf")
    }

    /// The mapping's bytes up to the first NUL, as UTF-8, read inside a CPU read bracket.
    private func read(_ mapping: borrowing DMABuffer.Mapping) throws -> String {
        try mapping.withCPUAccess(.read) { bytes in
            bytes.withUnsafeBytes { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
    }
}
