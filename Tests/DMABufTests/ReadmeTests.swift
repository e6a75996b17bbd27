import DMABuf
import SystemPackage
import Testing

/// The README's library example is the code `DeviceTests.ReadmeExample` runs: this fails
/// whenever the two differ.
@Suite struct ReadmeExample {
    static let root = FilePath(#filePath).removingLastComponent().removingLastComponent().removingLastComponent()

    static func read(_ path: FilePath) throws -> String {
        String(decoding: try Sys.readFile(path).get(), as: UTF8.self)
    }

    /// The first ```swift block after the heading `heading`, without its imports.
    static func readmeExample(after heading: String = "## The Swift library") throws -> [Substring] {
        let readme = try read(root.appending("README.md"))
        let lines = readme.split(separator: "\n", omittingEmptySubsequences: false)
        let section = try #require(lines.firstIndex { $0.hasPrefix(heading) }, "a section \(heading)")
        let start = try #require(lines[section...].firstIndex { $0 == "```swift" }, "with a swift block")
        let end = try #require(lines[(start + 1)...].firstIndex { $0 == "```" })
        return Array(lines[(start + 1)..<end].drop { $0.hasPrefix("import ") || $0.isEmpty })
    }

    /// The lines between the markers in the device test, less the markers' indentation.
    static func testedExample(marker: String = "README") throws -> [Substring] {
        let source = try read(root.appending("Tests/DMABufDeviceTests/ReadmeExampleTests.swift"))
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
        let begin = try #require(lines.firstIndex { $0.hasSuffix("// \(marker): begin") })
        let end = try #require(lines.firstIndex { $0.hasSuffix("// \(marker): end") })
        let indent = lines[begin].prefix { $0 == " " }.count
        return lines[(begin + 1)..<end].map { $0.isEmpty ? $0 : $0.dropFirst(indent) }
    }

    @Test func matchesTheReadme() throws {
        let readme = try Self.readmeExample()
        let tested = try Self.testedExample()
        #expect(readme.count > 5)
        #expect(readme == tested, "README.md's library example and the test's copy differ")
    }

    @Test func sourcesExampleMatchesTheReadme() throws {
        let readme = try Self.readmeExample(after: "### Every source of dma-bufs")
        let tested = try Self.testedExample(marker: "README sources")
        #expect(readme.count >= 3)
        #expect(readme == tested, "README.md's sources example and the test's copy differ")
    }
}
