// What a program can do with swift-dmabuf on any Linux machine, dma-buf devices or not: say which
// sources of dma-bufs it has and why the others are missing, allocate from the default one if there
// is one, refuse an fd that is not a dma-buf, list the dma-bufs the system holds, and describe a
// frame for a display and find one.
// Exits 1 if the library breaks one of its promises.
import DMABuf
import DMABufDisplay
import DMABufInspection
import DMABufSources
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

var broken: [String] = []

print("sources:")
for status in DMABufSource.survey() {
    print("  \(status.source.rawValue): \(status.isAvailable ? "available" : "unavailable"), \(status.detail)")
    if !status.isAvailable && status.detail.isEmpty { broken.append("\(status.source.rawValue) gives no reason") }
}

do {
    let allocator = try DMABufSource.automatic()
    let buffer = try allocator.allocate(size: 4096, name: "example")
    print("allocated \(buffer.size) bytes from \(allocator.source.rawValue), inode \(buffer.identity.inode)")
} catch {
    // No source on this machine: the error says what is missing and how to get it.
    print("no dma-buf source here: \(error)")
    if error.code != .deviceMissing && error.code != .permissionDenied && error.code != .unsupported {
        broken.append("automatic() failed with \(error.code), not a missing or closed device")
    }
}

let null = try FileDescriptor.open("/dev/null", .readOnly, options: .closeOnExec)
do {
    _ = try DMABuffer(adopting: null)
    broken.append("DMABuffer(adopting:) took /dev/null")
} catch {
    print("/dev/null refused: \(error)")
    if error.code != .notADMABuf { broken.append("/dev/null refused with \(error.code), not .notADMABuf") }
}
do {
    try null.close()  // a refused fd stays the caller's: it must still be open
} catch {
    broken.append("the refused fd was closed: \(error)")
}

let snapshot = DMABufSnapshot.scan()
print("system: \(snapshot.total.bufferCount) dma-bufs, \(snapshot.total.size) bytes", terminator: "")
print(snapshot.isPartial ? " (partial: \(snapshot.unreadable.count) things unreadable)" : "")

let frame = try ImageLayout.packed(width: 1280, height: 720, format: .xrgb8888)
print("a \(frame) frame takes \(frame.bufferSizes[0]) bytes")
do {
    let display = try KMSDevice.open(driver: "vkms")
    print("display: \(try display.output().connector.name)")
} catch {
    print("no vkms display here: \(error)")
    if error.code != .deviceMissing && error.code != .permissionDenied {
        broken.append("KMSDevice.open(driver:) failed with \(error.code), not a missing or closed device")
    }
}

if !broken.isEmpty {
    for problem in broken { print("FAIL: \(problem)") }
    exit(1)
}
print("OK")
