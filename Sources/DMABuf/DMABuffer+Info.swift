#if os(Linux)
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemPackage

extension DMABuffer {
    /// Everything the kernel says about the buffer in `/proc/self/fdinfo/<fd>`: size, exporter,
    /// name, inode, file count, open flags. Reads the file each time (the name can change).
    ///
    /// - Throws: a ``DMABufError`` if the fd's fdinfo cannot be read or parsed.
    public borrowing func info() throws(DMABufError) -> Info {
        try withUnsafeDescriptor { fd throws(DMABufError) in try Info(reading: fd) }
    }

    /// What the kernel says about an open dma-buf in `/proc/<pid>/fdinfo/<fd>`:
    ///
    /// ```
    /// pos:	0
    /// flags:	02000002
    /// mnt_id:	15
    /// ino:	1077
    /// size:	4096
    /// count:	1
    /// exp_name:	dmabuf_exporter
    /// name:	frame-0
    /// ```
    public struct Info: Hashable, Sendable {
        /// Bytes in the buffer.
        public var size: Int
        /// The exporter, as it named itself (`exp_name`): "dmabuf_exporter", "drm", "system", "udmabuf", ...
        public var exporterName: String
        /// The name given with DMA_BUF_SET_NAME or at allocation; nil if it has none.
        public var name: String?
        /// The dma-buf's inode (kernel 5.14 and later print it); equal inodes mean the same buffer.
        public var inode: UInt64?
        /// How many open files refer to the buffer (`count`); nil if the kernel did not say.
        public var fileCount: Int?
        /// The fd's open flags (`flags`, printed in octal), such as O_RDWR | O_CLOEXEC.
        public var openFlags: Int32?

        /// Info from its parts.
        public init(
            size: Int, exporterName: String, name: String? = nil,
            inode: UInt64? = nil, fileCount: Int? = nil, openFlags: Int32? = nil
        ) {
            self.size = size
            self.exporterName = exporterName
            self.name = name
            self.inode = inode
            self.fileCount = fileCount
            self.openFlags = openFlags
        }

        /// Parses the text of an fdinfo file.
        ///
        /// The kernel prints the name last and verbatim: it may hold any byte but NUL, newlines too.
        /// So a `name:` line takes the rest of the text, less its final newline, and the lines in it
        /// are not fields.
        ///
        /// - Parameters:
        ///   - text: the file's text.
        ///   - source: where the text came from, for errors ("/proc/self/fdinfo/5").
        /// - Throws: ``DMABufError/Code/notADMABuf`` if it is well-formed but not a dma-buf's (no
        ///   `exp_name`); ``DMABufError/Code/malformedInput`` if it is malformed (a line without a
        ///   colon, a missing or bad number). Neither carries an errno.
        public init(fdinfo text: String, source: String = "fdinfo") throws(DMABufError) {
            func malformed(_ why: String) -> DMABufError {
                DMABufError(.malformedInput, operation: "parse fdinfo", target: source, hint: why)
            }
            var fields: [Substring: Substring] = [:]
            for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
                guard let colon = line.firstIndex(of: ":") else {
                    throw malformed("Line \(index + 1) has no colon: \"\(line.prefix(64))\"")
                }
                // The kernel prints "key:\tvalue"; a name may itself begin with blanks, so drop one tab only.
                var value = line[line.index(after: colon)...]
                if value.first == "\t" { value = value.dropFirst() }
                if line[..<colon] == "name" {
                    var name = text.utf8[value.startIndex...]
                    if name.last == UInt8(ascii: "\n") { name = name.dropLast() }
                    fields["name"] = Substring(name)
                    break
                }
                fields[line[..<colon]] = value
            }
            func number<N: FixedWidthInteger>(_ key: Substring, radix: Int = 10) throws(DMABufError) -> N? {
                guard let text = fields[key] else { return nil }
                let digits = text.trimmingBlanks()
                guard digits.first != "-" && digits.first != "+", let value = N(digits, radix: radix) else {
                    throw malformed("\(key) is not a number: \"\(text.prefix(64))\"")
                }
                return value
            }
            guard let exporterName = fields["exp_name"] else {
                throw DMABufError(
                    .notADMABuf, operation: "parse fdinfo", target: source,
                    hint: "It is not a dma-buf: its fdinfo has no exp_name")
            }
            guard let size: Int = try number("size") else { throw malformed("It has exp_name but no size") }
            self.init(
                size: size, exporterName: String(exporterName), name: fields["name"].map(String.init),
                inode: try number("ino"), fileCount: try number("count"), openFlags: try number("flags", radix: 8))
        }

        /// Reads and parses `/proc/self/fdinfo/<fd>`.
        ///
        /// - Throws: ``DMABufError/Code/badDescriptor`` if `fd` is not open;
        ///   ``DMABufError/Code/notADMABuf`` if it is not a dma-buf.
        package init(reading fd: FileDescriptor) throws(DMABufError) {
            let path = "/proc/self/fdinfo/\(fd.rawValue)"
            // Without this, a closed fd would show as ENOENT (no such fdinfo file).
            _ = try Sys.statusFlags(fd).get("read", on: path, hint: { _ in "It is not an open file descriptor" })
            let bytes = try Sys.readFile(FilePath(path)).get("read", on: path)
            try self.init(fdinfo: String(decoding: bytes, as: UTF8.self), source: path)
        }

        /// The access mode in ``openFlags``, if the kernel printed them.
        public var accessMode: FileDescriptor.AccessMode? {
            openFlags.map { FileDescriptor.AccessMode(rawValue: $0 & O_ACCMODE) }
        }
    }
}

extension Substring {
    fileprivate func trimmingBlanks() -> Substring {
        let isText: (Character) -> Bool = { $0 != " " && $0 != "\t" }
        guard let first = firstIndex(where: isText), let last = lastIndex(where: isText) else { return "" }
        return self[first...last]
    }
}
#endif  // os(Linux)
