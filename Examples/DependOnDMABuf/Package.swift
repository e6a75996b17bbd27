// swift-tools-version: 6.2
// A package that depends on swift-dmabuf as any user's does: by URL, here the file:// URL of a
// checkout. Elsewhere it would read
//     .package(url: "https://example.org/swift-dmabuf.git", from: "0.1.0")
// scripts/example builds it against the commit under test: SWIFT_DMABUF_URL is a git repository
// made from `git archive` of that commit, SWIFT_DMABUF_REVISION its commit. Without them it takes
// the branch main of the checkout this directory is in.
import PackageDescription

let checkout = Context.packageDirectory.split(separator: "/").dropLast(2).joined(separator: "/")
let url = Context.environment["SWIFT_DMABUF_URL"] ?? "file:///\(checkout)"
let swiftDMABuf: Package.Dependency =
    if let revision = Context.environment["SWIFT_DMABUF_REVISION"] {
        .package(url: url, revision: revision)
    } else {
        .package(url: url, branch: "main")
    }

let package = Package(
    name: "DependOnDMABuf",
    dependencies: [swiftDMABuf],
    targets: [
        .executableTarget(
            name: "DependOnDMABuf",
            dependencies: [
                .product(name: "DMABuf", package: "swift-dmabuf"),
                .product(name: "DMABufSources", package: "swift-dmabuf"),
                .product(name: "DMABufInspection", package: "swift-dmabuf"),
            ]
        )
    ],
    swiftLanguageModes: [.v6]
)
