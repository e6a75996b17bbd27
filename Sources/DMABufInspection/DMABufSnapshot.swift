#if os(Linux)
import DMABuf

/// Every dma-buf on the system at one moment, and who holds it: the per-buffer, per-process and
/// per-exporter views and the totals. ``scan(options:)`` makes one from /proc and the kernel's
/// buffer list.
///
/// A process *holds* a buffer when it has an fd of it or maps it. Sizes are in bytes.
public struct DMABufSnapshot: Hashable, Sendable {
    /// Every buffer seen, by inode.
    public var buffers: [Buffer]
    /// Every process that holds a buffer, by pid.
    public var processes: [Process]
    /// Every exporter with a buffer, largest total first.
    public var exporters: [Exporter]
    /// All of ``buffers``.
    public var total: Total
    /// What could not be read, and why. Empty for a complete snapshot.
    public var unreadable: [Unreadable]
    /// Where the kernel's own list of buffers came from, if it was read.
    public var kernelList: KernelList?

    /// Whether something could not be read (see ``unreadable``): then processes or buffers, or
    /// their attachments, may be missing.
    public var isPartial: Bool { !unreadable.isEmpty }

    /// One dma-buf.
    public struct Buffer: Hashable, Sendable {
        /// Its inode: unique among the buffers that exist at one time.
        public var inode: UInt64
        /// Bytes in it. For a buffer only mapped, when the kernel's list could not be read, it is
        /// the end of the furthest mapping: what is known of it.
        public var size: Int
        /// Its exporter (`exp_name`); nil if only a mapping was seen and the kernel's list was not read.
        public var exporterName: String?
        /// Its name; nil if it has none.
        public var name: String?
        /// The processes holding it, by pid.
        public var holders: [Holder]
        /// The devices attached to it; nil if the kernel's list that says (bufinfo) was not read.
        public var attachments: [String]?

        /// Whether no process holds it: the kernel (an importer, or the exporter) keeps it alive.
        public var isKernelOnly: Bool { holders.isEmpty }

        /// A buffer from its parts.
        public init(
            inode: UInt64, size: Int, exporterName: String?, name: String?, holders: [Holder],
            attachments: [String]?
        ) {
            self.inode = inode
            self.size = size
            self.exporterName = exporterName
            self.name = name
            self.holders = holders
            self.attachments = attachments
        }
    }

    /// One process's hold on one buffer.
    public struct Holder: Hashable, Sendable {
        /// The process.
        public var pid: Int32
        /// Its command name (`/proc/<pid>/comm`).
        public var command: String
        /// Its fds of the buffer, in order.
        public var fds: [Int32]
        /// How many mappings of the buffer it has.
        public var mappings: Int
        /// The bytes of the buffer it maps, each counted once however many mappings cover it.
        public var mappedBytes: Int

        init(_ process: ProcessObservation, fds: [Int32]) {
            self.init(pid: process.pid, command: process.command, fds: fds, mappings: 0, mappedBytes: 0)
        }

        /// A holder from its parts.
        public init(pid: Int32, command: String, fds: [Int32], mappings: Int, mappedBytes: Int) {
            self.pid = pid
            self.command = command
            self.fds = fds
            self.mappings = mappings
            self.mappedBytes = mappedBytes
        }
    }

    /// One process's dma-buf memory.
    public struct Process: Hashable, Sendable {
        /// The process.
        public var pid: Int32
        /// Its command name.
        public var command: String
        /// How many buffers it holds.
        public var bufferCount: Int
        /// Their total size.
        public var size: Int
        /// The bytes of them it maps.
        public var rss: Int
        /// Its proportional share: each buffer's size divided by the number of processes holding
        /// it (rounded down), summed.
        public var pss: Int

        /// A process from its parts.
        public init(pid: Int32, command: String, bufferCount: Int, size: Int, rss: Int, pss: Int) {
            self.pid = pid
            self.command = command
            self.bufferCount = bufferCount
            self.size = size
            self.rss = rss
            self.pss = pss
        }
    }

    /// One exporter's buffers.
    public struct Exporter: Hashable, Sendable {
        /// Its name, or nil for buffers whose exporter is not known.
        public var name: String?
        /// How many buffers.
        public var bufferCount: Int
        /// Their total size.
        public var size: Int

        /// An exporter's totals from their parts.
        public init(name: String?, bufferCount: Int, size: Int) {
            self.name = name
            self.bufferCount = bufferCount
            self.size = size
        }
    }

