import ArgumentParser
import DMABuf
import DMABufInspection
import DMABufTestSupport
import Foundation
import SystemPackage
import Testing

@testable import DMABufCLI

@Suite struct MapsParsing {
    static let maps = """
        55d0c8a00000-55d0c8a21000 r--p 00000000 08:01 1311235                    /usr/bin/app
        7f2b5c000000-7f2b5c400000 rw-s 00000000 00:0d 1077                       /dmabuf:frame-0
        7f2b5c400000-7f2b5c401000 rw-s 00002000 00:0d 1078                       /dmabuf:a:b:c
        7f2b5c401000-7f2b5c402000 r--s 00000000 00:0d 1079                       /dmabuf:
        7f2b5c402000-7f2b5c403000 rw-p 00000000 08:01 99                         /home/u/dmabuf:x
        7f2b5c403000-7f2b5c404000 rw-s 00000000 00:0d 1080                       /dmabuf:two\\012lines
        7ffd1a000000-7ffd1a021000 rw-p 00000000 00:00 0                          [stack]

        """

    @Test func findsDmaBufLinesOnly() throws {
        let mappings = try DMABufMapping.parse(maps: Self.maps)
        #expect(
            mappings == [
                DMABufMapping(inode: 1077, addresses: 0x7f2b_5c00_0000..<0x7f2b_5c40_0000, offset: 0, name: "frame-0"),
                DMABufMapping(
                    inode: 1078, addresses: 0x7f2b_5c40_0000..<0x7f2b_5c40_1000, offset: 0x2000, name: "a:b:c"),
                DMABufMapping(inode: 1079, addresses: 0x7f2b_5c40_1000..<0x7f2b_5c40_2000, offset: 0, name: ""),
                DMABufMapping(
                    inode: 1080, addresses: 0x7f2b_5c40_3000..<0x7f2b_5c40_4000, offset: 0, name: "two\\012lines"),
            ])
        #expect(mappings[0].length == 4 << 20 && mappings[1].bufferRange == 0x2000..<0x3000)
    }

    @Test func nameWithSpacesKeepsThem() throws {
        let line = "7f00-8000 rw-s 00000000 00:0d 5   /dmabuf:  padded name \n"
        #expect(try DMABufMapping.parse(maps: line).first?.name == "  padded name ")
    }

    @Test func truncatedLastLineIsLeftOut() throws {
        let cut = "7f00-8000 rw-s 00000000 00:0d 5   /dmabuf:a\n7f00-8000 rw-s 0000 /dmabuf:"
        #expect(try DMABufMapping.parse(maps: cut).map(\.inode) == [5])
        #expect(try DMABufMapping.parse(maps: "").isEmpty)
    }

    @Test(
        arguments: [
            "7f00-8000 rw-s 0000 /dmabuf:x\nmore\n", "7f00 rw-s 00000000 00:0d 5 /dmabuf:x\n",
            "8000-7f00 rw-s 00000000 00:0d 5 /dmabuf:x\n", "7f00-8000 rw-s 00000000 00:0d -5 /dmabuf:x\n",
            "7f00-8000 rw-s zz 00:0d 5 /dmabuf:x\n",
            "7f00-8000 rw-s ffffffffffffffff 00:0d 5 /dmabuf:x\n",
            "0-fffffffffffffffffff rw-s 0 00:0d 5 /dmabuf:x\n",
            "7f00-8000 rw-s 0 00:0d 99999999999999999999999 /dmabuf:x\n",
        ].map(Quoted.init))
    func malformed(quoted: Quoted) {
        expectError(.malformedInput, .libraryMade, quotesInput: true) {
            try DMABufMapping.parse(maps: quoted.text, source: "/proc/1/maps")
        }
    }
}

extension String {
    /// The text before the second record of `BufinfoParsing.bufinfo`, and from it on.
    fileprivate var splitAtSecondRecord: (String, String) {
        let second = range(of: "01048576\t")!.lowerBound
        return (String(self[..<second]), String(self[second...]))
    }
}

