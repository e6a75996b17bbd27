import SystemPackage
import Testing

@testable import DMABuf

extension DMABufTests {
    @Suite struct FDInfoParsing {
        static let dmabuf = "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1077\nsize:\t8192\ncount:\t2\nexp_name:\tdmabuf_exporter\nname:\tframe-0\n"

        @Test func parsesEveryField() throws {
            let info = try DMABufferInfo(fdinfo: Self.dmabuf)
            #expect(info == DMABufferInfo(size: 8192, exporterName: "dmabuf_exporter", name: "frame-0",
                                          inode: 1077, fileCount: 2, openFlags: 0o2000002))
        }

        @Test func nameIsOptionalAndKeptVerbatim() throws {
            #expect(try DMABufferInfo(fdinfo: "size:\t4096\nexp_name:\tdrm\n").name == nil)
            let spaced = try DMABufferInfo(fdinfo: "size:\t4096\nexp_name:\tdrm\nname:\t  a: b\t\n")
            #expect(spaced.name == "  a: b\t")
            #expect(try DMABufferInfo(fdinfo: "size:\t4096\nexp_name:\tdrm\nname:\t\n").name == "")
        }

        /// A name is set by whoever holds the fd (DMA_BUF_SET_NAME) and printed verbatim, last.
        @Test func nameWithNewlinesIsNeitherFieldsNorMalformed() throws {
            let spoof = "x\nsize:\t1\nexp_name:\tevil\ngarbage"
            let info = try DMABufferInfo(fdinfo: "size:\t8192\ncount:\t1\nexp_name:\tdrm\nname:\t\(spoof)\n")
            #expect(info == DMABufferInfo(size: 8192, exporterName: "drm", name: spoof, fileCount: 1))
            #expect(try DMABufferInfo(fdinfo: "size:\t1\nexp_name:\tdrm\nname:\t\n\n").name == "\n")
            #expect(try DMABufferInfo(fdinfo: "size:\t1\nexp_name:\tdrm\nname:\tx\r\n").name == "x\r")
        }

        @Test func olderKernelsWithoutInodeOrCount() throws {
            let info = try DMABufferInfo(fdinfo: "pos:\t0\nflags:\t02\nmnt_id:\t9\nsize:\t4096\nexp_name:\tsystem\n")
            #expect(info.inode == nil && info.fileCount == nil && info.exporterName == "system")
        }

        @Test func toleratesBlanksAroundNumbersAndNoFinalNewline() throws {
            let info = try DMABufferInfo(fdinfo: "size: 4096 \nexp_name:\tdrm")
            #expect(info.size == 4096 && info.exporterName == "drm")
        }

        @Test func notADmaBuf() {
            // a memfd's fdinfo: well-formed, but no exp_name
            let error = expectError(.invalidArgument) {
                try DMABufferInfo(fdinfo: "pos:\t0\nflags:\t0100002\nmnt_id:\t1\nino:\t3\nseals:\t0\n", source: "/proc/self/fdinfo/7")
            }
            #expect(error?.description.contains("not a dma-buf") == true)
            #expect(error?.target == "/proc/self/fdinfo/7")
        }

        @Test(arguments: [
            ("size:\t4096\nexp_name:\tdrm\ngarbage\n", "no colon"),
            ("exp_name:\tdrm\n", "no size"),
            ("size:\tbig\nexp_name:\tdrm\n", "size is not a number"),
            ("size:\t-1x\nexp_name:\tdrm\n", "size is not a number"),
            ("size:\t99999999999999999999999\nexp_name:\tdrm\n", "size is not a number"),
            ("size:\t4096\nexp_name:\tdrm\nino:\t\n", "ino is not a number"),
            ("size:\t4096\nexp_name:\tdrm\nflags:\t09\n", "flags is not a number"),
            ("size:\t-4096\nexp_name:\tdrm\n", "size is not a number"),
            ("size:\t+4096\nexp_name:\tdrm\n", "size is not a number"),
            ("size:\t4096\ncount:\t-1\nexp_name:\tdrm\n", "count is not a number"),
        ])
        func malformed(text: String, reason: String) {
            let error = expectError(.badMessage) { try DMABufferInfo(fdinfo: text) }
            #expect(error?.description.contains(reason) == true, "\(String(describing: error))")
        }

        @Test func emptyInputIsNotADmaBuf() {
            expectError(.invalidArgument) { try DMABufferInfo(fdinfo: "") }
        }

        @Test func readsThisProcess() throws {
            let fd = try makeMemfd(size: 4096)
            defer { try? fd.close() }
            let error = expectError(.invalidArgument) { try DMABufferInfo(of: fd) }
            #expect(error?.target == "/proc/self/fdinfo/\(fd.rawValue)")
        }
    }
}