    /// The system's totals.
    public struct Total: Hashable, Sendable {
        /// How many buffers.
        public var bufferCount: Int
        /// Their total size.
        public var size: Int
        /// How many of them no process holds.
        public var kernelOnlyCount: Int

        /// Totals from their parts.
        public init(bufferCount: Int, size: Int, kernelOnlyCount: Int) {
            self.bufferCount = bufferCount
            self.size = size
            self.kernelOnlyCount = kernelOnlyCount
        }
    }

    /// Something the scan could not read.
    public struct Unreadable: Hashable, Sendable {
        /// The file or directory: "/proc/123/fd", "/sys/kernel/debug/dma_buf/bufinfo".
        public var path: String
        /// Why, and what to do about it if anything can be done.
        public var reason: String

        /// An entry from its parts.
        public init(path: String, reason: String) {
            self.path = path
            self.reason = reason
        }
    }

    /// The kernel's list of every buffer, which also shows those no process holds.
    public enum KernelList: String, Hashable, Sendable {
        /// debugfs `dma_buf/bufinfo`, with attachments.
        case bufinfo
        /// `/sys/kernel/dmabuf/buffers` (no attachments).
        case sysfs
    }

    /// What one process was seen to hold.
    package struct ProcessObservation: Sendable {
        /// The process.
        package var pid: Int32
        /// Its command name.
        package var command: String
        /// Its dma-buf fds, with their fdinfo.
        package var descriptors: [(fd: Int32, info: DMABuffer.Info)]
        /// Its dma-buf mappings.
        package var mappings: [DMABufMapping]

        /// An observation from its parts.
        package init(
            pid: Int32, command: String, descriptors: [(fd: Int32, info: DMABuffer.Info)], mappings: [DMABufMapping]
        ) {
            self.pid = pid
            self.command = command
            self.descriptors = descriptors
            self.mappings = mappings
        }
    }