@Suite struct BufinfoParsing {
    /// What 6.1 and 6.12 print (dma_buf_debug_show), with a fence and an attachment.
    static let bufinfo = """

        Dma-buf Objects:
        size    \tflags   \tmode    \tcount   \texp_name\tino     \tname
        00004096\t00000002\t00080007\t00000003\tdrm\t00001077\tframe-0
        \twrite fence:vgem vgem seq 1 unsignalled
        \tAttached Devices:
        \tvgem
        Total 1 devices attached

        01048576\t00080002\t000a0007\t00000001\tsystem\t00001078\t<none>
        \tAttached Devices:
        Total 0 devices attached


        Total 2 objects, 1052672 bytes

        """

    @Test func parsesEveryRecord() throws {
        let (records, complete, _) = try KernelBufferRecord.parse(bufinfo: Self.bufinfo)
        #expect(complete)
        #expect(
            records == [
                KernelBufferRecord(
                    inode: 1077, size: 4096, exporterName: "drm", name: "frame-0", fileCount: 3, attachments: ["vgem"]),
                KernelBufferRecord(
                    inode: 1078, size: 1 << 20, exporterName: "system", name: nil, fileCount: 1, attachments: []),
            ])
    }

    @Test func emptyListIsComplete() throws {
        let text =
            "\nDma-buf Objects:\nsize    \tflags   \tmode    \tcount   \texp_name\tino     \tname\n\nTotal 0 objects, 0 bytes\n"
        let (records, complete, _) = try KernelBufferRecord.parse(bufinfo: text)
        #expect(records.isEmpty && complete)
    }

    /// A name is set by its holder and printed verbatim: tabs, colons and newlines too.
    @Test func namesWithTabsAndNewlines() throws {
        let text = Self.bufinfo.replacingOccurrences(of: "\tframe-0\n", with: "\tx\ty: z\n00004096\tspoof\n")
        let (records, complete, _) = try KernelBufferRecord.parse(bufinfo: text)
        #expect(complete && records.count == 2)
        #expect(records[0].name == "x\ty: z\n00004096\tspoof" && records[0].attachments == ["vgem"])
    }

    @Test func truncatedTextGivesWhatCameBefore() throws {
        for cut in [Self.bufinfo.count - 5, 200, 120, 100] {
            let (records, complete, _) = try KernelBufferRecord.parse(bufinfo: String(Self.bufinfo.prefix(cut)))
            #expect(!complete, "cut at \(cut)")
            #expect(records.count <= 2)
        }
    }

    @Test(arguments: ["", "garbage\n", "\nDma-buf Objects:\n"].map(Quoted.init))
    func notBufinfo(quoted: Quoted) {
        expectError(.malformedInput, .libraryMade, quotesInput: true) {
            try KernelBufferRecord.parse(bufinfo: quoted.text)
        }
    }

    /// A record that does not parse is left out and said why; the records around it stay.
    @Test(
        arguments: [
            "99999999999999999999999\t0\t0\t1\tdrm\t5\tx\n\tAttached Devices:\nTotal 0 devices attached\n",
            "4096\t0\t0\t-1\tdrm\t5\tx\n\tAttached Devices:\nTotal 0 devices attached\n",
            "4096\t0\t0\t1\t\t5\tx\n\tAttached Devices:\nTotal 0 devices attached\n",
            "4096\t0\t0\t1\tdrm\t5\tx\n\tread fence:a b seq 1 signalled\n\tsomething else\n",
            "4096\t0\t0\t1\tdrm\t5\tx\n\tAttached Devices:\nnot a total\n\n",
            "4096\t0\t0\t1\tdrm\t5\tx\n\tAttached Devices:\n\tvgem\nTotal 2 devices attached\n\n",
        ].map(Quoted.init))
    func badRecordIsConfined(quoted: Quoted) throws {
        let (good, bad) = Self.bufinfo.splitAtSecondRecord
        let (records, complete, skipped) = try KernelBufferRecord.parse(bufinfo: good + quoted.text + "\n" + bad)
        #expect(records.map(\.inode) == [1077, 1078] && complete)
        #expect(skipped.count == 1, "\(skipped)")
    }

    /// A name is the holder's to choose (up to 31 bytes): lines in it that look like bufinfo's
    /// own are part of the name, and cannot add or hide attachments.
    @Test(arguments: ["\na fence:\nb", "\n\tAttached Devices:\n\tforged", "\nTotal 9 devices attached\n"])
    func namesCannotForgeStructure(name: String) throws {
        let (good, rest) = Self.bufinfo.splitAtSecondRecord
        let hostile = "00004096\t00000002\t00080007\t00000001\tdrm\t00001079\t\(name)\n\tAttached Devices:\n\tvgem\n"
        let (records, complete, skipped) = try KernelBufferRecord.parse(
            bufinfo: good + hostile + "Total 1 devices attached\n\n" + rest)
        #expect(complete && skipped.isEmpty, "\(skipped)")
        #expect(records.map(\.inode) == [1077, 1079, 1078])
        #expect(records.map(\.attachments) == [["vgem"], ["vgem"], []])
        #expect(!records.contains { $0.attachments?.contains("forged") == true })
    }

    @Test func sysfsDirectory() throws {
        #expect(
            try KernelBufferRecord(sysfsDirectory: "1077", exporterName: "system\n", size: "8192\n")
                == KernelBufferRecord(inode: 1077, size: 8192, exporterName: "system"))
        for (directory, exporter, size) in [("x", "system", "1"), ("1", "", "1"), ("1", "a", "-1"), ("1", "a", "")] {
            expectError(.malformedInput, .libraryMade) {
                try KernelBufferRecord(sysfsDirectory: directory, exporterName: exporter, size: size)
            }
        }
    }
}

