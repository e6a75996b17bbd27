import ArgumentParser
import DMABufInspection
import Glibc

/// `dmabuf ls`: every dma-buf on the system, who holds it, and how much each process and exporter
/// has. The scan is the library's (`DMABufSnapshot.scan`); this only formats it.
struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List every dma-buf on the system: who holds it, per process and per exporter.",
        discussion: """
            Reads /proc/*/fdinfo and /proc/*/maps, and debugfs dma_buf/bufinfo (or \
            /sys/kernel/dmabuf/buffers) for buffers only the kernel holds. As another user than \
            root it shows that user's processes and marks the result partial.
            """
    )

    enum View: String, ExpressibleByArgument, CaseIterable {
        case buffer, process, exporter
    }

    @Option(help: ArgumentHelp("Only the buffers this process holds.", valueName: "pid"))
    var pid: Int32?

    @Option(help: "The table: one line per buffer, process or exporter.")
    var by: View = .buffer

    @Flag(help: "Print JSON (schema version \(schemaVersion), in the README) instead of a table.")
    var json = false

    @Option(
        help: ArgumentHelp(
            "Scan again every this many seconds and print what changed: buffers created and freed, per process.",
            valueName: "seconds"))
    var watch: Double?

    @Option(help: ArgumentHelp("With --watch: stop after this many scans (default: never).", valueName: "n"))
    var scans: Int?

    /// The JSON schema's version; it changes only when a field changes meaning or goes away.
    static let schemaVersion = 1

    func validate() throws {
        if let watch, !(watch > 0 && watch.isFinite) {
            throw ValidationError("--watch takes a number of seconds above 0")
        }
        if let scans, scans < 1 { throw ValidationError("--scans takes a count of 1 or more") }
        if scans != nil && watch == nil { throw ValidationError("--scans goes with --watch") }
        if let pid, pid <= 0 { throw ValidationError("--pid takes a process id above 0") }
    }

    func run() throws {
        if let pid, kill(pid, 0) != 0 && errno == ESRCH {
            throw ValidationError("no process \(pid)")
        }
        var snapshot = scan()
        print(json ? Self.json(snapshot) : Self.table(snapshot, by: by))
        guard let watch else { return }
        fflush(nil)  // a pipe to a monitor sees each scan as it ends, the first one too
        var done = 1
        while scans.map({ done < $0 }) ?? true {
            sleep(seconds: watch)
            let next = scan()
            let changes = next.changes(since: snapshot)
            if json {
                print(Self.json(changes))
            } else if !changes.isEmpty {
                print(Self.describe(changes))
            }
            fflush(nil)
            snapshot = next
            done += 1
        }
    }

    private func scan() -> DMABufSnapshot {
        let snapshot = DMABufSnapshot.scan()
        return pid.map { snapshot.only(pid: $0) } ?? snapshot
    }

    // MARK: Tables

    /// The table for `view`, with the totals and what could not be read, in 80 columns.
    static func table(_ snapshot: DMABufSnapshot, by view: View) -> String {
        var lines: [String] = []
        switch view {
        case .buffer:
            lines.append("   INODE      SIZE EXPORTER        NAME         HOLDERS")
            for buffer in snapshot.buffers {
                let holders: String
                switch buffer.holders.count {
                case 0:
                    let devices = buffer.attachments.map { $0.isEmpty ? "" : ": " + $0.joined(separator: " ") } ?? ""
                    holders = "kernel only" + devices
                case 1: holders = holderText(buffer.holders[0])
                default:
                    holders =
                        "\(buffer.holders.count) procs: " + buffer.holders.map { "\($0.pid)" }.joined(separator: " ")
                }
                lines.append(
                    column(String(buffer.inode), 8, right: true) + " "
                        + column(ByteCount.short(buffer.size), 9, right: true) + " "
                        + column(buffer.exporterName ?? "?", 15) + " " + column(buffer.name ?? "-", 12) + " "
                        + clip(holders, 80 - 48))
            }
        case .process:
            lines.append("     PID COMMAND          BUFFERS      SIZE       RSS       PSS")
            for process in snapshot.processes {
                lines.append(
                    column(String(process.pid), 8, right: true) + " " + column(process.command, 16) + " "
                        + column(String(process.bufferCount), 7, right: true) + " "
                        + [process.size, process.rss, process.pss].map { column(ByteCount.short($0), 9, right: true) }
                        .joined(separator: " "))
            }
        case .exporter:
            lines.append("EXPORTER                  BUFFERS      SIZE")
            for exporter in snapshot.exporters {
                lines.append(
                    column(exporter.name ?? "? (only mapped)", 24) + " "
                        + column(String(exporter.bufferCount), 8, right: true)
                        + " " + column(ByteCount.short(exporter.size), 9, right: true))
            }
        }
        let total = snapshot.total
        lines.append(
            "total: \(total.bufferCount) buffer\(total.bufferCount == 1 ? "" : "s"), \(ByteCount.short(total.size))"
                + (total.kernelOnlyCount > 0 ? ", \(total.kernelOnlyCount) held by the kernel only" : ""))
        if snapshot.isPartial {
            lines.append("partial: \(snapshot.unreadable.count) thing(s) could not be read (--json lists them all):")
            for entry in snapshot.unreadable.prefix(3) { lines.append(clip("  \(entry.path): \(entry.reason)", 80)) }
            if snapshot.unreadable.count > 3 { lines.append("  ...") }
        }
        return lines.joined(separator: "\n")
    }

    /// "1234 app fd 3,4 map 1": the pid, command, fds and mapping count.
    private static func holderText(_ holder: DMABufSnapshot.Holder) -> String {
        var text = "\(holder.pid) \(holder.command)"
        if !holder.fds.isEmpty { text += " fd " + holder.fds.map(String.init).joined(separator: ",") }
        if holder.mappings > 0 { text += " map \(holder.mappings)" }
        return text
    }

    /// What changed, one line per buffer and process: "+ 1077 4 MiB drm frame-0 (1234:app)".
    static func describe(_ changes: DMABufSnapshot.Changes) -> String {
        var lines: [String] = []
        for (sign, buffers) in [("+", changes.created), ("-", changes.freed)] {
            for buffer in buffers {
                let holders = buffer.holders.map { "\($0.pid):\(printable($0.command))" }.joined(separator: " ")
                lines.append(
                    clip(
                        "\(sign) \(buffer.inode) \(ByteCount.short(buffer.size)) \(buffer.exporterName ?? "?") "
                            + "\(printable(buffer.name ?? "-")) (\(holders.isEmpty ? "kernel only" : holders))", 80))
            }
        }
        for change in changes.processes {
            let count = change.bufferCount.after - change.bufferCount.before
            let size = change.size.after - change.size.before
            lines.append(
                clip(
                    "  \(change.pid) \(printable(change.command)): \(count >= 0 ? "+" : "")\(count) buffers, "
                        + "\(size >= 0 ? "+" : "-")\(ByteCount.short(abs(size))) (now \(change.bufferCount.after), "
                        + "\(ByteCount.short(change.size.after)))", 80))
        }
        return lines.joined(separator: "\n")
    }

    /// Control characters as "?": names are set by whoever holds the buffer and may hold newlines.
    private static func printable(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "?" : $0 }))
    }

    private static func column(_ text: String, _ width: Int, right: Bool = false) -> String {
        let cell = clip(text, width)
        let pad = String(repeating: " ", count: max(0, width - cell.count))
        return right ? pad + cell : cell + pad
    }

    /// `text`, printable, in at most `width` columns: cut short with "~".
    private static func clip(_ text: String, _ width: Int) -> String {
        let text = printable(text)
        return text.count <= width ? text : String(text.prefix(width - 1)) + "~"
    }

    // MARK: JSON

    /// The snapshot as JSON, schema version ``schemaVersion`` (documented in the README).
    static func json(_ snapshot: DMABufSnapshot) -> String {
        let q = Sources.quoted
        func optional(_ text: String?) -> String { text.map(q) ?? "null" }
        let unreadable = snapshot.unreadable.map { "{\"path\": \(q($0.path)), \"reason\": \(q($0.reason))}" }
        let buffers = snapshot.buffers.map { buffer in
            let holders = buffer.holders.map { holder in
                "{\"pid\": \(holder.pid), \"comm\": \(q(holder.command)), \"fds\": [\(holder.fds.map(String.init).joined(separator: ", "))], "
                    + "\"maps\": \(holder.mappings), \"mapped\": \(holder.mappedBytes)}"
            }
            let attachments = buffer.attachments.map { "[" + $0.map(q).joined(separator: ", ") + "]" } ?? "null"
            return
                "{\"inode\": \(buffer.inode), \"size\": \(buffer.size), \"exporter\": \(optional(buffer.exporterName)), "
                + "\"name\": \(optional(buffer.name)), \"kernel_only\": \(buffer.isKernelOnly), "
                + "\"holders\": [\(holders.joined(separator: ", "))], \"attachments\": \(attachments)}"
        }
        let processes = snapshot.processes.map {
            "{\"pid\": \($0.pid), \"comm\": \(q($0.command)), \"buffers\": \($0.bufferCount), \"size\": \($0.size), "
                + "\"rss\": \($0.rss), \"pss\": \($0.pss)}"
        }
        let exporters = snapshot.exporters.map {
            "{\"name\": \(optional($0.name)), \"buffers\": \($0.bufferCount), \"size\": \($0.size)}"
        }
        let total = snapshot.total
        return """
            {
              "version": \(schemaVersion),
              "partial": \(snapshot.isPartial),
              "unreadable": \(array(unreadable)),
              "kernel_list": \(optional(snapshot.kernelList?.rawValue)),
              "buffers": \(array(buffers)),
              "processes": \(array(processes)),
              "exporters": \(array(exporters)),
              "total": {"buffers": \(total.bufferCount), "size": \(total.size), "kernel_only": \(total.kernelOnlyCount)}
            }
            """
    }

    /// What changed, as one JSON line (for --watch --json): created and freed inodes, and processes.
    static func json(_ changes: DMABufSnapshot.Changes) -> String {
        let processes = changes.processes.map {
            "{\"pid\": \($0.pid), \"comm\": \(Sources.quoted($0.command)), \"buffers\": [\($0.bufferCount.before), "
                + "\($0.bufferCount.after)], \"size\": [\($0.size.before), \($0.size.after)]}"
        }
        return
            "{\"version\": \(schemaVersion), \"created\": [\(changes.created.map { String($0.inode) }.joined(separator: ", "))], "
            + "\"freed\": [\(changes.freed.map { String($0.inode) }.joined(separator: ", "))], "
            + "\"processes\": [\(processes.joined(separator: ", "))]}"
    }

    private static func array(_ items: [String]) -> String {
        items.isEmpty ? "[]" : "[\n    " + items.joined(separator: ",\n    ") + "\n  ]"
    }
}
