import DMABuf
import DMABufExporterClient
import DMABufTestSupport
import SystemPackage
import Testing

@testable import DMABufCLI

@Suite struct ErrorDescriptions {
    @Test func kernelErrorReadsOperationTargetErrnoAndHint() {
        let error = DMABufError(
            errno: .fileTooLarge, operation: "ALLOC ioctl", target: "/dev/dmabuf_exporter", hint: "Too big")
        #expect(error.description == "ALLOC ioctl on /dev/dmabuf_exporter: File too large [EFBIG]. Too big")
        #expect(error.errnoName == "EFBIG")
        #expect(error.code == .limitExceeded)
    }

    @Test func libraryErrorHasNoErrno() {
        let error = DMABufError(.notADMABuf, operation: "adopt as dma-buf", target: "fd 7 (/dev/null)")
        #expect(error.errno == nil && error.errnoName == nil)
        #expect(error.description == "adopt as dma-buf on fd 7 (/dev/null): not a dma-buf")
    }

    @Test func withoutTargetOrHint() {
        #expect(
            DMABufError(errno: .interrupted, operation: "read").description == "read: Interrupted system call [EINTR]")
    }

    @Test func unknownErrnoHasANumber() {
        #expect(DMABufError(errno: Errno(rawValue: 4242), operation: "x").errnoName == "errno 4242")
        #expect(DMABufError(errno: Errno(rawValue: 4242), operation: "x").code == .other)
    }

    @Test(arguments: [
        (Errno.badFileDescriptor, DMABufError.Code.badDescriptor), (.permissionDenied, .permissionDenied),
        (.notPermitted, .permissionDenied), (.noSuchFileOrDirectory, .deviceMissing),
        (.operationNotSupportedByDevice, .deviceMissing), (.invalidArgument, .invalidArgument),
        (.noMemory, .outOfMemory), (.fileTooLarge, .limitExceeded), (.diskQuotaExceeded, .limitExceeded),
        (.noSpace, .limitExceeded), (.tooManyOpenFiles, .limitExceeded), (.inappropriateIOCTLForDevice, .unsupported),
        (.resourceBusy, .busy), (.resourceTemporarilyUnavailable, .busy), (.ioError, .other),
        (.brokenPipe, .disconnected), (.connectionReset, .disconnected), (.timedOut, .timedOut),
    ])
    func codeOfAnErrno(errno: Errno, code: DMABufError.Code) {
        #expect(DMABufError.Code(errno) == code)
    }

    @Test func codesAreDistinct() {
        let codes: [DMABufError.Code] = [
            .notADMABuf, .permissionDenied, .limitExceeded, .deviceMissing, .invalidArgument, .badDescriptor,
            .outOfMemory, .unsupported, .busy, .malformedInput, .badResponse, .disconnected, .timedOut, .other,
        ]
        #expect(Set(codes).count == codes.count)
        #expect(Set(codes.map(\.description)).count == codes.count)
    }

    @Test func missingDeviceSaysTheModuleIsNotLoaded() {
        let error = expectError(.deviceMissing, .kernel(.noSuchFileOrDirectory)) {
            try DMABufExporter(path: "/nonexistent/dmabuf_exporter")
        }
        #expect(error?.hint?.contains("module is not loaded") == true)
        #expect(error?.description.contains("make") == false, "library hints name no make targets")
        // the command adds where to get the module
        let command = error.map { CommandError(error: $0).description } ?? ""
        #expect(command.hasPrefix(error?.description ?? "?"))
        #expect(command.contains("sudo insmod kernel/dmabuf_exporter.ko") && command.contains("make demo"))
    }

    @Test func forbiddenDeviceSaysItIsAPermissionProblem() throws {
        // Tests run as root, whom mode 0600 does not stop: inject the EACCES.
        let mock = SyscallMock { $0.name == "open" ? .fail(.permissionDenied) : .passThrough }
        let error = expectError(.permissionDenied, .kernel(.permissionDenied), mock: mock) {
            try DMABufExporter(path: "/dev/null")
        }
        #expect(error?.hint?.contains("permission problem") == true)
        #expect(error?.description.contains("make") == false)
        #expect(error.map { CommandError(error: $0).description }?.contains("make install-udev") == true)
    }

    @Test func wrongDeviceIsUnsupported() throws {
        let error = expectError(.unsupported, .kernel(.inappropriateIOCTLForDevice)) {
            try DMABufExporter(path: "/dev/null").allocate(size: 4096)
        }
        #expect(error?.operation == "ALLOC ioctl" && error?.target == "/dev/null")
    }

    /// Every allocator refuses a size below 1 (the `DMABufAllocator` contract), before the kernel.
    @Test(arguments: [-1, 0])
    func sizeBelowOneIsRefusedBeforeTheKernel(size: Int) {
        let mock = SyscallMock()
        let error = expectError(.invalidArgument, .libraryMade, mock: mock) {
            try DMABufExporter(path: "/dev/null").allocate(size: size)
        }
        #expect(error?.hint == "The size \(size) is not a positive number of bytes")
        #expect(mock.calls("ioctl").isEmpty)
    }
}
