import ArgumentParser
import DMABuf
import DMABufSources
import SystemPackage

/// Lists every dma-buf source, whether it is available and why not, and which one `--from auto` picks.
struct Sources: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List every dma-buf source, available or not and why, and mark the default."
    )

    @OptionGroup var options: DeviceOptions

    @Flag(help: "Print JSON: an array of {source, available, default, detail}.")
    var json = false

    func run() throws {
        print(Self.render(DMABufSource.survey(exporterPath: FilePath(options.device)), json: json))
    }

    /// The default: the first available source in the automatic order.
    static func defaultSource(_ statuses: [DMABufSource.Status]) -> DMABufSource? {
        DMABufSource.automaticOrder.first { source in statuses.contains { $0.source == source && $0.isAvailable } }
    }

    /// The listing, as text or JSON.
    static func render(_ statuses: [DMABufSource.Status], json: Bool) -> String {
        let chosen = defaultSource(statuses)
        if json {
            let objects = statuses.map { status in
                "  {\"source\": \(quoted(status.source.rawValue)), \"available\": \(status.isAvailable), "
                    + "\"default\": \(status.source == chosen), \"detail\": \(quoted(status.detail))}"
            }
            return "[\n" + objects.joined(separator: ",\n") + "\n]"
        }
        var lines = ["  source       available  detail"]
        for status in statuses {
            let mark = status.source == chosen ? "*" : " "
            let name = status.source.rawValue.padding(to: 12)
            lines.append("\(mark) \(name) \((status.isAvailable ? "yes" : "no").padding(to: 10)) \(status.detail)")
        }
        lines.append(
            chosen.map { "* the default (--from auto): \($0)" }
                ?? "no source is available; --from auto fails")
        return lines.joined(separator: "\n")
    }

    /// `text` as a JSON string.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension String {
    fileprivate func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
