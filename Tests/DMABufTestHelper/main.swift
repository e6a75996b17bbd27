// A child process for the tests, started with posix_spawn:
//
//   DMABufTestHelper FD SEED NEW-SEED
//     takes the dma-buf it inherited as fd FD, maps it, checks that it holds FillPattern(seed: SEED),
//     then fills it with FillPattern(seed: NEW-SEED) for the parent to check. Exit 0 when the
//     pattern matched, 1 when it did not, 2 on a usage or system error.
//
//   DMABufTestHelper pool-producer SOURCE SIZE COUNT FRAMES DIE-AT
//     the producer of a buffer pool on the channel it inherited as fd 3: COUNT buffers of SIZE bytes
//     from SOURCE (memfd, or a DMABufSource name such as exporter), FRAMES frames, frame n filled with
//     FillPattern(seed: n + 1). DIE-AT: start, registering, registered, submitted or never: where it
//     SIGKILLs itself. Exit 0 after a goodbye; 4 when the consumer went away and every buffer came
//     back; 5 when it went away and buffers did not come back.
//
//   DMABufTestHelper pool-consumer ADMIT DIE-AT FENCE-TIMEOUT-MS
//     the consumer on fd 3: checks each frame's pattern (waiting for its fence first, up to
//     FENCE-TIMEOUT-MS) and releases it. ADMIT: dmabuf, or memfd (debug builds: memfds pass as
//     buffers). DIE-AT: start, registered, holding, released or never. Exit 0 after the producer's
//     goodbye, 1 on a pattern mismatch, 3 when a fence timed out, 4 when the producer went away.
//
//   DMABufTestHelper hold READY-FD SPEC...
//     a holder for `dmabuf ls`: does what each SPEC says, then writes its pid (4 bytes) to READY-FD,
//     closes it and waits to be killed. SPEC is `fd:N` (keep inherited fd N open), `map:N` (map all
//     of fd N, then close N: the buffer is held by the mapping only), `alloc:COUNT:SIZE` (allocate
//     COUNT buffers of SIZE bytes from the default source and keep their fds) or `fork:COUNT` (go on
//     as COUNT processes, each doing the SPECs after it; kill the process group to end them all).
//     Exit 2 on a bad SPEC or a failure.
import DMABuf
import DMABufSources
import Glibc
import SystemPackage

func fail(_ status: Int32, _ message: String) -> Never {
    var line = "DMABufTestHelper: " + message + "\n"
    line.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    exit(status)
}

func dieIf(_ step: String, _ dieAt: String) {
    if step == dieAt { kill(getpid(), SIGKILL) }
}

let channelDescriptor = FileDescriptor(rawValue: 3)

func makeBuffer(source: String, size: Int) throws(DMABufError) -> DMABuffer {
    if source == "memfd" {
        let fd = try Sys.memfdCreate("pool", flags: 0).get("memfd_create")
        try Sys.truncate(fd, size: size).get("ftruncate")
        return try DMABuffer(trusting: fd)
    }
    guard let kind = DMABufSource(rawValue: source) else { fail(2, "unknown source \(source)") }
    let allocator = try kind.open()
    return try allocator.allocate(size: size, name: "pool")
}

func produce(_ arguments: ArraySlice<String>) throws(DMABufError) -> Never {
    let arguments = Array(arguments)
    guard arguments.count == 5, let size = Int(arguments[1]), let count = Int(arguments[2]),
        let frames = Int(arguments[3])
    else { fail(2, "usage: pool-producer SOURCE SIZE COUNT FRAMES DIE-AT") }
    let (source, dieAt) = (arguments[0], arguments[4])
    let channel = try DMABufChannel(adopting: channelDescriptor)
    dieIf("start", dieAt)
    if dieAt == "registering" {
        // One buffer of the pool registered, then death.
        let buffer = try makeBuffer(source: source, size: size)
        try channel.send(
            DMABufChannelMessage(.register, sequence: UInt64(count), length: UInt64(buffer.size)), buffer: buffer)
        dieIf("registering", dieAt)
    }
    var producer = try BufferPoolProducer(channel: channel, count: count) { _ throws(DMABufError) in
        try makeBuffer(source: source, size: size)
    }
    dieIf("registered", dieAt)
    do {
        for frame in 0..<frames {
            let index = try producer.blockingAcquire()
            try producer.withBuffer(at: index) { buffer throws(DMABufError) in
                var mapping = try buffer.map()
                let pattern = FillPattern(seed: UInt64(frame) + 1)
                if source == "memfd" {  // no DMA_BUF_IOCTL_SYNC on a memfd
                    var bytes = mapping.unsynchronizedMutableBytes
                    pattern.fill(&bytes)
                    return
                }
                do {
                    try mapping.withCPUAccess(.write) { bytes in pattern.fill(&bytes) }
                } catch {
                    fail(2, "fill: \(error)")
                }
            }
            try producer.submit(index: index, bytesUsed: size)
            dieIf("submitted", dieAt)
        }
    } catch  where error.code == .disconnected {
        fail(producer.freeCount == producer.count ? 4 : 5, "\(error)")
    }
    try producer.finish()
    exit(0)
}

