// swift-tools-version: 6.2
// 6.2 is the first toolchain with RawSpan/MutableRawSpan and the `Lifetimes` feature the mapping views use.
import PackageDescription

let package = Package(
    name: "swift-dmabuf",
    products: [
        .library(name: "DMABuf", targets: ["DMABuf"]),
        .executable(name: "dmabuf", targets: ["DMABufCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // `make docs`: swift package generate-documentation
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // Kernel uapi (dma-buf, DRM, the module's own header) seen through the C preprocessor:
        // every ioctl number and uapi struct the Swift code uses comes from here.
        .target(name: "CDMABuf"),
        .target(
            name: "DMABuf",
            dependencies: [
                "CDMABuf",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: [.enableExperimentalFeature("Lifetimes")]
        ),
        // The `dmabuf` tool. Not named `dmabuf` itself: that would clash with `DMABuf` on
        // case-insensitive file systems and in module names.
        .executableTarget(
            name: "DMABufCLI",
            dependencies: [
                "DMABuf",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "DMABufTests",
            dependencies: [
                "CDMABuf",
                "DMABuf",
                "DMABufCLI",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: [.enableExperimentalFeature("Lifetimes")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
