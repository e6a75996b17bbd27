#if os(Linux)
import DMABuf
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemPackage

extension DMABufSnapshot {
    /// Where a scan reads from. The defaults are the system's own files; tests point them elsewhere.
    public struct ScanOptions: Sendable {
        /// procfs.
        public var proc: FilePath = "/proc"
        /// debugfs' list of every buffer, with attachments.
        public var bufinfo: FilePath = "/sys/kernel/debug/dma_buf/bufinfo"
        /// sysfs' list of every buffer (CONFIG_DMABUF_SYSFS_STATS), read when bufinfo cannot be.
        public var sysfsBuffers: FilePath = "/sys/kernel/dmabuf/buffers"

        /// The system's files.
        public init() {}
    }

    /// Scans the system: every process's dma-buf fds (`/proc/<pid>/fd` and `fdinfo`) and mappings
    /// (`/proc/<pid>/maps`), and the kernel's list of buffers (debugfs bufinfo, else
    /// `/sys/kernel/dmabuf/buffers`).
    ///
    /// It never fails: what it cannot read, it lists in ``unreadable`` and goes on. A process that
    /// exits during the scan, or whose files another user may not read, is such a thing; so is
    /// bufinfo for a user other than root, or where debugfs is not mounted.
    public static func scan(options: ScanOptions = ScanOptions()) -> DMABufSnapshot {
        var unreadable: [Unreadable] = []
        var observations: [ProcessObservation] = []
        // The kernel's list first: with bufinfo, an fd's inode (one stat) says all its fdinfo
        // would. The sysfs list has no names, so a held buffer's fdinfo is read all the same.
        let kernelList = readKernelList(options, unreadable: &unreadable)
        var known: [UInt64: KernelBufferRecord] = [:]
        if let kernelList, kernelList.from == .bufinfo {
            for record in kernelList.records where record.name?.contains("\n") != true {
                known[record.inode] = record
            }
        }
        var dmaBufDevice: dev_t?
        switch Sys.listDirectory(options.proc) {
        case .failure(let errno):
            unreadable.append(Unreadable(path: options.proc.string, reason: "\(errno): is procfs mounted?"))
        case .success(let names):
            for name in names {
                guard let pid = Int32(digits: Substring(name)) else { continue }
                if let observation = observe(
                    pid: pid, proc: options.proc, known: known, dmaBufDevice: &dmaBufDevice, unreadable: &unreadable)
                {
                    observations.append(observation)
                }
            }
        }
        return DMABufSnapshot(processes: observations, kernelBuffers: kernelList, unreadable: unreadable)
    }

