// swift-tools-version: 6.2
// 6.2 is the first toolchain with RawSpan/MutableRawSpan and the `Lifetimes` feature the mapping views use.
import PackageDescription

/// The library's one seam for system calls (`SyscallMock`), compiled into debug builds only, as
/// swift-system does with its own mocking.
let mocking: [SwiftSetting] = [.define("ENABLE_MOCKING", .when(configuration: .debug))]
let lifetimes: [SwiftSetting] = [.enableExperimentalFeature("Lifetimes")]
/// Test files that import Foundation (to decode `dmabuf ls --json`) must not change what `contains`
/// and friends mean in the other files of their target: each file sees only what it imports.
let ownImports: [SwiftSetting] = [.enableUpcomingFeature("MemberImportVisibility")]

let package = Package(
    name: "swift-dmabuf",
    products: [
        .library(name: "DMABuf", targets: ["DMABuf"]),
        .library(name: "DMABufExporterClient", targets: ["DMABufExporterClient"]),
        .library(name: "DMABufDRM", targets: ["DMABufDRM"]),
        .library(name: "DMABufSources", targets: ["DMABufSources"]),
        .library(name: "DMABufV4L2", targets: ["DMABufV4L2"]),
        .library(name: "DMABufInspection", targets: ["DMABufInspection"]),
        .library(name: "DMABufDisplay", targets: ["DMABufDisplay"]),
        .executable(name: "dmabuf", targets: ["DMABufCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // `make docs`: swift package generate-documentation
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // C shims: kernel uapi seen through the C preprocessor, so that no ioctl number or uapi
        // struct is typed by hand in Swift. Library targets import them with `internal import`.
        // dma-buf, sync_file and friends: linux-libc-dev only.
        .target(name: "CDMABuf"),
        // The dmabuf_exporter module's own uapi header, kernel/include/uapi/linux/dmabuf_exporter.h.
        .target(name: "CDMABufExporter"),
        // DRM and vgem: the few uapi definitions DRMDevice uses, typed once in CDMABufDRMUAPI.h.
        .target(name: "CDMABufDRM"),

        // The core: ownership, mapping, CPU access, metadata. Needs only linux-libc-dev.
        .target(
            name: "DMABuf",
            dependencies: ["CDMABuf", .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: lifetimes + mocking
        ),
        // The client of the dmabuf_exporter kernel module.
        .target(
            name: "DMABufExporterClient",
            dependencies: ["DMABuf", "CDMABufExporter", .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: mocking
        ),
        // DRM devices (vgem and real GPUs): dumb buffers and PRIME import/export.
        .target(
            name: "DMABufDRM",
            dependencies: ["DMABuf", "CDMABufDRM", .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: mocking
        ),
        // Every source behind one allocator: the kinds, why each is (not) available, the default.
        // Its own target because it needs all the others (heaps and udmabuf in DMABuf, the module's
        // client, DRM); the library targets stay independent of one another.
        .target(
            name: "DMABufSources",
            dependencies: [
                "DMABuf", "DMABufExporterClient", "DMABufDRM", .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: mocking
        ),
        // System-wide accounting (`dmabuf ls`): every dma-buf, who holds it, per process and exporter.
        .target(
            name: "DMABufInspection",
            dependencies: ["DMABuf", .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: mocking
        ),
        // A child process for the tests: maps a dma-buf fd it inherits, checks and writes a pattern;
        // or plays the producer or consumer of a buffer pool over an inherited channel.
        .executableTarget(
            name: "DMABufTestHelper",
            dependencies: ["DMABuf", "DMABufSources", .product(name: "SystemPackage", package: "swift-system")],
            path: "Tests/DMABufTestHelper",
            swiftSettings: lifetimes + mocking
        ),
        // V4L2 capture into and out of dma-bufs: MMAP + EXPBUF, and DMABUF import from any allocator.
        .target(
            name: "DMABufV4L2",
            dependencies: ["DMABuf", "CDMABuf", .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: mocking
        ),
        // KMS display (vkms and real GPUs): dma-bufs as framebuffers, atomic commits, flips, writeback.
        .target(
            name: "DMABufDisplay",
            dependencies: [
                "DMABuf", "DMABufDRM", "CDMABufDRM", .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: mocking
        ),
        // libpng (libpng-dev), for `dmabuf capture --save` and `dmabuf display`: the CLI's alone, no library links it.
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        // The `dmabuf` tool. Not named `dmabuf` itself: that would clash with `DMABuf` on
        // case-insensitive file systems and in module names.
        .executableTarget(
            name: "DMABufCLI",
            dependencies: [
                "DMABuf", "DMABufExporterClient", "DMABufSources", "DMABufV4L2", "DMABufInspection", "DMABufDisplay",
                "CDMABufDRM", "CPNG",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Helpers both test targets share: environment gates, fds of every kind, error and leak checks.
        .target(
            name: "DMABufTestSupport",
            dependencies: [
                "CDMABuf", "DMABuf", "DMABufExporterClient", "DMABufDRM", "DMABufSources",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "Tests/DMABufTestSupport",
            swiftSettings: lifetimes + mocking
        ),
        // Pure tests: no device needed; they run in parallel, on the host and in the VMs.
        .testTarget(
            name: "DMABufTests",
            dependencies: [
                "CDMABuf", "CDMABufExporter", "DMABuf", "DMABufExporterClient", "DMABufDRM", "DMABufSources",
                "DMABufV4L2", "DMABufInspection", "DMABufDisplay", "DMABufCLI",
                "DMABufTestSupport",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: lifetimes + mocking + ownImports
        ),
        // Device tests: /dev/dmabuf_exporter and vgem. Serialised; skipped where the devices are
        // missing, except with DMABUF_VM=1 (the VM runner), where a missing device fails them.
        .testTarget(
            name: "DMABufDeviceTests",
            dependencies: [
                "CDMABuf", "CDMABufExporter", "DMABuf", "DMABufExporterClient", "DMABufDRM", "DMABufSources",
                "DMABufV4L2", "DMABufInspection", "DMABufDisplay", "DMABufCLI",
                "DMABufTestSupport",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: lifetimes + mocking + ownImports
        ),
    ],
    swiftLanguageModes: [.v6]
)
