import DMABuf
import DMABufExporterClient
import Glibc
import SystemPackage
import Testing

/// Every device suite nests in this one, so that they run one at a time: they change module
/// parameters and the device's shared buffer. Each suite is gated by a trait
/// (`.exporterDevice`, `.vgemDevice`): skipped on a host without the device, failed in a VM
/// (DMABUF_VM=1) without it.
@Suite(.serialized) struct DeviceTests {}

/// A writable parameter of the module, under /sys/module/dmabuf_exporter/parameters.
enum ModuleParameter: String {
    case maxBufferBytes = "max_buffer_bytes"
    case maxFileBytes = "max_file_bytes"
    case maxUserBytes = "max_user_bytes"
    case maxTotalBytes = "max_total_bytes"

    var path: String { "/sys/module/\(DMABufExporter.exporterName)/parameters/\(rawValue)" }

    static var writable: Bool { access(maxFileBytes.path, W_OK) == 0 }

    func value() throws -> Int {
        let text = String(decoding: try Sys.readFile(FilePath(path)).get(), as: UTF8.self)
        return try #require(Int(text.filter(\.isNumber)))
    }

    func set(_ value: Int) throws {
        let fd = try FileDescriptor.open(FilePath(path), .writeOnly, options: .closeOnExec)
        try fd.closeAfter { _ = try fd.writeAll("\(value)\n".utf8) }
    }

    /// Runs `body` with the parameter set to `value`, then restores it.
    func with(_ value: Int, _ body: () throws -> Void) throws {
        let saved = try self.value()
        try set(value)
        defer { try? set(saved) }
        try body()
    }
}
