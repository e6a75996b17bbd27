#if os(Linux)
import DMABuf

// The kernel's text about dma-bufs, parsed. Pure functions: text in, values out. One fd's
// fdinfo is `DMABuffer.Info(fdinfo:)` in the core library; the rest is here.

/// One mapping of a dma-buf in a process, from a `/dmabuf:NAME` line of `/proc/<pid>/maps`:
///
/// ```
/// 7f2b5c000000-7f2b5c400000 rw-s 00000000 00:0d 1077                       /dmabuf:frame-0
/// ```
public struct DMABufMapping: Hashable, Sendable {
    /// The buffer's inode: the same number as `ino` in its fdinfo.
    public var inode: UInt64
    /// The first and one past the last mapped address.
    public var addresses: Range<UInt64>
    /// Where in the buffer the mapping starts, in bytes.
    public var offset: UInt64
    /// The buffer's name as maps prints it: the kernel escapes a newline as `\012`, and cuts the name
    /// at 31 bytes (DMA_BUF_NAME_LEN less one) on the kernels that have a limit. Empty if it has none.
    public var name: String

    /// A mapping from its parts.
    public init(inode: UInt64, addresses: Range<UInt64>, offset: UInt64, name: String) {
        self.inode = inode
        self.addresses = addresses
        self.offset = offset
        self.name = name
    }

    /// Bytes mapped.
    public var length: UInt64 { addresses.upperBound - addresses.lowerBound }

    /// The bytes of the buffer it maps.
    public var bufferRange: Range<UInt64> { offset..<(offset + length) }

    /// The dma-buf mappings in the text of a `/proc/<pid>/maps` file; other lines are left out.
    ///
    /// A line is a dma-buf's when its path is `/dmabuf:` and a name. Such a line that does not
    /// have the kernel's fields (`start-end perms offset dev inode`) is malformed; the last line
    /// may be cut short (a file that changed as it was read) and is then left out.
    ///
    /// - Throws: `DMABufError.Code.malformedInput` for a dma-buf line that is malformed.
    public static func parse(maps text: String, source: String = "maps") throws(DMABufError) -> [DMABufMapping] {
        var mappings: [DMABufMapping] = []
        // Split as bytes: as Characters, "\r\n" is one, and a name ending in "\r" would join two lines.
        let lines = text.utf8.split(separator: UInt8(ascii: "\n")).map(Substring.init)
        let prefix = Array("/dmabuf:".utf8)
        for (index, line) in lines.enumerated() where line.utf8.contains(prefix) {
            // As bytes again: a name may begin with a combining mark, which as Characters joins
            // the colon before it.
            let fields = line.utf8.split(separator: UInt8(ascii: " "), maxSplits: 5).map(Substring.init)
            guard fields.count == 6 else {
                if index == lines.count - 1 && !text.hasSuffix("\n") { break }
                throw malformed("maps", source, "Line \(index + 1) has too few fields: \"\(line.prefix(80))\"")
            }
            let path = fields[5].utf8.drop { $0 == UInt8(ascii: " ") }
            guard path.starts(with: prefix) else { continue }
            let bounds = fields[0].split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count == 2, let start = UInt64(bounds[0], radix: 16), let end = UInt64(bounds[1], radix: 16),
                start < end, let offset = UInt64(fields[2], radix: 16),
                offset.addingReportingOverflow(end - start).overflow == false,
                let inode = UInt64(fields[4], radix: 10)
            else {
                throw malformed("maps", source, "Line \(index + 1) is not a mapping: \"\(line.prefix(80))\"")
            }
            mappings.append(
                DMABufMapping(
                    inode: inode, addresses: start..<end, offset: offset,
                    name: String(Substring(path.dropFirst(prefix.count)))
                ))
        }
        return mappings
    }
}

/// One buffer as the kernel's own list shows it: debugfs `dma_buf/bufinfo`, or the directory
/// `/sys/kernel/dmabuf/buffers/<inode>`. Unlike fdinfo, it includes buffers no process holds.
public struct KernelBufferRecord: Hashable, Sendable {
    /// The buffer's inode.
    public var inode: UInt64
    /// Bytes in the buffer.
    public var size: Int
    /// The exporter's name (`exp_name`).
    public var exporterName: String
    /// The buffer's name; nil if it has none (bufinfo prints `<none>`) or the source does not say.
    public var name: String?
    /// References to the buffer's file (bufinfo's `count`); nil where the source does not say.
    public var fileCount: Int?
    /// The devices attached to it (importers), by device name; nil where the source does not say.
    public var attachments: [String]?

