import ArgumentParser
import DMABuf
import DMABufTestSupport
import Glibc
import SystemPackage
import Testing

@testable import DMABufCLI

/// SplitMix64 (Steele, Lea and Flood, 2014): eight bytes of state, every output determined by the
/// seed. The helpers below derive everything from `next()` themselves, so a run depends only on
/// its seed and this file, not on the standard library's sampling algorithms.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// 0..<n (n > 0), by multiply-high: a bias below 2^-40 for the small n used here.
    mutating func below(_ n: Int) -> Int {
        Int(truncatingIfNeeded: next().multipliedFullWidth(by: UInt64(n)).high)
    }

    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }

    mutating func pick<T>(_ choices: [T]) -> T { choices[below(choices.count)] }

    /// Bytes from 0 to `maximum`, spread over magnitudes (small and huge both come up often).
    mutating func magnitude(upTo maximum: UInt64) -> UInt64 {
        let bits = below(64) + 1
        let value = bits == 64 ? next() : next() & ((1 << UInt64(bits)) - 1)
        return min(value, maximum)
    }
}

/// The fuzzers' seed and iteration counts: DMABUF_FUZZ_SEED (decimal or 0x-hex) and
/// DMABUF_FUZZ_ITERATIONS override them, to replay a failure or to run longer.
///
/// The parsers are pure code: the host run (`swift test`) fuzzes them in full, within a few
/// seconds of a debug build; in the VMs (DMABUF_VM=1, TCG, many times slower) they run a tenth.
enum Fuzz {
    static let seed: UInt64 =
        environment("DMABUF_FUZZ_SEED").flatMap { text in
            text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
        } ?? 0x5EED_D3AB_0F00_2026
    static func iterations(_ standard: Int) -> Int {
        environment("DMABUF_FUZZ_ITERATIONS").flatMap { Int($0) }
            ?? (TestEnvironment.requiresDevices ? standard / 10 : standard)
    }

    static var seedText: String { "0x" + String(seed, radix: 16) }

    /// The generator for one iteration: a case replays from the seed and its iteration number alone.
    static func generator(_ iteration: Int, stream: UInt64) -> SplitMix64 {
        var mixer = SplitMix64(seed: seed ^ (stream << 56) ^ UInt64(iteration) &* 0xD1B5_4A32_D192_ED03)
        return SplitMix64(seed: mixer.next())
    }

    private static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}

// MARK: fdinfo

/// An fdinfo text the kernel could print for a dma-buf, as lines of bytes, and what it says.
struct FDInfoDocument {
    var lines: [[UInt8]]
    var expected: DMABuffer.Info
    /// Where the `name:` line is; the kernel prints it last.
    var nameLine: Int?
    var sizeLine: Int
    var exporterLine: Int

