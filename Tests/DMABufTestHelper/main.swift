// A child process for the tests (DMABufDeviceTests' conformance suite starts it with posix_spawn):
//
//   DMABufTestHelper FD SEED NEW-SEED
//
// takes the dma-buf it inherited as fd FD, maps it, checks that it holds FillPattern(seed: SEED),
// then fills it with FillPattern(seed: NEW-SEED) for the parent to check. Exit 0 when the pattern
// matched, 1 when it did not, 2 on a usage or system error.
import DMABuf
import Glibc
import SystemPackage

func fail(_ status: Int32, _ message: String) -> Never {
    var line = "DMABufTestHelper: " + message + "\n"
    line.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    exit(status)
}

let arguments = CommandLine.arguments
guard arguments.count == 4, let fd = CInt(arguments[1]), let seed = UInt64(arguments[2]),
    let newSeed = UInt64(arguments[3])
else { fail(2, "usage: DMABufTestHelper FD SEED NEW-SEED") }

do {
    let buffer = try DMABuffer(adopting: FileDescriptor(rawValue: fd))
    var mapping = try buffer.map()
    let mismatch = try mapping.withCPUAccess(.read) { bytes in FillPattern(seed: seed).firstMismatch(in: bytes) }
    if let mismatch { fail(1, "byte \(mismatch) differs from the pattern of seed \(seed)") }
    try mapping.withCPUAccess(.write) { bytes in FillPattern(seed: newSeed).fill(&bytes) }
} catch {
    fail(2, "\(error)")
}
