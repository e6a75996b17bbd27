import ArgumentParser
import DMABuf
import Testing

@testable import DMABufCLI

/// The pure parts of `dmabuf bench`: the read loop and the JSON line.
@Suite struct BenchOutput {
    @Test func sumOfWordsAddsEveryWholeWordAndWraps() {
        let words: [UInt64] = [1, 2, .max, 40]
        let bytes = words.withUnsafeBytes { Array($0) } + [0xff, 0xff, 0xff]  // a tail shorter than a word
        #expect(DMABufCLI.Bench.sumOfWords(bytes.span.bytes) == 1 &+ 2 &+ .max &+ 40)
        #expect(DMABufCLI.Bench.sumOfWords([UInt8]().span.bytes) == 0)
    }

    @Test func measurementIsOneJSONLineWithMedianMinMax() {
        let measurement = DMABufCLI.Bench.Measurement(measure: "sync-pair", size: 4096, samples: [3, 1, 2])
        let json = measurement.json
        #expect(!json.contains("\n"))
        #expect(json.contains("\"measure\":\"sync-pair\",\"unit\":\"s\",\"size\":4096,\"iterations\":3"))
        #expect(json.hasSuffix("\"median\":2.0,\"min\":1.0,\"max\":3.0}"))
    }

    @Test func aMissingDeviceSaysHowToGetIt() throws {
        #expect {
            try DMABufCLI.Bench.parse(["--quick", "--device", "/dev/no-such-dmabuf-exporter"]).run()
        } throws: { error in
            guard let error = error as? CommandError else { return false }
            return error.error.code == .deviceMissing && error.description.contains("insmod")
        }
    }
}