    var bytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        for line in lines {
            bytes += line
            bytes.append(0x0A)
        }
        return bytes
    }
    var text: String { String(decoding: bytes, as: UTF8.self) }

    static let exporters = ["dmabuf_exporter", "drm", "system", "udmabuf", "i915", "vb2_dc", "ttm", "virtio-gpu", "a"]
    static let exporterCharacters = Array("abcdefghijklmnopqrstuvwxyz0123456789_-")
    /// What random documents are mostly made of.
    static let noiseBytes = Array("size:exp_name\t\n 0123456789".utf8)

    /// Name bytes as a user can set them with DMA_BUF_SET_NAME: anything but NUL, at most 31.
    static let nameAtoms: [[UInt8]] = {
        var atoms = (0x20...0x7E).map { [UInt8($0)] }
        atoms += [
            [0x0A], [0x0A], [0x09], [0x0D], [0x0D, 0x0A], [0x01], [0x7F], Array("name:\t".utf8), Array("size:\t1".utf8),
            Array("é".utf8), Array("✓".utf8), Array("😀".utf8), [0x80], [0xC0], [0xFF], [0xE2, 0x82], [0xCC, 0x81],
        ]
        return atoms
    }()

    static func generate(_ r: inout SplitMix64) -> FDInfoDocument {
        func line(_ key: String, _ value: String) -> [UInt8] { Array("\(key):\t\(value)".utf8) }
        let flags =
            Int32(r.pick([0o2, 0o0, 0o2000002, 0o2000000, 0o100002, 0o4002, 0o2004002]))
            | (r.chance(10) ? Int32(r.below(1 << 20)) : 0)
        let inode: UInt64? = r.chance(90) ? (r.chance(5) ? .max : r.magnitude(upTo: .max)) : nil
        let size = Int(r.chance(50) ? UInt64(r.below(1 << 16) + 1) * 4096 : r.magnitude(upTo: UInt64(Int.max)))
        let count: Int? = r.chance(90) ? (r.chance(90) ? r.below(64) : Int(r.magnitude(upTo: UInt64(Int.max)))) : nil
        let exporter =
            r.chance(80) ? r.pick(exporters) : String((0..<(r.below(20) + 1)).map { _ in r.pick(exporterCharacters) })
        var name: [UInt8]?
        if r.chance(70) {
            var bytes: [UInt8] = []
            let length = r.below(32)
            while bytes.count < length {
                let atom = r.pick(nameAtoms)
                if bytes.count + atom.count > 31 { break }
                bytes += atom
            }
            name = bytes
        }

        var lines = [
            line("pos", "\(r.chance(90) ? 0 : r.below(1 << 30))"), line("flags", "0" + String(flags, radix: 8)),
            line("mnt_id", "\(r.below(100_000))"),
        ]
        if let inode { lines.append(line("ino", "\(inode)")) }
        for _ in 0..<(r.chance(90) ? 0 : r.below(3) + 1) {  // flock()s on the fd
            lines.append(
                line("lock", "\(r.below(9) + 1): FLOCK  ADVISORY  WRITE \(r.below(99_999)) 00:0e:\(inode ?? 7) 0 EOF"))
        }
        let sizeLine = lines.count
        lines.append(line("size", "\(size)"))
        if let count { lines.append(line("count", "\(count)")) }
        let exporterLine = lines.count
        lines.append(line("exp_name", exporter))
        var nameLine: Int?
        if let name {
            nameLine = lines.count
            lines.append(Array("name:\t".utf8) + name)
        }
        let expected = DMABuffer.Info(
            size: size, exporterName: exporter, name: name.map { String(decoding: $0, as: UTF8.self) },
            inode: inode, fileCount: count, openFlags: flags)
        return FDInfoDocument(
            lines: lines, expected: expected, nameLine: nameLine, sizeLine: sizeLine, exporterLine: exporterLine)
    }

    /// Numbers as nobody should print them, and what the parser must make of each (nil: EBADMSG).
    static let hostileNumbers: [(text: String, value: Int?)] = [
        ("", nil), ("-1", nil), ("+1", nil), ("-0", nil), ("1-", nil), ("0x10", nil), ("1e3", nil), ("12abc", nil),
        ("9223372036854775807", Int.max), ("9223372036854775808", nil), ("18446744073709551616", nil),
        ("99999999999999999999999999999999", nil), ("00000000000000000000000000000042", 42),
        (" 12 ", 12), ("\t12\t", 12), ("1 2", nil), ("١٢", nil), ("１２", nil), ("1\u{301}", nil), ("\u{FFFD}", nil),
        ("NaN", nil),
    ]
}

/// What the fdinfo parser made of a text.
enum FDInfoOutcome: Equatable {
    case parsed(DMABuffer.Info)
    case notADmaBuf  // EINVAL
    case malformed  // EBADMSG

    init(parsing text: String) throws {
        do {
            self = .parsed(try DMABuffer.Info(fdinfo: text, source: "fuzz"))
        } catch {
            guard readabilityProblems(error, quotesInput: true).isEmpty,  // hints quote input lines
                error.target == "fuzz", error.hint?.isEmpty == false, error.errno == nil,
                error.operation == "parse fdinfo"
            else { throw error }
            switch error.code {
            case .notADMABuf: self = .notADmaBuf
            case .malformedInput: self = .malformed
            default: throw error
            }
        }
    }
}

