import DMABuf
import DMABufTestSupport
import SystemPackage
import Testing

@Suite struct FDInfoParsing {
    typealias Info = DMABuffer.Info
    static let dmabuf =
        "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1077\nsize:\t8192\ncount:\t2\nexp_name:\tdmabuf_exporter\nname:\tframe-0\n"

    @Test func parsesEveryField() throws {
        let info = try Info(fdinfo: Self.dmabuf)
        #expect(
            info
                == Info(
                    size: 8192, exporterName: "dmabuf_exporter", name: "frame-0", inode: 1077, fileCount: 2,
                    openFlags: 0o2000002))
        #expect(info.accessMode == .readWrite)
    }

    @Test func nameIsOptionalAndKeptVerbatim() throws {
        #expect(try Info(fdinfo: "size:\t4096\nexp_name:\tdrm\n").name == nil)
        #expect(try Info(fdinfo: "size:\t4096\nexp_name:\tdrm\nname:\t  a: b\t\n").name == "  a: b\t")
        #expect(try Info(fdinfo: "size:\t4096\nexp_name:\tdrm\nname:\t\n").name == "")
    }

    /// A name is set by whoever holds the fd (DMA_BUF_SET_NAME) and printed verbatim, last.
    @Test func nameWithNewlinesIsNeitherFieldsNorMalformed() throws {
        let spoof = "x\nsize:\t1\nexp_name:\tevil\ngarbage"
        let info = try Info(fdinfo: "size:\t8192\ncount:\t1\nexp_name:\tdrm\nname:\t\(spoof)\n")
        #expect(info == Info(size: 8192, exporterName: "drm", name: spoof, fileCount: 1))
        #expect(try Info(fdinfo: "size:\t1\nexp_name:\tdrm\nname:\t\n\n").name == "\n")
        #expect(try Info(fdinfo: "size:\t1\nexp_name:\tdrm\nname:\tx\r\n").name == "x\r")
    }

    @Test func olderKernelsWithoutInodeOrCount() throws {
        let info = try Info(fdinfo: "pos:\t0\nflags:\t02\nmnt_id:\t9\nsize:\t4096\nexp_name:\tsystem\n")
        #expect(info.inode == nil && info.fileCount == nil && info.exporterName == "system")
    }

    @Test func toleratesBlanksAroundNumbersAndNoFinalNewline() throws {
        let info = try Info(fdinfo: "size: 4096 \nexp_name:\tdrm")
        #expect(info.size == 4096 && info.exporterName == "drm")
    }

    @Test func notADmaBuf() {
        // a memfd's fdinfo: well-formed, but no exp_name
        let error = expectError(.notADMABuf, .libraryMade) {
            try Info(
                fdinfo: "pos:\t0\nflags:\t0100002\nmnt_id:\t1\nino:\t3\nseals:\t0\n", source: "/proc/self/fdinfo/7")
        }
        #expect(error?.target == "/proc/self/fdinfo/7")
    }

    @Test(
        arguments: [
            "size:\t4096\nexp_name:\tdrm\ngarbage\n", "exp_name:\tdrm\n", "size:\tbig\nexp_name:\tdrm\n",
            "size:\t-1x\nexp_name:\tdrm\n", "size:\t99999999999999999999999\nexp_name:\tdrm\n",
            "size:\t4096\nexp_name:\tdrm\nino:\t\n", "size:\t4096\nexp_name:\tdrm\nflags:\t09\n",
            "size:\t-4096\nexp_name:\tdrm\n", "size:\t+4096\nexp_name:\tdrm\n",
            "size:\t4096\ncount:\t-1\nexp_name:\tdrm\n",
        ].map(Quoted.init))
    func malformed(quoted: Quoted) {
        expectError(.malformedInput, .libraryMade, quotesInput: true) { try Info(fdinfo: quoted.text) }
    }

    @Test func emptyInputIsNotADmaBuf() {
        expectError(.notADMABuf, .libraryMade) { try Info(fdinfo: "") }
    }
}
