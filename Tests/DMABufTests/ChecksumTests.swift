import DMABuf
import Testing

@Suite struct ChecksumTests {
    @Test func crc32cOfTheStandardCheckString() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        #expect(CRC32C().value == 0)
    }

    @Test func crc32cKnownVectors() {
        // RFC 3720 (iSCSI) B.4: 32 bytes of zeros, of 0xff, ascending and descending.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xff, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }) == 0x113F_DB5C)
    }

    @Test func crc32cInPiecesEqualsAtOnce() {
        let bytes = FillPattern(seed: 7).bytes(0..<10_000)
        var crc = CRC32C()
        for start in stride(from: 0, to: bytes.count, by: 333) {
            crc.update(bytes[start..<min(start + 333, bytes.count)])
        }
        #expect(crc.value == CRC32C.checksum(bytes))
        bytes.withUnsafeBytes { raw in
            #expect(CRC32C.checksum(RawSpan(_unsafeBytes: raw)) == CRC32C.checksum(bytes))
        }
    }

    @Test func patternIsAFunctionOfSeedAndOffset() {
        let pattern = FillPattern(seed: 0x5eed)
        #expect(pattern.bytes(0..<64) == FillPattern(seed: 0x5eed).bytes(0..<64))
        #expect(pattern.bytes(0..<64) != FillPattern(seed: 0x5eee).bytes(0..<64))
        #expect(pattern.bytes(0..<4096) != pattern.bytes(4096..<8192), "pages differ")
        #expect(pattern.bytes(100..<200) == Array(pattern.bytes(0..<300)[100..<200]))
        var filled = [UInt8](repeating: 0, count: 1000)
        filled.withUnsafeMutableBytes { pattern.fill($0, startingAt: 5000) }
        #expect(filled == pattern.bytes(5000..<6000))
        filled.withUnsafeBytes { #expect(pattern.firstMismatch(in: $0, startingAt: 5000) == nil) }
        filled[123] ^= 1
        filled.withUnsafeBytes { #expect(pattern.firstMismatch(in: $0, startingAt: 5000) == 5123) }
    }

    @Test func patternChecksumEqualsTheChecksumOfItsBytes() {
        let pattern = FillPattern(seed: 42)
        for range in [0..<1, 0..<4096, 4096..<12_288, 17..<200_000] {
            #expect(pattern.checksum(of: range) == CRC32C.checksum(pattern.bytes(range)), "\(range)")
        }
    }
}