extension FDInfoOutcome {
    /// What any parse must agree with, whatever the input: a parse found the keys it reports in
    /// the text, and a name only where the text has a name line.
    func isConsistent(with text: String) -> Bool {
        guard case .parsed(let info) = self else { return true }
        return text.contains("exp_name:") && text.contains("size:") && text.contains(info.exporterName)
            && (info.name == nil || text.contains("name:"))
    }
}

// MARK: Byte counts

/// An independent reading of `ByteCount`'s grammar, on Unicode scalars: spaces, ASCII digits,
/// spaces, an ASCII unit, spaces.
enum ByteCountOracle: Equatable {
    case bytes(Int)
    case empty, negative, notANumber, fraction, unknownUnit, tooLarge

    static let multipliers: [String: UInt64] = [
        "": 1, "B": 1, "K": 1 << 10, "KIB": 1 << 10, "KB": 1_000, "M": 1 << 20, "MIB": 1 << 20, "MB": 1_000_000,
        "G": 1 << 30, "GIB": 1 << 30, "GB": 1_000_000_000, "T": 1 << 40, "TIB": 1 << 40, "TB": 1_000_000_000_000,
    ]

    init(_ text: String) {
        func trimmed(_ scalars: ArraySlice<Unicode.Scalar>) -> ArraySlice<Unicode.Scalar> {
            var scalars = scalars
            while scalars.first == " " { scalars.removeFirst() }
            while scalars.last == " " { scalars.removeLast() }
            return scalars
        }
        let all = trimmed(ArraySlice(text.unicodeScalars))
        guard let first = all.first else {
            self = .empty
            return
        }
        guard first != "-" else {
            self = .negative
            return
        }
        let digits = all.prefix { ("0"..."9").contains($0) }
        let unit = trimmed(all[digits.endIndex...])
        guard !digits.isEmpty else {
            self = .notANumber
            return
        }
        guard unit.first != "." && unit.first != "," else {
            self = .fraction
            return
        }
        guard unit.allSatisfy(\.isASCII),
            let multiplier = Self.multipliers[String(String.UnicodeScalarView(unit)).uppercased()]
        else {
            self = .unknownUnit
            return
        }
        let significant = digits.drop { $0 == "0" }
        guard significant.count <= 19,
            let value = UInt64(String(String.UnicodeScalarView(significant.isEmpty ? ["0"] : significant))),
            value <= UInt64(Int.max)
        else {
            self = .tooLarge
            return
        }
        let (bytes, overflow) = Int(value).multipliedReportingOverflow(by: Int(multiplier))
        self = overflow ? .tooLarge : .bytes(bytes)
    }

    /// The parser's answer, in the same terms.
    static func parse(_ text: String) -> ByteCountOracle {
        do {
            return .bytes(try ByteCount.parse(text))
        } catch {
            switch error.reason {
            case .empty: return .empty
            case .negative: return .negative
            case .notANumber: return .notANumber
            case .fraction: return .fraction
            case .unknownUnit: return .unknownUnit
            case .tooLarge: return .tooLarge
            }
        }
    }

    var isBytes: Bool {
        if case .bytes = self { true } else { false }
    }

    static let digits = Array("0123456789")
    static let spellings = [
        "", "b", "B", "k", "K", "kib", "KiB", "KIB", "kb", "KB", "Kb", "m", "M", "MiB", "mib", "MB", "mB",
        "g", "G", "GiB", "GB", "gb", "t", "T", "TiB", "tib", "TB", "Tb",
    ]
    static let atoms = [
        "0", "1", "2", "4", "7", "9", "K", "k", "M", "m", "G", "g", "T", "t", "i", "I", "B", "b", " ", " ",
        "\t", "-", "+", ".", ",", "e", "x", "_", "\u{301}", "٣", "４", "é", "ı", "\0", "\n", "\r\n", "😀",
        "K\u{301}", "\u{FFFD}", "\u{A0}", "ﬀ", "ß",
    ]

