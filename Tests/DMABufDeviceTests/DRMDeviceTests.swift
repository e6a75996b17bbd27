import DMABuf
import DMABufDRM
import DMABufExporterClient
import DMABufTestSupport
import SystemPackage
import Testing

extension DeviceTests {
    /// Buffers from and into another exporter: vgem, the kernel's virtual GEM driver.
    @Suite(.vgemDevice) struct VGEM {
        @Test func findsVgemByItsDriverName() throws {
            let vgem = try DRMDevice.open(driver: "vgem")
            #expect(try vgem.version().driverName == "vgem")
            #expect(vgem.path.string.hasPrefix("/dev/dri/"))
        }

        @Test func exportsADumbBufferAsADmaBuf() throws {
            let vgem = try DRMDevice.open(driver: "vgem")
            let dumb = try vgem.createDumbBuffer(width: 64, height: 64)
            #expect(dumb.pitch >= 64 * 4 && dumb.size >= 64 * 64 * 4)
            let buffer = try vgem.exportBuffer(dumb.handle)
            try vgem.closeHandle(dumb.handle)  // the dma-buf keeps the object alive
            #expect(buffer.size == dumb.size && buffer.isWritable)
            #expect(try buffer.info().exporterName == "drm")
            try buffer.setName("vgem-frame")
            #expect(try buffer.info().name == "vgem-frame")

            var mapping = try buffer.map()
            try fill(&mapping, with: 0xC3)
            #expect(try allBytes(of: buffer.duplicate().map(), equal: 0xC3))
        }

        @Test func exportsReadOnly() throws {
            let vgem = try DRMDevice.open(driver: "vgem")
            let dumb = try vgem.createDumbBuffer(width: 16, height: 16)
            defer { try? vgem.closeHandle(dumb.handle) }
            let buffer = try vgem.exportBuffer(dumb.handle, accessMode: .readOnly)
            #expect(buffer.accessMode == .readOnly && !buffer.isWritable)
        }

        /// vgem imports a buffer of our module; exporting the imported object gives back the same
        /// dma-buf (the same inode), not a copy.
        @Test(.exporterDevice) func importsAnExporterBuffer() throws {
            let vgem = try DRMDevice.open(driver: "vgem")
            let ours = try DMABufExporter().allocate(size: 16 * 4096, name: "to-vgem")
            let handle = try vgem.importBuffer(ours)
            defer { try? vgem.closeHandle(handle) }
            #expect(try vgem.importBuffer(ours) == handle, "one object per dma-buf")
            let back = try vgem.exportBuffer(handle)
            #expect(back.identity == ours.identity)
            #expect(try back.info().exporterName == DMABufExporter.exporterName)
        }

        @Test func closingAHandleTwiceFails() throws {
            let vgem = try DRMDevice.open(driver: "vgem")
            let dumb = try vgem.createDumbBuffer(width: 8, height: 8)
            try vgem.closeHandle(dumb.handle)
            expectError(.invalidArgument, .kernel(.invalidArgument)) { try vgem.closeHandle(dumb.handle) }
        }

        @Test func refusesTheDrmDeviceItself() throws {
            let vgem = try DRMDevice.open(driver: "vgem")
            let fd = try FileDescriptor.open(vgem.path, .readWrite, options: .closeOnExec)
            defer { try? fd.close() }
            let error = expectError(.notADMABuf, .libraryMade) { try DMABuffer(adopting: fd) }
            #expect(error?.target == "fd \(fd.rawValue) (\(vgem.path))")
        }
    }
}
