import ArgumentParser
import DMABuf

/// The seed article's scenario through the Swift API: get the shared buffer's fd, map it, read the
/// kernel's text, write our own, and have the kernel read it back through the device.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the dma-buf article's demo against the exporter module.",
        discussion: "Exits 0 only if the kernel reads back, through the device, the text written through the dma-buf mapping."
    )

    @OptionGroup var options: DeviceOptions

    @Option(help: "The text to write into the buffer.")
    var text = "Hello from user space!"

    func run() throws {
        let device = try options.open()
        print("Opened \(device.path)")

        let buffer = try device.sharedBuffer()
        let fd = buffer.withUnsafeDescriptor(\.rawValue)
        print("Received DMA-BUF FD: \(fd) (\(try buffer.identity), \(try buffer.size) bytes, exporter \(try buffer.exporterName))")

        var mapping = try buffer.map()
        let address = mapping.withUnsafeBytes { $0.baseAddress! }
        print("DMA-BUF mapped successfully at address: \(address) (\(mapping.count) bytes, \(mapping.isWritable ? "read-write" : "read-only"))")
        print("DMA-BUF: \(try mapping.withCPUAccess(.read) { $0.withUnsafeBytes(Self.cString) })")

        print("Writing to DMA-BUF: \(text)")
        let written = Array(text.utf8) + [0]
        guard written.count <= mapping.count else {
            throw ValidationError("The text has \(written.count - 1) bytes; the buffer holds \(mapping.count - 1) and a NUL")
        }
        try mapping.withCPUAccess(.write) { mapping in
            mapping.withUnsafeMutableBytes { $0.copyBytes(from: written) }
        }
        print("DMA-BUF: \(try mapping.withCPUAccess(.read) { $0.withUnsafeBytes(Self.cString) })")

        let kernelText = try device.readShared()
        print("Kernel reads through \(device.path): \(kernelText)")
        guard kernelText == text else {
            print("FAIL: the kernel read \"\(kernelText)\", not the text written through the mapping")
            throw ExitCode.failure
        }
        print("OK: the kernel sees what user space wrote through the dma-buf")
    }

    /// The bytes up to the first NUL, as UTF-8.
    static func cString(_ bytes: UnsafeRawBufferPointer) -> String {
        String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
    }
}