@Suite struct SnapshotAssembly {
    typealias Snapshot = DMABufSnapshot
    static func info(_ inode: UInt64, _ size: Int, _ exporter: String, _ name: String? = nil) -> DMABuffer.Info {
        DMABuffer.Info(size: size, exporterName: exporter, name: name, inode: inode)
    }
    static func held(_ fd: Int32, _ info: DMABuffer.Info) -> (fd: Int32, info: DMABuffer.Info) { (fd, info) }
    static func map(_ inode: UInt64, _ length: UInt64, offset: UInt64 = 0, at start: UInt64 = 0x1000_0000)
        -> DMABufMapping
    {
        DMABufMapping(inode: inode, addresses: start..<(start + length), offset: offset, name: "n")
    }

    /// Two processes share buffer 10, process 3 maps buffer 11 only, buffer 12 is the kernel's.
    static let snapshot = Snapshot(
        processes: [
            .init(pid: 2, command: "b", descriptors: [Self.held(5, info(10, 12288, "drm", "shared"))], mappings: []),
            .init(
                pid: 1, command: "a",
                descriptors: [Self.held(3, info(10, 12288, "drm", "shared")), Self.held(4, info(10, 12288, "drm"))],
                mappings: [Self.map(10, 4096), Self.map(10, 8192, at: 0x2000_0000), Self.map(99, 4096)]),
            .init(pid: 3, command: "c", descriptors: [], mappings: [Self.map(11, 4096, offset: 4096)]),
        ],
        kernelBuffers: (
            records: [
                KernelBufferRecord(inode: 10, size: 12288, exporterName: "drm", attachments: ["vgem"]),
                KernelBufferRecord(inode: 11, size: 8192, exporterName: "system", name: "only-mapped", attachments: []),
                KernelBufferRecord(inode: 12, size: 4096, exporterName: "drm", attachments: ["vgem"]),
            ], from: .bufinfo
        ),
        unreadable: [])