    /// A byte count as people write them, or nearly (leading zeros, long numbers, spaces).
    static func generate(_ r: inout SplitMix64) -> String {
        let number: String
        switch r.below(4) {
        case 0: number = "\(r.below(10_000))"
        case 1: number = "\(r.magnitude(upTo: .max))"
        case 2: number = String((0..<(r.below(30) + 1)).map { _ in r.pick(digits) })
        default: number = String(repeating: "0", count: r.below(25)) + "\(r.magnitude(upTo: .max))"
        }
        func spaces() -> String { String(repeating: " ", count: r.chance(70) ? 0 : r.below(3) + 1) }
        return spaces() + number + spaces() + r.pick(spellings) + spaces()
    }

    /// `text` with one atom inserted, one character removed or replaced.
    static func mutate(_ text: String, _ r: inout SplitMix64) -> String {
        var characters = Array(text)
        let position = r.below(characters.count + 1)
        switch r.below(3) {
        case 0: characters.insert(contentsOf: r.pick(atoms), at: position)
        case 1 where !characters.isEmpty: characters.remove(at: min(position, characters.count - 1))
        default:
            if characters.isEmpty { return r.pick(atoms) }
            characters.replaceSubrange(
                min(position, characters.count - 1)...min(position, characters.count - 1), with: r.pick(atoms))
        }
        return String(characters)
    }
}

