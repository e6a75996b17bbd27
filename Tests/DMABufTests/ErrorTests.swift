import SystemPackage
import Testing

@testable import DMABuf

extension DMABufTests {
    @Suite struct ErrorDescriptions {
        @Test func operationTargetErrnoAndHint() {
            let error = DMABufError(.fileTooLarge, operation: "ALLOC ioctl", target: "/dev/dmabuf_exporter", hint: "Too big")
            #expect(error.description == "ALLOC ioctl on /dev/dmabuf_exporter: File too large [EFBIG]. Too big")
            #expect(error.errnoName == "EFBIG")
        }

        @Test func withoutTargetOrHint() {
            #expect(DMABufError(.interrupted, operation: "read").description == "read: Interrupted system call [EINTR]")
        }

        @Test func unknownErrnoHasANumber() {
            #expect(DMABufError(Errno(rawValue: 4242), operation: "x").errnoName == "errno 4242")
        }

        @Test func missingDeviceSaysHowToLoadTheModule() {
            let error = expectError(.noSuchFileOrDirectory) { try DMABufExporter(path: "/nonexistent/dmabuf_exporter") }
            let text = error?.description ?? ""
            #expect(text.hasPrefix("open on /nonexistent/dmabuf_exporter: No such file or directory [ENOENT]"))
            #expect(text.contains("module is not loaded"))
            #expect(text.contains("sudo insmod kernel/dmabuf_exporter.ko"))
            #expect(text.contains("make demo"))
        }

        @Test func forbiddenDeviceSaysItIsAPermissionProblem() throws {
            // Tests run as root, whom mode 0600 does not stop: check the hint open's EACCES gets.
            let hint = try #require(DMABufExporter.openHint(.permissionDenied))
            #expect(hint.contains("permission problem") && hint.contains("0600"))
        }

        @Test func wrongDeviceSaysSo() throws {
            let error = expectError(.inappropriateIOCTLForDevice) {
                try DMABufExporter(path: "/dev/null").allocate(size: 4096)
            }
            #expect(error?.description.hasPrefix("ALLOC ioctl on /dev/null: Inappropriate ioctl for device [ENOTTY]. This is not the dmabuf_exporter device") == true)
        }

        @Test func negativeSizeIsRefusedBeforeTheKernel() {
            let error = expectError(.invalidArgument) { try DMABufExporter(path: "/dev/null").allocate(size: -1) }
            #expect(error?.hint == "The size -1 is negative")
        }
    }
}