    @Test func buffersHoldersAndAttachments() {
        let buffers = Self.snapshot.buffers
        #expect(buffers.map(\.inode) == [10, 11, 12])
        #expect(buffers[0].name == "shared" && buffers[0].attachments == ["vgem"] && !buffers[0].isKernelOnly)
        #expect(
            buffers[0].holders == [
                .init(pid: 1, command: "a", fds: [3, 4], mappings: 2, mappedBytes: 8192),
                .init(pid: 2, command: "b", fds: [5], mappings: 0, mappedBytes: 0),
            ])
        #expect(buffers[1].holders == [.init(pid: 3, command: "c", fds: [], mappings: 1, mappedBytes: 4096)])
        #expect(buffers[1].name == "only-mapped" && buffers[1].exporterName == "system")
        #expect(buffers[2].isKernelOnly && buffers[2].holders.isEmpty)
        #expect(!Self.snapshot.isPartial && Self.snapshot.kernelList == .bufinfo)
    }

    @Test func processesExportersAndTotals() {
        #expect(
            Self.snapshot.processes == [
                .init(pid: 1, command: "a", bufferCount: 1, size: 12288, rss: 8192, pss: 6144),
                .init(pid: 2, command: "b", bufferCount: 1, size: 12288, rss: 0, pss: 6144),
                .init(pid: 3, command: "c", bufferCount: 1, size: 8192, rss: 4096, pss: 8192),
            ])
        #expect(
            Self.snapshot.exporters == [
                .init(name: "drm", bufferCount: 2, size: 16384), .init(name: "system", bufferCount: 1, size: 8192),
            ])
        #expect(Self.snapshot.total == .init(bufferCount: 3, size: 24576, kernelOnlyCount: 1))
    }

    @Test func withoutTheKernelListMappingsAloneSayWhatTheyCan() {
        let snapshot = Snapshot(
            processes: [
                .init(pid: 7, command: "c", descriptors: [], mappings: [Self.map(11, 4096, offset: 8192)]),
                .init(
                    pid: 8, command: "d", descriptors: [Self.held(3, Self.info(11, 16384, "system", "from-fdinfo"))],
                    mappings: []),
                .init(
                    pid: 9, command: "e", descriptors: [],
                    mappings: [Self.map(20, 4096, offset: 4096), Self.map(20, 4096)]),
            ], kernelBuffers: nil,
            unreadable: [.init(path: "/sys/kernel/debug/dma_buf/bufinfo", reason: "Permission denied")])
        #expect(snapshot.isPartial && snapshot.kernelList == nil)
        #expect(snapshot.buffers.map(\.inode) == [11, 20])
        // fdinfo from another process beats the mapping, whichever comes first
        #expect(snapshot.buffers[0].size == 16384 && snapshot.buffers[0].name == "from-fdinfo")
        #expect(snapshot.buffers[0].attachments == nil)
        #expect(
            snapshot.buffers[1]
                == .init(
                    inode: 20, size: 8192, exporterName: nil, name: "n",
                    holders: [.init(pid: 9, command: "e", fds: [], mappings: 2, mappedBytes: 8192)], attachments: nil))
        #expect(snapshot.exporters.last == .init(name: nil, bufferCount: 1, size: 8192))
    }

    @Test func fdinfoWithoutInodeIsNotedNotGuessed() {
        let old = DMABuffer.Info(size: 4096, exporterName: "drm")
        let snapshot = Snapshot(
            processes: [.init(pid: 4, command: "old", descriptors: [Self.held(3, old)], mappings: [])],
            kernelBuffers: nil,
            unreadable: [])
        #expect(snapshot.buffers.isEmpty && snapshot.unreadable.map(\.path) == ["/proc/4/fdinfo/3"])
    }

    @Test func onlyOneProcessKeepsItsBuffersWholePss() {
        let mine = Self.snapshot.only(pid: 2)
        #expect(mine.buffers.map(\.inode) == [10] && mine.buffers[0].holders.count == 2)
        #expect(mine.processes == [.init(pid: 2, command: "b", bufferCount: 1, size: 12288, rss: 0, pss: 6144)])
        #expect(mine.exporters == [.init(name: "drm", bufferCount: 1, size: 12288)])
        #expect(mine.total == .init(bufferCount: 1, size: 12288, kernelOnlyCount: 0))
    }

    @Test func changesBetweenScans() {
        let later = Snapshot(
            processes: [
                .init(
                    pid: 2, command: "b",
                    descriptors: [Self.held(5, Self.info(10, 12288, "drm")), Self.held(6, Self.info(13, 4096, "drm"))],
                    mappings: [])
            ],
            kernelBuffers: nil, unreadable: [])
        let changes = later.changes(since: Self.snapshot)
        #expect(changes.created.map(\.inode) == [13])
        #expect(changes.freed.map(\.inode) == [11, 12])
        #expect(changes.processes.map(\.pid) == [1, 2, 3])
        #expect(changes.processes[1].bufferCount == (1, 2) && changes.processes[1].size == (12288, 16384))
        #expect(changes.processes[0].bufferCount == (1, 0))
        #expect(later.changes(since: later).isEmpty)
    }
}