/// The text parsers against seeded random and mutated input. Each iteration is replayable
/// from the seed and its number (see `Fuzz`). No input may trap; each must parse or throw the
/// parser's documented error; well-formed input must give back what it says.
@Suite struct ParserFuzzing {
    @Test func fdinfoParser() throws {
        let iterations = Fuzz.iterations(10_000)
        var counts: [String: Int] = [:]
        func check(_ text: String, _ iteration: Int, _ kind: String, _ property: (FDInfoOutcome) -> Bool) throws {
            let outcome: FDInfoOutcome
            do {
                outcome = try FDInfoOutcome(parsing: text)
            } catch {
                Issue.record(
                    "fdinfo \(kind), seed \(Fuzz.seedText) iteration \(iteration): undocumented error \(error) for \(text.debugDescription)"
                )
                throw error
            }
            let name =
                switch outcome {
                case .parsed: "parsed"
                case .notADmaBuf: "EINVAL"
                case .malformed: "EBADMSG"
                }
            counts[name, default: 0] += 1
            guard property(outcome) else {
                Issue.record(
                    "fdinfo \(kind), seed \(Fuzz.seedText) iteration \(iteration): \(outcome) for \(text.debugDescription)"
                )
                throw Boom()
            }
        }

        for iteration in 0..<iterations {
            var r = Fuzz.generator(iteration, stream: 1)
            let document = FDInfoDocument.generate(&r)
            // the kernel's own text reads back exactly
            try check(document.text, iteration, "valid") { $0 == .parsed(document.expected) }

            // one mutation whose outcome is known
            var mutated = document
            var expected = FDInfoOutcome.parsed(document.expected)
            let lastMovable = document.nameLine ?? document.lines.count  // lines after name: belong to the name
            switch r.below(6) {
            case 0:  // delete a line
                let index = r.below(document.lines.count)
                mutated.lines.remove(at: index)
                if index == document.exporterLine {
                    expected = .notADmaBuf
                } else if index == document.sizeLine {
                    expected = .malformed
                } else {
                    var info = document.expected
                    switch String(decoding: document.lines[index].prefix { $0 != 0x3A }, as: UTF8.self) {
                    case "ino": info.inode = nil
                    case "count": info.fileCount = nil
                    case "flags": info.openFlags = nil
                    case "name": info.name = nil
                    default: break
                    }
                    expected = .parsed(info)
                }
            case 1:  // duplicate a line before the name
                let index = r.below(lastMovable)
                mutated.lines.insert(document.lines[index], at: r.below(lastMovable + 1))
            case 2:  // blank lines before the name
                for _ in 0..<(r.below(3) + 1) { mutated.lines.insert([], at: r.below(lastMovable + 1)) }
            case 3:  // blanks around a number
                let numbers =
                    [document.sizeLine]
                    + document.lines.indices.filter {
                        ["ino", "count", "flags"].contains(
                            String(decoding: document.lines[$0].prefix { $0 != 0x3A }, as: UTF8.self))
                    }
                let index = r.pick(numbers)
                let colon = mutated.lines[index].firstIndex(of: 0x3A)! + 2  // after ":\t"
                let blanks = { (0..<(r.below(3) + 1)).map { _ in r.pick([UInt8(0x20), 0x09]) } }
                mutated.lines[index].insert(contentsOf: blanks(), at: colon)
                mutated.lines[index] += blanks()
            case 4:  // a hostile size
                let (text, value) = r.pick(FDInfoDocument.hostileNumbers)
                mutated.lines[document.sizeLine] = Array("size:\t\(text)".utf8)
                var info = document.expected
                info.size = value ?? -1
                expected = value == nil ? .malformed : .parsed(info)
            default:  // a line with no colon before the name
                mutated.lines.insert(Array("no colon here".utf8), at: r.below(lastMovable + 1))
                expected = .malformed
            }
            try check(mutated.text, iteration, "mutated") { $0 == expected }

            // then anything at all: the outcome must only be a documented one
            var bytes = mutated.bytes
            for _ in 0..<(r.below(4) + 1) {
                switch r.below(7) {
                case 0: bytes = Array(bytes.prefix(r.below(bytes.count + 1)))  // truncated
                case 1:
                    bytes.insert(
                        contentsOf: (0..<(r.below(8) + 1)).map { _ in UInt8(truncatingIfNeeded: r.next()) },
                        at: r.below(bytes.count + 1))  // random bytes, invalid UTF-8 and NUL among them
                case 2 where !bytes.isEmpty: bytes[r.below(bytes.count)] ^= 1 << UInt8(r.below(8))  // a flipped bit
                case 3: bytes = bytes.flatMap { $0 == 0x0A && r.chance(50) ? [0x0D, 0x0A] : [$0] }  // CRLF
                case 4: bytes = bytes.map { (0x61...0x7A).contains($0) && r.chance(10) ? $0 - 0x20 : $0 }  // case
                case 5:
                    let (text, _) = r.pick(FDInfoDocument.hostileNumbers)
                    let key = r.pick(["size", "ino", "count", "flags", "exp_name", "name", "pos"])
                    bytes.insert(contentsOf: Array("\(key):\t\(text)\n".utf8), at: r.below(bytes.count + 1))
                default:
                    bytes.insert(
                        contentsOf: r.pick([[0x0A], [0x3A], [0x09], [0x20], [0x0A, 0x0A]]), at: r.below(bytes.count + 1)
                    )
                }
            }
            let mangled = String(decoding: bytes, as: UTF8.self)
            try check(mangled, iteration, "mangled") { $0.isConsistent(with: mangled) }

            // and random bytes
            let noise = (0..<r.below(160)).map { _ in
                r.chance(70) ? r.pick(FDInfoDocument.noiseBytes) : UInt8(truncatingIfNeeded: r.next())
            }
            let noiseText = String(decoding: noise, as: UTF8.self)
            try check(noiseText, iteration, "noise") { $0.isConsistent(with: noiseText) }
        }
        let summary = counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        print(
            "fdinfo parser fuzz: seed \(Fuzz.seedText), \(iterations) iterations, \(4 * iterations) inputs: \(summary)")
        #expect(counts.values.reduce(0, +) == 4 * iterations)
    }