    /// What process `pid` holds; nil if it holds nothing or exited. Failures go to `unreadable`.
    /// A buffer in `known` (the kernel's list, by inode) needs no fdinfo read.
    static func observe(
        pid: Int32, proc: FilePath, known: [UInt64: KernelBufferRecord], dmaBufDevice: inout dev_t?,
        unreadable: inout [Unreadable]
    ) -> ProcessObservation? {
        let directory = proc.appending("\(pid)")
        func note(_ path: FilePath, _ errno: Errno) {
            unreadable.append(Unreadable(path: path.string, reason: reason(errno)))
        }
        let command: String
        switch Sys.readFile(directory.appending("comm")) {
        case .success(let bytes): command = String(decoding: bytes.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        case .failure(let errno):
            if errno != .noSuchFileOrDirectory && errno != .noSuchProcess { note(directory.appending("comm"), errno) }
            return nil
        }
        var descriptors: [(fd: Int32, info: DMABuffer.Info)] = []
        let fdDirectory = directory.appending("fd")
        switch Sys.listDirectory(fdDirectory) {
        case .failure(.noSuchFileOrDirectory), .failure(.noSuchProcess): return nil
        case .failure(let errno): note(fdDirectory, errno)
        case .success(let names):
            for name in names {
                guard let fd = Int32(digits: Substring(name)) else { continue }
                let link = fdDirectory.appending(name)
                guard case .success(let status) = Sys.stat(link) else { continue }  // closed since the listing
                // Every dma-buf lives on the one dma-buf file system: once its device is known, a
                // stat tells a dma-buf fd; until then its link, "/dmabuf:NAME", does.
                if let device = dmaBufDevice {
                    guard status.st_dev == device else { continue }
                } else {
                    guard case .success(let target) = Sys.readLink(link, limit: 16), target.hasPrefix("/dmabuf:")
                    else { continue }
                }
                if let record = known[UInt64(status.st_ino)] {
                    let info = DMABuffer.Info(
                        size: record.size, exporterName: record.exporterName, name: record.name, inode: record.inode)
                    if dmaBufDevice == nil { dmaBufDevice = status.st_dev }
                    descriptors.append((fd, info))
                    continue
                }
                let path = directory.appending("fdinfo").appending(name)
                switch Sys.readFile(path) {
                case .success(let bytes):
                    do {
                        let info = try DMABuffer.Info(
                            fdinfo: String(decoding: bytes, as: UTF8.self), source: path.string)
                        if info.inode == UInt64(status.st_ino) { dmaBufDevice = status.st_dev }
                        descriptors.append((fd, info))
                    } catch  where error.code == .notADMABuf {
                        continue  // a file that merely has that path
                    } catch {
                        unreadable.append(Unreadable(path: path.string, reason: error.description))
                    }
                case .failure(.noSuchFileOrDirectory): continue  // closed since the listing
                case .failure(let errno): note(path, errno)
                }
            }
        }
        var mappings: [DMABufMapping] = []
        let maps = directory.appending("maps")
        switch Sys.readFile(maps) {
        case .success(let bytes):
            do {
                mappings = try DMABufMapping.parse(maps: String(decoding: bytes, as: UTF8.self), source: maps.string)
            } catch {
                unreadable.append(Unreadable(path: maps.string, reason: error.description))
            }
        case .failure(.noSuchFileOrDirectory), .failure(.noSuchProcess):
            // Exited after its fds were read: what it held may be gone too, so say so.
            if !descriptors.isEmpty { note(maps, .noSuchProcess) }
        case .failure(let errno): note(maps, errno)
        }
        if descriptors.isEmpty && mappings.isEmpty { return nil }
        return ProcessObservation(pid: pid, command: command, descriptors: descriptors, mappings: mappings)
    }

    /// bufinfo, else the sysfs list, else nil; failures go to `unreadable`.
    static func readKernelList(_ options: ScanOptions, unreadable: inout [Unreadable]) -> (
        records: [KernelBufferRecord], from: KernelList
    )? {
        switch Sys.readFile(options.bufinfo) {
        case .success(let bytes):
            do {
                let (records, isComplete, skipped) = try KernelBufferRecord.parse(
                    bufinfo: String(decoding: bytes, as: UTF8.self), source: options.bufinfo.string)
                if !isComplete {
                    unreadable.append(Unreadable(path: options.bufinfo.string, reason: "It ended early"))
                }
                unreadable += skipped.map { Unreadable(path: options.bufinfo.string, reason: $0) }
                return (records, .bufinfo)
            } catch {
                unreadable.append(Unreadable(path: options.bufinfo.string, reason: error.description))
            }
        case .failure(let errno):
            let why: String
            switch errno {
            case .noSuchFileOrDirectory:
                why =
                    "\(errno): debugfs is not mounted (mount -t debugfs none /sys/kernel/debug) or the kernel lacks it"
            case .permissionDenied, .notPermitted: why = "\(errno): only root may read debugfs"
            default: why = "\(errno)"
            }
            unreadable.append(
                Unreadable(
                    path: options.bufinfo.string,
                    reason: why + "; buffers no process holds, and attachments, are not shown"))
        }
        guard case .success(let names) = Sys.listDirectory(options.sysfsBuffers) else { return nil }
        var records: [KernelBufferRecord] = []
        for name in names {
            let directory = options.sysfsBuffers.appending(name)
            guard case .success(let exporter) = Sys.readFile(directory.appending("exporter_name")),
                case .success(let size) = Sys.readFile(directory.appending("size"))
            else { continue }  // freed since the listing
            do {
                records.append(
                    try KernelBufferRecord(
                        sysfsDirectory: name, exporterName: String(decoding: exporter, as: UTF8.self),
                        size: String(decoding: size, as: UTF8.self)))
            } catch {
                unreadable.append(Unreadable(path: directory.string, reason: error.description))
            }
        }
        return (records, .sysfs)
    }

    private static func reason(_ errno: Errno) -> String {
        switch errno {
        case .permissionDenied, .notPermitted: "\(errno): it belongs to another user; run as root to see it"
        case .noSuchProcess, .noSuchFileOrDirectory: "\(errno): the process exited during the scan"
        default: "\(errno)"
        }
    }
}
#endif  // os(Linux)