@Suite struct ListCommand {
    @Test func tablesFitIn80ColumnsWhateverTheNames() throws {
        let hostile = "a\nb\tc: " + String(repeating: "x", count: 40)
        let snapshot = DMABufSnapshot(
            processes: [
                .init(
                    pid: 4_000_000, command: hostile,
                    descriptors: (3..<40).map {
                        SnapshotAssembly.held(
                            $0, .init(size: Int.max / 64, exporterName: hostile, name: hostile, inode: UInt64($0)))
                    },
                    mappings: [])
            ], kernelBuffers: nil, unreadable: [.init(path: "/proc/1/fd", reason: hostile)])
        for view in List.View.allCases {
            let table = List.table(snapshot, by: view)
            for line in table.split(separator: "\n", omittingEmptySubsequences: false) {
                #expect(line.count <= 80, "\(view): \(line.debugDescription)")
                #expect(!line.contains("\t"))
            }
        }
        #expect(List.table(snapshot, by: .buffer).contains("partial:"))
    }

    @Test func jsonIsValidAndHasTheSchema() throws {
        let text = List.json(SnapshotAssembly.snapshot)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["version"] as? Int == 1 && object["partial"] as? Bool == false)
        #expect(
            Set(object.keys) == [
                "version", "partial", "unreadable", "kernel_list", "buffers", "processes", "exporters", "total",
            ])
        let buffers = try #require(object["buffers"] as? [[String: Any]])
        #expect(Set(buffers[0].keys) == ["inode", "size", "exporter", "name", "kernel_only", "holders", "attachments"])
        let holder = try #require((buffers[0]["holders"] as? [[String: Any]])?.first)
        #expect(holder["fds"] as? [Int] == [3, 4] && holder["maps"] as? Int == 2 && holder["comm"] as? String == "a")
        let process = try #require((object["processes"] as? [[String: Any]])?.first)
        #expect(Set(process.keys) == ["pid", "comm", "buffers", "size", "rss", "pss"])
        #expect(object["total"] as? [String: Int] == ["buffers": 3, "size": 24576, "kernel_only": 1])
    }

    @Test func jsonEscapesHostileNames() throws {
        let name = "q\"\\\n\t\u{1}é"
        let snapshot = DMABufSnapshot(
            processes: [
                .init(
                    pid: 1, command: name,
                    descriptors: [SnapshotAssembly.held(3, .init(size: 1, exporterName: "e", name: name, inode: 1))],
                    mappings: [])
            ],
            kernelBuffers: nil, unreadable: [])
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(List.json(snapshot).utf8)) as? [String: Any])
        let buffer = try #require((object["buffers"] as? [[String: Any]])?.first)
        #expect(buffer["name"] as? String == name && buffer["exporter"] as? String == "e")
        let changes = DMABufSnapshot(processes: [], kernelBuffers: nil, unreadable: []).changes(since: snapshot)
        let line = try #require(try JSONSerialization.jsonObject(with: Data(List.json(changes).utf8)) as? [String: Any])
        #expect(line["freed"] as? [Int] == [1])
    }

    @Test func watchDescribesChanges() {
        let before = SnapshotAssembly.snapshot
        let after = DMABufSnapshot(processes: [], kernelBuffers: nil, unreadable: [])
        let text = List.describe(after.changes(since: before))
        #expect(text.contains("- 10 12 KiB drm shared (1:a 2:b)"))
        #expect(text.contains("- 12 4 KiB drm - (kernel only)"))
        #expect(text.contains("  1 a: -1 buffers, -12 KiB (now 0, 0 B)"))
    }

    @Test(arguments: [
        ["ls", "--watch", "0"], ["ls", "--scans", "2"], ["ls", "--watch", "1", "--scans", "0"], ["ls", "--pid", "0"],
        ["ls", "--by", "inode"],
    ])
    func refusesBadArguments(arguments: [String]) {
        #expect(throws: (any Error).self) { try DMABufCommand.parseAsRoot(arguments) }
    }
}