    /// A record from its parts.
    public init(
        inode: UInt64, size: Int, exporterName: String, name: String? = nil, fileCount: Int? = nil,
        attachments: [String]? = nil
    ) {
        self.inode = inode
        self.size = size
        self.exporterName = exporterName
        self.name = name
        self.fileCount = fileCount
        self.attachments = attachments
    }

    /// The records in the text of debugfs `dma_buf/bufinfo`, in the kernel's order.
    ///
    /// Its form is the same on 6.1 and 6.12 (`dma_buf_debug_show` in drivers/dma-buf/dma-buf.c):
    ///
    /// ```
    ///
    /// Dma-buf Objects:
    /// size    	flags   	mode    	count   	exp_name	ino     	name
    /// 00004096	00000002	00080007	00000002	drm	00001077	frame-0
    /// 	write fence:vgem vgem seq 1 unsignalled
    /// 	Attached Devices:
    /// 	vgem
    /// Total 1 devices attached
    ///
    ///
    /// Total 1 objects, 4096 bytes
    /// ```
    ///
    /// The name comes last and verbatim: a newline in it continues the name on the next lines, up
    /// to the buffer's first fence line or `Attached Devices:`. Its holder chooses it (up to 31
    /// bytes), so it is read with care: fence lines are matched whole, which a name is too short
    /// to spell after a newline; a name that spells `Attached Devices:` adds no attachment (the
    /// list is the one the kernel's count closes) but is cut there. A name from fdinfo is the one
    /// to trust.
    ///
    /// - Returns: the records; whether the text was complete (it ended with the `Total ...
    ///   objects` line; a text cut short gives the records before the cut); and, for each record
    ///   that does not parse, which line and why. Such a record is left out, and the records
    ///   around it are not.
    /// - Throws: `DMABufError.Code.malformedInput` if it has no header: it is not bufinfo.
    public static func parse(bufinfo text: String, source: String = "bufinfo") throws(DMABufError) -> (
        records: [KernelBufferRecord], isComplete: Bool, skipped: [String]
    ) {
        // Split as bytes: a split by Characters costs several times more on a list of thousands.
        var lines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Substring.init)
        // The last line is empty in a whole file; anything else there was cut short.
        let wasCut = lines.removeLast() != ""
        guard let header = lines.firstIndex(where: { $0.hasPrefix("size") && $0.contains("\texp_name\t") }) else {
            throw malformed("bufinfo", source, "It has no \"size ... exp_name ... name\" header line")
        }
        enum Place { case betweenBuffers, inName, inFences, inAttachments, afterBadRecord }
        var records: [KernelBufferRecord] = []
        var skipped: [String] = []
        var place = Place.betweenBuffers
        var index = header + 1
        while index < lines.count {
            let line = lines[index]
            index += 1
            // Leaves out the record being read; the next buffer's line starts afresh.
            func badRecord(_ why: String) {
                let inode = records.removeLast().inode
                skipped.append("\(source) line \(index): \(why); buffer \(inode) is left out")
                place = .afterBadRecord
            }
            switch place {
            case .inName, .inFences:
                if line == attachmentsHeading {
                    place = .inAttachments
                } else if isFence(line) {
                    place = .inFences
                } else if place == .inName {
                    // "<none>" read as no name was the start of a name after all.
                    records[records.count - 1].name = (records[records.count - 1].name ?? "<none>") + "\n" + line
                } else {
                    badRecord("neither a fence nor \"Attached Devices:\"")
                }
                continue
            case .inAttachments:
                if line.hasPrefix("\t") {
                    records[records.count - 1].attachments!.append(String(line.dropFirst()))
                } else if let total = attachmentCount(line) {
                    // More than the kernel counted: a name spelt the heading, and the list is the
                    // count after the kernel's own heading, which then is among them.
                    var listed = records[records.count - 1].attachments!
                    if listed.count > total && listed[listed.count - total - 1] == attachmentsHeading.dropFirst() {
                        listed.removeFirst(listed.count - total)
                    }
                    if listed.count == total {
                        records[records.count - 1].attachments = listed
                        place = .betweenBuffers
                    } else {
                        badRecord("\(listed.count) devices listed, \(total) counted")
                    }
                } else {
                    badRecord("it ends no list of attached devices")
                }
                continue
            case .afterBadRecord:
                guard bufferLine(line) != nil || isObjectsTotal(line) else { continue }
            case .betweenBuffers:
                if line.isEmpty { continue }
            }
            if isObjectsTotal(line) { return (records, !wasCut, skipped) }
            guard let record = bufferLine(line) else {
                skipped.append("\(source) line \(index): not a buffer: \"\(line.prefix(80))\"")
                place = .afterBadRecord
                continue
            }
            records.append(record)
            place = .inName
        }
        // A name that still has no attachments list, or a list without its total: cut short.
        return (records, false, skipped)
    }

    /// The heading of a buffer's attachments.
    private static let attachmentsHeading: Substring = "\tAttached Devices:"

    /// A buffer's line: size, flags, mode, count, exp_name, ino and name, the name with any tabs.
    private static func bufferLine(_ line: Substring) -> KernelBufferRecord? {
        let fields = line.split(separator: "\t", maxSplits: 6, omittingEmptySubsequences: false)
        guard fields.count == 7, let size = Int(digits: fields[0]), UInt32(fields[1], radix: 16) != nil,
            UInt32(fields[2], radix: 16) != nil, let count = Int(digits: fields[3]), !fields[4].isEmpty,
            let inode = UInt64(digits: fields[5])
        else { return nil }
        return KernelBufferRecord(
            inode: inode, size: size, exporterName: String(fields[4]),
            name: fields[6] == "<none>" ? nil : String(fields[6]), fileCount: count, attachments: [])
    }

    /// `Total N objects, M bytes`, the list's last line.
    private static func isObjectsTotal(_ line: Substring) -> Bool {
        line.hasPrefix("Total ") && line.contains(" objects, ") && line.hasSuffix(" bytes")
    }

    /// N of `Total N devices attached`, which closes a buffer's attachments.
    private static func attachmentCount(_ line: Substring) -> Int? {
        guard line.hasPrefix("Total "), line.hasSuffix(" devices attached") else { return nil }
        return Int(digits: line.dropFirst("Total ".count).dropLast(" devices attached".count))
    }

    /// A whole fence line: `\t<usage> fence:<driver> <timeline> seq <n> signalled` (or
    /// `unsignalled`), as dma_resv_describe and dma_fence_describe print it; the timeline's name
    /// may hold spaces.
    private static func isFence(_ line: Substring) -> Bool {
        guard
            let usage = ["\tkernel fence:", "\twrite fence:", "\tread fence:", "\tbookkeep fence:"].first(where: {
                line.hasPrefix($0)
            })
        else { return false }
        let words = line.dropFirst(usage.count).split(separator: " ", omittingEmptySubsequences: false)
        guard words.count >= 5, let state = words.last, state == "signalled" || state == "unsignalled" else {
            return false
        }
        return words[words.count - 3] == "seq" && UInt64(digits: words[words.count - 2]) != nil
            && !words[0].isEmpty && words[1..<(words.count - 3)].contains { !$0.isEmpty }
    }

    /// The record for one directory of `/sys/kernel/dmabuf/buffers` (CONFIG_DMABUF_SYSFS_STATS):
    /// its name is the inode, and it holds `exporter_name` and `size` (each a line of text).
    ///
    /// - Throws: `DMABufError.Code.malformedInput` if the name is not an inode, the size is not a
    ///   number or the exporter's name is empty.
    public init(sysfsDirectory directory: String, exporterName: String, size: String) throws(DMABufError) {
        let source = "/sys/kernel/dmabuf/buffers/\(directory)"
        guard let inode = UInt64(digits: Substring(directory)) else {
            throw malformed("sysfs buffer", source, "The directory's name is not an inode number")
        }
        guard let bytes = Int(digits: size.trimmingFinalNewline()) else {
            throw malformed("sysfs buffer", source, "size is not a number: \"\(size.prefix(40))\"")
        }
        let exporter = exporterName.trimmingFinalNewline()
        guard !exporter.isEmpty else { throw malformed("sysfs buffer", source, "exporter_name is empty") }
        self.init(inode: inode, size: bytes, exporterName: String(exporter))
    }
}

extension Substring.UTF8View {
    /// Whether `bytes` occur in it.
    fileprivate func contains(_ bytes: [UInt8]) -> Bool {
        var start = startIndex
        while let first = self[start...].firstIndex(of: bytes[0]) {
            if self[first...].starts(with: bytes) { return true }
            start = index(after: first)
        }
        return false
    }
}

private func malformed(_ what: String, _ source: String, _ why: String) -> DMABufError {
    DMABufError(.malformedInput, operation: "parse \(what)", target: source, hint: why)
}

extension FixedWidthInteger {
    /// Decimal digits only (no sign, no blanks); nil if there are none or the value does not fit.
    init?(digits: Substring) {
        guard !digits.isEmpty, digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        self.init(digits, radix: 10)
    }
}

extension StringProtocol {
    fileprivate func trimmingFinalNewline() -> SubSequence {
        hasSuffix("\n") ? dropLast() : self[...]
    }
}
#endif  // os(Linux)
