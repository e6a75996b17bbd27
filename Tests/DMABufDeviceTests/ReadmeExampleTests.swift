import DMABuf
import DMABufExporterClient
import DMABufSources
import DMABufTestSupport
import Testing

extension DeviceTests {
    /// The README's library example, run. `ReadmeExample.matchesTheReadme` (a pure test) fails
    /// whenever the lines between the markers differ from the README's example.
    @Suite(.exporterDevice) struct ReadmeExample {
        @Test func libraryExample() throws {
            // README: begin
            let device = try DMABufExporter()  // /dev/dmabuf_exporter
            let buffer = try device.allocate(size: 4 << 20, name: "frame")
            print(buffer.size, buffer.identity, try buffer.info().exporterName)

            var mapping = try buffer.map()  // or buffer.map(4096..<8192)
            try mapping.withCPUAccess(.write) { bytes in  // DMA_BUF_IOCTL_SYNC START ... END
                bytes.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0xff) }
            }
            let first = try mapping.withCPUAccess(.read) { bytes in bytes.unsafeLoad(as: UInt8.self) }
            let copy = try buffer.duplicate()  // another owner of the same buffer
            try buffer.close()  // the mapping and `copy` keep it alive
            // README: end

            #expect(first == 0xff)
            #expect(try copy.info().name == "frame")
            let all = try mapping.withCPUAccess(.read) { bytes in
                bytes.withUnsafeBytes { $0.count == 4 << 20 && $0.allSatisfy { $0 == 0xff } }
            }
            #expect(all)
        }
    }

    /// The README's sources example, run where some source is available.
    @Suite struct ReadmeSourcesExample {
        @Test func sourcesExample() throws {
            guard TestKernel.current.expectedSources != nil else { return }
            // README sources: begin
            let allocator = try DMABufSource.automatic()  // heap:system, else udmabuf, else exporter, else vgem
            for skipped in allocator.passedOver { print("skipped \(skipped.source): \(skipped.detail)") }
            let buffer = try allocator.allocate(size: 1 << 20, name: "frame")
            // README sources: end
            #expect(buffer.size == 1 << 20 && DMABufSource.automaticOrder.contains(allocator.source))
        }
    }
}
