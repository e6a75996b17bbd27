import DMABuf
import DMABufDRM
import DMABufTestSupport
import SystemPackage
import Testing

/// `DRMDevice` where no DRM device is needed: wrong files and missing drivers.
@Suite struct DRMWithoutADevice {
    @Test func aFileThatIsNotADRMDevice() throws {
        try expectNoLeaks {
            let device = try DRMDevice(path: "/dev/null")
            let error = expectError(.unsupported, .kernel(.inappropriateIOCTLForDevice)) { try device.version() }
            #expect(error?.operation == "DRM_IOCTL_VERSION" && error?.target == "/dev/null")
            expectError(.unsupported, .kernel(.inappropriateIOCTLForDevice)) {
                try device.createDumbBuffer(width: 64, height: 64)
            }
            expectError(.unsupported, .kernel(.inappropriateIOCTLForDevice)) {
                try device.exportBuffer(DRMDevice.Handle(rawValue: 1))
            }
            expectError(.unsupported, .kernel(.inappropriateIOCTLForDevice)) {
                try device.closeHandle(DRMDevice.Handle(rawValue: 1))
            }
            let buffer = try memfdBuffer(size: 4096)
            expectError(.unsupported, .kernel(.inappropriateIOCTLForDevice)) { try device.importBuffer(buffer) }
        }
    }

    @Test func aDriverThatIsNotThere() {
        let error = expectError(.deviceMissing, .libraryMade) { try DRMDevice.open(driver: "no-such-driver") }
        #expect(error?.hint?.contains("modprobe no-such-driver") == true)
    }

    @Test func aPathThatIsNotThere() {
        expectError(.deviceMissing, .kernel(.noSuchFileOrDirectory)) { try DRMDevice(path: "/dev/dri/nonexistent") }
    }

    /// PRIME_HANDLE_TO_FD that succeeds without writing the fd must not hand out an fd.
    @Test func anExportThatAnswersWithoutAnFd() throws {
        let device = try DRMDevice(path: "/dev/null")
        let mock = SyscallMock { $0.name == "ioctl" ? .succeed(0) : .passThrough }
        expectError(.badResponse, .libraryMade, mock: mock) { try device.exportBuffer(DRMDevice.Handle(rawValue: 1)) }
    }
}
