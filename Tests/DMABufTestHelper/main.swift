// A child process for the tests (DMABufDeviceTests start it with posix_spawn):
//
//   DMABufTestHelper FD SEED NEW-SEED
//
// takes the dma-buf it inherited as fd FD, maps it, checks that it holds FillPattern(seed: SEED),
// then fills it with FillPattern(seed: NEW-SEED) for the parent to check. Exit 0 when the pattern
// matched, 1 when it did not, 2 on a usage or system error.
//
//   DMABufTestHelper hold READY-FD SPEC...
//
// a holder for `dmabuf ls`: does what each SPEC says, then writes its pid (4 bytes) to READY-FD,
// closes it and waits to be killed. SPEC is `fd:N` (keep inherited fd N open), `map:N` (map all of
// fd N, then close N: the buffer is held by the mapping only), `alloc:COUNT:SIZE` (allocate COUNT
// buffers of SIZE bytes from the default source and keep their fds) or `fork:COUNT` (go on as
// COUNT processes, each doing the SPECs after it; kill the process group to end them all).
// Exit 2 on a bad SPEC or a failure.
import DMABuf
import DMABufSources
import Glibc
import SystemPackage

func fail(_ status: Int32, _ message: String) -> Never {
    var line = "DMABufTestHelper: " + message + "\n"
    line.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    exit(status)
}

let arguments = CommandLine.arguments

/// Does `specs` one by one, then signals `ready` and waits to be killed.
func hold(_ specs: ArraySlice<String>, ready: CInt) throws -> Never {
    guard let spec = specs.first else {
        var pid = getpid()
        guard Glibc.write(ready, &pid, 4) == 4 else { fail(2, "write to the ready fd: \(Errno(rawValue: errno))") }
        Glibc.close(ready)
        while true { pause() }
    }
    let parts = spec.split(separator: ":").map(String.init)
    switch (parts.first, parts.count) {
    case ("fd", 2):
        guard CInt(parts[1]) != nil else { fail(2, "bad SPEC \(spec)") }
        try hold(specs.dropFirst(), ready: ready)
    case ("map", 2):
        guard let fd = CInt(parts[1]) else { fail(2, "bad SPEC \(spec)") }
        // mmap itself, not DMABuffer.map(): a library mapping keeps an fd for its CPU-access
        // ioctls, and this process must hold the buffer by the mapping alone. Never unmapped.
        let buffer = try DMABuffer(adopting: FileDescriptor(rawValue: fd))
        let size = buffer.size
        try buffer.withUnsafeDescriptor { fd in
            _ = try Sys.mmap(fd, count: size, offset: 0, protection: PROT_READ | PROT_WRITE).get()
        }
        try buffer.close()
        try hold(specs.dropFirst(), ready: ready)
    case ("fork", 2):
        guard let count = Int(parts[1]), count >= 1 else { fail(2, "bad SPEC \(spec)") }
        for _ in 1..<count {
            let child = fork()
            if child == -1 { fail(2, "fork: \(Errno(rawValue: errno))") }
            if child == 0 { break }
        }
        try hold(specs.dropFirst(), ready: ready)
    case ("alloc", 3):
        guard let count = Int(parts[1]), let size = Int(parts[2]) else { fail(2, "bad SPEC \(spec)") }
        let allocator = try DMABufSource.automatic()
        for index in 0..<count {
            // Kept open until the process is killed.
            _ = try allocator.allocate(size: size, name: "held-\(index)").takeDescriptor()
        }
        try hold(specs.dropFirst(), ready: ready)
    default:
        fail(2, "bad SPEC \(spec): fd:N, map:N, alloc:COUNT:SIZE or fork:COUNT")
    }
}

if arguments.count >= 3 && arguments[1] == "hold" {
    guard let ready = CInt(arguments[2]) else { fail(2, "usage: DMABufTestHelper hold READY-FD SPEC...") }
    do {
        try hold(arguments[3...], ready: ready)
    } catch {
        fail(2, "\(error)")
    }
}

guard arguments.count == 4, let fd = CInt(arguments[1]), let seed = UInt64(arguments[2]),
    let newSeed = UInt64(arguments[3])
else { fail(2, "usage: DMABufTestHelper FD SEED NEW-SEED, or DMABufTestHelper hold READY-FD SPEC...") }

do {
    let buffer = try DMABuffer(adopting: FileDescriptor(rawValue: fd))
    var mapping = try buffer.map()
    let mismatch = try mapping.withCPUAccess(.read) { bytes in FillPattern(seed: seed).firstMismatch(in: bytes) }
    if let mismatch { fail(1, "byte \(mismatch) differs from the pattern of seed \(seed)") }
    try mapping.withCPUAccess(.write) { bytes in FillPattern(seed: newSeed).fill(&bytes) }
} catch {
    fail(2, "\(error)")
}
