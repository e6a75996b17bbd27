import ArgumentParser
import Testing

@testable import DMABufCLI

@Suite struct ByteCountParsing {
    @Test(arguments: [
        ("4096", 4096), ("0", 0), ("1B", 1), ("4K", 4096), ("4k", 4096), ("4KiB", 4096), ("4kib", 4096),
        ("4KB", 4000), ("4MiB", 4 << 20), ("4M", 4 << 20), ("4MB", 4_000_000), ("1G", 1 << 30),
        ("1GiB", 1 << 30), ("2GB", 2_000_000_000), ("1T", 1 << 40), ("16 MiB", 16 << 20), (" 8K ", 8192),
    ])
    func parses(text: String, bytes: Int) throws {
        #expect(try ByteCount.parse(text) == bytes)
    }

    @Test(arguments: [
        ("", ByteCount.ParseError.Reason.empty), ("   ", .empty), ("K", .notANumber), ("abc", .notANumber),
        ("-4K", .negative), ("1.5M", .fraction), ("4X", .unknownUnit), ("4 MiBs", .unknownUnit),
        ("4KK", .unknownUnit), ("99999999999999999999", .tooLarge), ("9999999999T", .tooLarge),
        ("4\u{301}K", .notANumber), ("4K\u{131}B", .unknownUnit),  // a combining accent; a dotless i
    ])
    func refuses(text: String, reason: ByteCount.ParseError.Reason) {
        #expect {
            try ByteCount.parse(text)
        } throws: { error in
            (error as? ByteCount.ParseError)?.reason == reason
        }
    }

    @Test(arguments: [
        (4096, "4096 bytes (4 KiB)"), (100, "100 bytes"), (1536, "1536 bytes (1.5 KiB)"),
        (4 << 20, "4194304 bytes (4 MiB)"), ((1 << 30) - 1, "1073741823 bytes (1024 MiB)"),
        (Int.max, "9223372036854775807 bytes (8388608 TiB)"),
    ])
    func describes(bytes: Int, text: String) {
        #expect(ByteCount.describe(bytes) == text)
    }
}

/// `dmabuf verify`'s arguments: seeds in decimal or hex, sizes as for `--size`, and what it refuses
/// before touching a device.
@Suite struct VerifyArguments {
    @Test func parsesSeedsAndRanges() throws {
        let command = try Verify.parse(["--size", "1M", "--offset", "4K", "--length", "100000", "--seed", "0x5EED"])
        #expect(command.source.size == 1 << 20 && command.offset == 4096 && command.length == 100_000)
        #expect(command.seed == 0x5eed && command.checkSeed == nil && command.source.from == .auto)
        #expect(try Verify.parse(["--size", "4096", "--seed", "18446744073709551615"]).seed == .max)
        #expect(try Verify.parse(["--size", "4096"]).seed == 1 && Verify.parse(["--size", "4096"]).offset == 0)
    }

    @Test(arguments: [
        ["--size", "0"], ["--size", "4K", "--length", "0"], ["--size", "4K", "--seed", "-1"],
        ["--size", "4K", "--seed", "0x"], ["--size", "4K", "--seed", "18446744073709551616"],
        ["--size", "4K", "--offset", "-1"], ["--size", "4K", "--from", "heap"], ["--offset", "4K"],
    ])
    func refuses(arguments: [String]) {
        #expect(throws: (any Error).self, "\(arguments)") { try Verify.parse(arguments) }
    }

    @Test func hexDigits() {
        #expect(Verify.hex(0xe306_9283) == "0xe3069283" && Verify.hex(0) == "0x00000000")
    }
}