/// `DMABufSnapshot.scan(options:)` pointed at files a test writes, in the layout the kernel
/// uses: what it takes from each, and what it says it could not read. None of the test kernels
/// has CONFIG_DMABUF_SYSFS_STATS, so the sysfs fallback is driven through its directory option.
@Suite struct ScanWithOptions {
    /// A fresh directory for one test's files; removed at the end of `body`.
    func withDirectory(_ body: (FilePath) throws -> Void) throws {
        var template = Array("/tmp/dmabuf-scan-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw Errno(rawValue: errno) }
        let directory = FilePath(String(cString: made))
        defer { _ = try? FileManager.default.removeItem(atPath: directory.string) }
        try body(directory)
    }

    func write(_ text: String, to path: FilePath) throws {
        try FileManager.default.createDirectory(
            atPath: path.removingLastComponent().string, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path.string))
    }

    /// Options that read nothing of the system's: an empty procfs, no bufinfo, no sysfs list.
    func options(in directory: FilePath) throws -> DMABufSnapshot.ScanOptions {
        var options = DMABufSnapshot.ScanOptions()
        options.proc = directory.appending("proc")
        options.bufinfo = directory.appending("bufinfo")
        options.sysfsBuffers = directory.appending("buffers")
        try FileManager.default.createDirectory(atPath: options.proc.string, withIntermediateDirectories: true)
        return options
    }