    @Test func byteCountParser() {
        let iterations = Fuzz.iterations(20_000)
        var counts: [String: Int] = [:]
        var failures = 0
        for iteration in 0..<iterations {
            var r = Fuzz.generator(iteration, stream: 2)
            let valid = ByteCountOracle.generate(&r)
            var mutated = valid
            for _ in 0..<(r.below(3) + 1) { mutated = ByteCountOracle.mutate(mutated, &r) }
            let noise = String((0..<r.below(12)).map { _ in r.pick(ByteCountOracle.atoms) }.joined())
            let bytes = String(
                decoding: (0..<r.below(12)).map { _ in UInt8(truncatingIfNeeded: r.next()) }, as: UTF8.self)
            for (kind, text) in [("valid", valid), ("mutated", mutated), ("noise", noise), ("bytes", bytes)] {
                let expected = ByteCountOracle(text)
                let parsed = ByteCountOracle.parse(text)
                counts[parsed.isBytes ? "parsed" : "\(parsed)", default: 0] += 1
                // ASCII reads the same as characters and as scalars: the error must match too.
                // Beyond ASCII the parser may name another reason, but never accepts what the
                // grammar refuses, refuses what it accepts, or calls a small number too large.
                let agrees: Bool
                if parsed.isBytes || expected.isBytes || text.utf8.allSatisfy({ $0 < 0x80 }) {
                    agrees = parsed == expected
                } else {
                    agrees = parsed != .tooLarge || expected == .tooLarge
                }
                if !agrees {
                    failures += 1
                    if failures <= 20 {
                        Issue.record(
                            "ByteCount \(kind), seed \(Fuzz.seedText) iteration \(iteration): \(text.debugDescription) gave \(parsed), expected \(expected)"
                        )
                    }
                }
            }
        }
        let summary = counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        print(
            "ByteCount parser fuzz: seed \(Fuzz.seedText), \(iterations) iterations, \(4 * iterations) inputs: \(summary)"
        )
        #expect(failures == 0)
    }

    /// The same inputs through the CLI's option parsing: they parse to the size or fail as
    /// an argument error.
    @Test func allocSizeOption() {
        let iterations = Fuzz.iterations(20_000) / 200  // ArgumentParser takes ~2 ms a parse in debug builds
        var parsed = 0
        for iteration in 0..<iterations {
            var r = Fuzz.generator(iteration, stream: 3)
            var text = ByteCountOracle.generate(&r)
            if r.chance(50) { text = ByteCountOracle.mutate(text, &r) }
            let command = try? Alloc.parse(["--size", text])
            if case .bytes(let bytes) = ByteCountOracle(text), !text.hasPrefix("-") {
                #expect(
                    command?.source.size == bytes,
                    "seed \(Fuzz.seedText) iteration \(iteration): \(text.debugDescription)")
            } else {
                #expect(command == nil, "seed \(Fuzz.seedText) iteration \(iteration): \(text.debugDescription)")
            }
            if command != nil { parsed += 1 }
        }
        print("dmabuf alloc --size fuzz: seed \(Fuzz.seedText), \(iterations) iterations, \(parsed) parsed")
    }

    /// `describe` against an independent reading: "N bytes", and for 1 KiB or more the largest
    /// binary unit not above N with N/unit rounded to the nearest tenth (".0" dropped).
    @Test func byteCountDescription() {
        let units: [(String, Int)] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        var failures = 0
        for iteration in 0..<Fuzz.iterations(20_000) {
            var r = Fuzz.generator(iteration, stream: 4)
            let bytes = Int(bitPattern: UInt(r.magnitude(upTo: .max))) &* (r.chance(10) ? -1 : 1)
            var expected = "\(bytes) bytes"
            if let (suffix, unit) = units.first(where: { bytes >= $0.1 }) {
                let tenths = (Int128(bytes) * 10 + Int128(unit / 2)) / Int128(unit)
                let fraction = tenths % 10 == 0 ? "" : ".\(tenths % 10)"
                expected += " (\(tenths / 10)\(fraction) \(suffix))"
            }
            let text = ByteCount.describe(bytes)
            if text != expected {
                failures += 1
                if failures <= 20 {
                    Issue.record(
                        "describe(\(bytes)) gave \(text.debugDescription), expected \(expected.debugDescription)")
                }
            }
        }
        #expect(failures == 0)
    }
}
