import Testing

import DMABuf

extension DMABufTests {
    /// The README's library example, verbatim apart from the checks, so the README can't drift.
    @Suite(.exporterDevice) struct ReadmeExample {
        @Test func libraryExample() throws {
            let device = try DMABufExporter()                      // /dev/dmabuf_exporter
            let buffer = try device.allocate(size: 4 << 20, name: "frame")
            print(try buffer.size, try buffer.exporterName, try buffer.identity)

            var mapping = try buffer.map()                         // or buffer.map(4096..<8192)
            try mapping.withCPUAccess(.write) { mapping in         // DMA_BUF_IOCTL_SYNC START ... END
                mapping.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0xff) }
            }
            let copy = try buffer.duplicate()                      // another owner of the same buffer
            try buffer.close()                                     // the mapping and `copy` keep it alive

            #expect(try copy.name == "frame")
            mapping.withUnsafeBytes { bytes in
                #expect(bytes.count == 4 << 20 && bytes.allSatisfy { $0 == 0xff })
            }
        }
    }
}