    @Test func withoutBufinfoTheSysfsListIsRead() throws {
        try withDirectory { directory in
            let options = try options(in: directory)
            let buffers = options.sysfsBuffers
            try write("udmabuf\n", to: buffers.appending("4242/exporter_name"))
            try write("65536\n", to: buffers.appending("4242/size"))
            try write("system\n", to: buffers.appending("4243/exporter_name"))
            try write("4096\n", to: buffers.appending("4243/size"))
            // Freed between the listing and the read: left out, not reported.
            try write("system\n", to: buffers.appending("4244/exporter_name"))
            // Not a buffer's directory: reported.
            try write("system\n", to: buffers.appending("junk/exporter_name"))
            try write("1\n", to: buffers.appending("junk/size"))

            let snapshot = DMABufSnapshot.scan(options: options)
            #expect(snapshot.kernelList == .sysfs)
            #expect(snapshot.buffers.map(\.inode) == [4242, 4243])
            #expect(snapshot.buffers.map(\.size) == [65536, 4096])
            #expect(snapshot.buffers.map(\.exporterName) == ["udmabuf", "system"])
            #expect(snapshot.buffers.allSatisfy { $0.isKernelOnly && $0.attachments == nil && $0.name == nil })
            #expect(snapshot.total == DMABufSnapshot.Total(bufferCount: 2, size: 65536 + 4096, kernelOnlyCount: 2))
            #expect(snapshot.processes.isEmpty)
            #expect(
                snapshot.exporters == [
                    DMABufSnapshot.Exporter(name: "udmabuf", bufferCount: 1, size: 65536),
                    DMABufSnapshot.Exporter(name: "system", bufferCount: 1, size: 4096),
                ], "the largest first")
            #expect(snapshot.isPartial)
            let why = snapshot.unreadable.first { $0.path == options.bufinfo.string }?.reason ?? ""
            #expect(why.contains("debugfs is not mounted") && why.contains("attachments, are not shown"), "\(why)")
            let junk = snapshot.unreadable.first { $0.path == buffers.appending("junk").string }?.reason ?? ""
            #expect(junk.contains("not an inode number"), "\(snapshot.unreadable)")
            #expect(snapshot.unreadable.count == 2, "\(snapshot.unreadable)")
        }
    }

    @Test func bufinfoComesFirstAndTheSysfsListIsNotRead() throws {
        try withDirectory { directory in
            let options = try options(in: directory)
            try write(BufinfoParsing.bufinfo, to: options.bufinfo)
            try write("system\n", to: options.sysfsBuffers.appending("9999/exporter_name"))
            try write("4096\n", to: options.sysfsBuffers.appending("9999/size"))
            let snapshot = DMABufSnapshot.scan(options: options)
            #expect(snapshot.kernelList == .bufinfo)
            #expect(snapshot.buffers.map(\.inode) == [1077, 1078], "the sysfs list is not read")
            #expect(snapshot.buffers.first?.attachments == ["vgem"] && snapshot.buffers.first?.name == "frame-0")
            #expect(!snapshot.isPartial, "\(snapshot.unreadable)")
        }
    }

    /// A bufinfo cut short says so, keeps the records before the cut, and needs no fallback; one
    /// that is not bufinfo at all is reported and the sysfs list read instead.
    @Test func aBrokenBufinfoIsReported() throws {
        try withDirectory { directory in
            let options = try options(in: directory)
            try write(String(BufinfoParsing.bufinfo.prefix(200)), to: options.bufinfo)
            let cut = DMABufSnapshot.scan(options: options)
            #expect(cut.kernelList == .bufinfo && cut.buffers.map(\.inode) == [1077])
            #expect(cut.unreadable == [.init(path: options.bufinfo.string, reason: "It ended early")])

            try write("garbage\n", to: options.bufinfo)
            try write("system\n", to: options.sysfsBuffers.appending("77/exporter_name"))
            try write("8192\n", to: options.sysfsBuffers.appending("77/size"))
            let garbage = DMABufSnapshot.scan(options: options)
            #expect(garbage.kernelList == .sysfs && garbage.buffers.map(\.inode) == [77])
            #expect(garbage.unreadable.map(\.path) == [options.bufinfo.string], "\(garbage.unreadable)")
        }
    }

    @Test func withoutProcfsOrAnyKernelListItSaysSo() throws {
        try withDirectory { directory in
            var options = try options(in: directory)
            options.proc = directory.appending("no-proc")
            let snapshot = DMABufSnapshot.scan(options: options)
            #expect(snapshot.kernelList == nil && snapshot.buffers.isEmpty && snapshot.processes.isEmpty)
            let proc = snapshot.unreadable.first { $0.path == options.proc.string }?.reason ?? ""
            #expect(proc.contains("is procfs mounted?"), "\(snapshot.unreadable)")
            #expect(snapshot.unreadable.count == 2, "procfs and bufinfo: \(snapshot.unreadable)")
        }
    }
}
