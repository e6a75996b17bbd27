import ArgumentParser
import DMABuf
import DMABufExporterClient
import DMABufTestSupport
import Testing

@testable import DMABufCLI

extension DeviceTests {
    /// `dmabuf bench`, the Swift side of make bench, against the real module.
    @Suite(.exporterDevice) struct Bench {
        @Test func measuresEveryOperationAsTheCSideNamesIt() throws {
            let measurements = try DMABufCLI.Bench.measure(DMABufExporter(), plan: .quick)
            let names = measurements.map { "\($0.measure) \($0.size)" }
            #expect(
                names == [
                    "sync-pair 4096", "fd-round-trip 4096", "alloc-map-touch-unmap-close 4096",
                    "alloc-map-touch-unmap-close 4194304",
                    "sequential-read 4194304",
                ])
            for measurement in measurements {
                #expect(measurement.samples.count == DMABufCLI.Bench.Plan.quick.samples)
                // Times: positive, and no bound; make bench measures them.
                #expect(measurement.samples.allSatisfy { $0 > 0 }, "seconds per operation")
                let json = measurement.json
                #expect(json.hasPrefix("{\"kernel\":\"") && json.hasSuffix("}"))
                for field in ["\"group\":\"ops\"", "\"path\":\"swift\"", "\"unit\":\"s\"", "\"iterations\":3"] {
                    #expect(json.contains(field), "\(field) in \(json)")
                }
            }
        }

        @Test func commandPrintsJSONLines() throws {
            let (status, output) = try HelperProcess.runCommand(["bench", "--quick", "--json"])
            #expect(status == 0, "\(output)")
            let lines = output.split(separator: "\n")
            // One line per measure of the quick plan, each a JSON object of the Swift path, nothing else.
            #expect(lines.count == 5, "\(output)")
            for line in lines {
                #expect(
                    line.hasPrefix("{\"kernel\":\"") && line.hasSuffix("}") && line.contains("\"path\":\"swift\""),
                    "\(line)")
            }
        }
    }
}
