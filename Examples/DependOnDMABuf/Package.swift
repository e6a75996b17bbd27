// swift-tools-version: 6.2
// A package that depends on swift-dmabuf as any user's does: by URL, here the file:// URL of a
// checkout. Elsewhere it would read
//     .package(url: "https://example.org/swift-dmabuf.git", from: "0.1.0")
// scripts/example builds it against the commit under test: SWIFT_DMABUF_URL is a git repository
// made from `git archive` of that commit and tagged 0.1.0, required by version as a user's is.
// Without SWIFT_DMABUF_URL it takes the branch main of the checkout this directory is in.
import PackageDescription

let checkout = Context.packageDirectory.split(separator: "/").dropLast(2).joined(separator: "/")
let swiftDMABuf: Package.Dependency =
    if let url = Context.environment["SWIFT_DMABUF_URL"] {
        .package(url: url, from: "0.1.0")
    } else {
        .package(url: "file:///\(checkout)", branch: "main")
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
                .product(name: "DMABufDisplay", package: "swift-dmabuf"),
            ]
        )
    ],
    swiftLanguageModes: [.v6]
)