func consume(_ arguments: ArraySlice<String>) throws(DMABufError) -> Never {
    let arguments = Array(arguments)
    guard arguments.count == 3, let timeout = Int(arguments[2]) else {
        fail(2, "usage: pool-consumer ADMIT DIE-AT FENCE-TIMEOUT-MS")
    }
    let dieAt = arguments[1]
    let channel: DMABufChannel
    if arguments[0] == "memfd" {
        #if ENABLE_MOCKING
        channel = try DMABufChannel(
            owning: channelDescriptor, maximumDescriptors: DMABufChannel.defaultMaximumDescriptors,
            admission: .dmaBufsAndMemfdsForTesting)
        #else
        fail(2, "memfd admission needs a debug build")
        #endif
    } else {
        channel = try DMABufChannel(adopting: channelDescriptor)
    }
    dieIf("start", dieAt)
    var consumer = try BufferPoolConsumer(channel: channel)
    dieIf("registered", dieAt)
    do {
        while var frame = try consumer.blockingNext() {
            dieIf("holding", dieAt)
            if let fence = frame.fence.take() {
                do {
                    try fence.wait(timeout: .milliseconds(timeout))
                } catch  where error.code == .timedOut {
                    fail(3, "the fence of frame \(frame.sequence) did not signal within \(timeout) ms")
                }
            }
            let (sequence, bytesUsed) = (frame.sequence, frame.bytesUsed)
            let mismatch = try consumer.withBuffer(at: frame.index) { buffer throws(DMABufError) in
                let mapping = try buffer.map()
                if arguments[0] == "memfd" {  // no DMA_BUF_IOCTL_SYNC on a memfd
                    let bytes = mapping.unsynchronizedBytes.extracting(0..<bytesUsed)
                    return FillPattern(seed: sequence + 1).firstMismatch(in: bytes)
                }
                do {
                    return try mapping.withCPUAccess(.read) { bytes in
                        FillPattern(seed: sequence + 1).firstMismatch(in: bytes.extracting(0..<bytesUsed))
                    }
                } catch {
                    fail(2, "read: \(error)")
                }
            }
            if let mismatch { fail(1, "frame \(sequence): byte \(mismatch) differs from its pattern") }
            try consumer.release(frame)
            dieIf("released", dieAt)
        }
    } catch  where error.code == .disconnected {
        fail(4, "\(error)")
    }
    try consumer.finish()
    exit(0)
}

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

let arguments = CommandLine.arguments
do {
    switch arguments.dropFirst().first {
    case "pool-producer": try produce(arguments.dropFirst(2))
    case "pool-consumer": try consume(arguments.dropFirst(2))
    case "hold":
        guard arguments.count >= 3, let ready = CInt(arguments[2]) else {
            fail(2, "usage: DMABufTestHelper hold READY-FD SPEC...")
        }
        try hold(arguments[3...], ready: ready)
    default: break
    }
} catch {
    fail(2, "\(error)")
}

guard arguments.count == 4, let fd = CInt(arguments[1]), let seed = UInt64(arguments[2]),
    let newSeed = UInt64(arguments[3])
else {
    fail(2, "usage: DMABufTestHelper FD SEED NEW-SEED | pool-producer ... | pool-consumer ... | hold READY-FD SPEC...")
}

do {
    let buffer = try DMABuffer(adopting: FileDescriptor(rawValue: fd))
    var mapping = try buffer.map()
    let mismatch = try mapping.withCPUAccess(.read) { bytes in FillPattern(seed: seed).firstMismatch(in: bytes) }
    if let mismatch { fail(1, "byte \(mismatch) differs from the pattern of seed \(seed)") }
    try mapping.withCPUAccess(.write) { bytes in FillPattern(seed: newSeed).fill(&bytes) }
} catch {
    fail(2, "\(error)")
}
