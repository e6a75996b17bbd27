/// Byte counts as people write them: 4096, 64K, 4KiB, 4MiB, 1G, 2GB, "16 MiB".
///
/// K, M, G and T, with or without "iB", are powers of 1024; KB, MB, GB and TB powers of 1000
/// (as coreutils reads them). Letters may be in any case.
enum ByteCount {
    struct ParseError: Error, CustomStringConvertible, Equatable {
        /// Why the text is not a byte count; tests match this, not the words.
        enum Reason: Equatable {
            case empty, negative, notANumber, fraction, unknownUnit, tooLarge
        }

        var reason: Reason
        var description: String

        init(_ reason: Reason, _ description: String) {
            self.reason = reason
            self.description = description
        }
    }

    static let units: [(suffixes: [String], multiplier: Int)] = [
        (["", "B"], 1),
        (["K", "KIB"], 1 << 10), (["KB"], 1_000),
        (["M", "MIB"], 1 << 20), (["MB"], 1_000_000),
        (["G", "GIB"], 1 << 30), (["GB"], 1_000_000_000),
        (["T", "TIB"], 1 << 40), (["TB"], 1_000_000_000_000),
    ]

    static let examples = "such as 4096, 64K, 4MiB or 1G"

    static func parse(_ text: String) throws(ParseError) -> Int {
        let trimmed = text.trimmingSpaces()
        guard !trimmed.isEmpty else { throw ParseError(.empty, "expected a size, \(examples)") }
        if trimmed.hasPrefix("-") { throw ParseError(.negative, "a size cannot be negative") }
        let digits = trimmed.prefix(while: \.isASCIIDigit)
        let unit = trimmed[digits.endIndex...].trimmingSpaces()
        guard !digits.isEmpty else {
            throw ParseError(.notANumber, "expected a number, \(examples)")
        }
        if unit.first == "." || unit.first == "," {
            throw ParseError(.fraction, "only whole numbers are supported; use a smaller unit (1536K, not 1.5M)")
        }
        // ASCII only: uppercased() maps some other letters to ASCII ones ("ı" to "I").
        guard unit.allSatisfy(\.isASCII),
            let multiplier = units.first(where: { $0.suffixes.contains(unit.uppercased()) })?.multiplier
        else {
            throw ParseError(
                .unknownUnit,
                "unknown unit '\(unit)'; use B, K/KiB, M/MiB, G/GiB, T/TiB "
                    + "(powers of 1024) or KB, MB, GB, TB (powers of 1000)")
        }
        guard let count = Int(digits) else { throw ParseError(.tooLarge, "too large") }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { throw ParseError(.tooLarge, "too large") }
        return bytes
    }

    /// `bytes` for people: "4194304 bytes (4 MiB)", "1000 bytes", "1536 bytes (1.5 KiB)".
    static func describe(_ bytes: Int) -> String {
        let text = "\(bytes) bytes"
        return bytes >= 1 << 10 ? text + " (\(short(bytes)))" : text
    }

    /// `bytes` in a table column: "4 MiB", "1.5 KiB", "512 B", to a tenth of the largest unit.
    static func short(_ bytes: Int) -> String {
        guard
            let (suffix, unit) = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
                .first(where: { bytes >= $0.1 })
        else { return "\(bytes) B" }
        let tenths = bytes / unit * 10 + (bytes % unit * 10 + unit / 2) / unit
        return "\(tenths / 10)\(tenths % 10 == 0 ? "" : ".\(tenths % 10)") \(suffix)"
    }
}

extension Character {
    /// Only "0" to "9" themselves: the range also holds digits with combining marks, such as "4\u{301}".
    fileprivate var isASCIIDigit: Bool { isASCII && ("0"..."9").contains(self) }
}

extension StringProtocol {
    fileprivate func trimmingSpaces() -> SubSequence {
        let start = firstIndex(where: { $0 != " " }) ?? endIndex
        let end = lastIndex(where: { $0 != " " }).map(index(after:)) ?? start
        return self[start..<end]
    }
}