    /// A snapshot assembled from what was read: each process's fds and mappings, the kernel's
    /// list if it was read, and what could not be read.
    ///
    /// A buffer's size, exporter and name come from fdinfo first, then the kernel's list, then
    /// (name only, and the mapped extent as the size) a mapping. When the kernel's list was read,
    /// a `/dmabuf:` mapping whose inode it does not have is not a dma-buf (a file with that path)
    /// and is left out. An fdinfo without an inode (kernels before 5.14) cannot be matched to
    /// others and is left out, noted in ``unreadable``.
    package init(
        processes observations: [ProcessObservation], kernelBuffers: (records: [KernelBufferRecord], from: KernelList)?,
        unreadable: [Unreadable]
    ) {
        var unreadable = unreadable
        var buffers: [UInt64: Buffer] = [:]
        var kernelByInode: [UInt64: KernelBufferRecord] = [:]
        for record in kernelBuffers?.records ?? [] { kernelByInode[record.inode] = record }
        func buffer(_ inode: UInt64, _ make: () -> Buffer) {
            if buffers[inode] == nil { buffers[inode] = make() }
        }
        var mappedRanges: [[UInt64: [Range<UInt64>]]] = []
        let observations = observations.sorted { $0.pid < $1.pid }
        // fdinfo first: it says most about a buffer, so it is the one a mapping must not pre-empt.
        var held: [[UInt64: Holder]] = observations.map { _ in [:] }
        for (index, process) in observations.enumerated() {
            for (fd, info) in process.descriptors {
                guard let inode = info.inode else {
                    unreadable.append(
                        Unreadable(
                            path: "/proc/\(process.pid)/fdinfo/\(fd)",
                            reason: "It has no ino (kernels before 5.14), so the buffer cannot be told apart"))
                    continue
                }
                buffer(inode) {
                    Buffer(
                        inode: inode, size: info.size, exporterName: info.exporterName, name: info.name,
                        holders: [], attachments: nil)
                }
                held[index][inode, default: Holder(process, fds: [])].fds.append(fd)
            }
        }
        for (index, process) in observations.enumerated() {
            var mapped: [UInt64: [Range<UInt64>]] = [:]
            for mapping in process.mappings {
                let known = kernelByInode[mapping.inode] != nil || buffers[mapping.inode] != nil
                if kernelBuffers != nil && !known { continue }
                held[index][mapping.inode, default: Holder(process, fds: [])].mappings += 1
                mapped[mapping.inode, default: []].append(mapping.bufferRange)
            }
            for inode in mapped.keys where buffers[inode] == nil {
                if let record = kernelByInode[inode] {
                    buffer(inode) {
                        Buffer(
                            inode: inode, size: record.size, exporterName: record.exporterName, name: record.name,
                            holders: [], attachments: nil)
                    }
                } else {
                    // Only mappings say it exists: its name from maps, its size at least their extent.
                    let name = process.mappings.first { $0.inode == inode }?.name
                    buffer(inode) {
                        Buffer(
                            inode: inode, size: 0, exporterName: nil, name: name?.isEmpty == false ? name : nil,
                            holders: [], attachments: nil)
                    }
                }
            }
            for (inode, ranges) in mapped where buffers[inode]!.exporterName == nil {
                let extent = ranges.map(\.upperBound).max() ?? 0
                buffers[inode]!.size = max(buffers[inode]!.size, Int(clamping: extent))
            }
            mappedRanges.append(mapped)
        }
        var holders: [UInt64: [Holder]] = [:]
        for (index, _) in observations.enumerated() {
            for (inode, var holder) in held[index] {
                if let ranges = mappedRanges[index][inode] {
                    let size = UInt64(buffers[inode]!.size)
                    holder.mappedBytes = Int(clamping: unionLength(ranges.map { $0.clamped(to: 0..<size) }))
                }
                holders[inode, default: []].append(holder)
            }
        }
        for inode in holders.keys { holders[inode]!.sort { $0.pid < $1.pid } }
        for record in kernelBuffers?.records ?? [] {
            buffer(record.inode) {
                Buffer(
                    inode: record.inode, size: record.size, exporterName: record.exporterName, name: record.name,
                    holders: [], attachments: nil)
            }
            if kernelBuffers?.from == .bufinfo { buffers[record.inode]!.attachments = record.attachments ?? [] }
        }
        for (inode, list) in holders { buffers[inode]!.holders = list }

        self.buffers = buffers.values.sorted { $0.inode < $1.inode }
        self.unreadable = unreadable
        self.kernelList = kernelBuffers?.from

        var processes: [Int32: Process] = [:]
        var exporters: [String?: Exporter] = [:]
        var total = Total(bufferCount: 0, size: 0, kernelOnlyCount: 0)
        for buffer in self.buffers {
            total.bufferCount += 1
            total.size += buffer.size
            if buffer.isKernelOnly { total.kernelOnlyCount += 1 }
            exporters[buffer.exporterName, default: Exporter(name: buffer.exporterName, bufferCount: 0, size: 0)]
                .bufferCount += 1
            exporters[buffer.exporterName]!.size += buffer.size
            for holder in buffer.holders {
                var process =
                    processes[holder.pid]
                    ?? Process(pid: holder.pid, command: holder.command, bufferCount: 0, size: 0, rss: 0, pss: 0)
                process.bufferCount += 1
                process.size += buffer.size
                process.rss += holder.mappedBytes
                process.pss += buffer.size / buffer.holders.count
                processes[holder.pid] = process
            }
        }
        self.processes = processes.values.sorted { $0.pid < $1.pid }
        self.exporters = exporters.values.sorted {
            ($0.size, $0.bufferCount, $1.name ?? "") > ($1.size, $1.bufferCount, $0.name ?? "")
        }
        self.total = total
    }

    /// The part of the snapshot that concerns process `pid`: the buffers it holds (with all their
    /// holders), its own line in the process view, and exporters and totals over those buffers.
    public func only(pid: Int32) -> DMABufSnapshot {
        var copy = self
        copy.buffers = buffers.filter { $0.holders.contains { $0.pid == pid } }
        copy.processes = processes.filter { $0.pid == pid }
        var exporters: [String?: Exporter] = [:]
        for buffer in copy.buffers {
            exporters[buffer.exporterName, default: Exporter(name: buffer.exporterName, bufferCount: 0, size: 0)]
                .bufferCount += 1
            exporters[buffer.exporterName]!.size += buffer.size
        }
        copy.exporters = self.exporters.compactMap { exporters[$0.name] }
        copy.total = Total(
            bufferCount: copy.buffers.count, size: copy.buffers.reduce(0) { $0 + $1.size }, kernelOnlyCount: 0)
        return copy
    }
}

/// The bytes covered by `ranges`, each byte once.
private func unionLength(_ ranges: [Range<UInt64>]) -> UInt64 {
    var total: UInt64 = 0
    var end: UInt64 = 0
    for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
        let start = max(range.lowerBound, end)
        if range.upperBound > start {
            total += range.upperBound - start
            end = range.upperBound
        }
    }
    return total
}
#endif  // os(Linux)
