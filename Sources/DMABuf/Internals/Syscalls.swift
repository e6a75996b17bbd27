#if os(Linux)
internal import CDMABuf
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization
import SystemPackage

/// Which failures of a call `syscall` retries.
package struct RetryPolicy: Sendable {
    let retries: @Sendable (Errno) -> Bool

    /// EINTR: a signal arrived before the call did anything. The default.
    package static let interrupted = RetryPolicy { $0 == .interrupted }
    /// EINTR and EAGAIN, as DMA_BUF_IOCTL_SYNC needs while fences are pending.
    package static let interruptedOrBusy = RetryPolicy {
        $0 == .interrupted || $0 == .resourceTemporarilyUnavailable
    }
    /// Nothing, for close: on Linux the fd is gone even when close reports EINTR, and a retry
    /// could close an fd another thread has just opened.
    package static let never = RetryPolicy { _ in false }
}

/// The one way this library calls libc: runs `body` until it succeeds or fails in a way `retry`
/// does not retry, and returns its value or errno. -1 means failure, errno says why.
///
/// In debug builds the task's `SyscallMock`, if any, sees `call` first (see Mocking.swift).
@inline(__always)
package func syscall<T: FixedWidthInteger>(
    _ call: @autoclosure () -> SystemCallDescription, retry: RetryPolicy = .interrupted, _ body: () -> T
) -> Result<T, Errno> {
    while true {
        let value: T
        #if ENABLE_MOCKING
        if let mock = SyscallMock.current {
            let described = call()
            switch mock.response(to: described) {
            case .fail(let error):
                mock.record(described, .failure(error), injected: true)
                if retry.retries(error) { continue }
                return .failure(error)
            case .succeed(let fake):
                mock.record(described, .success(fake), injected: true)
                return .success(T(truncatingIfNeeded: fake))
            case .passThrough:
                value = body()
                let error = Errno(rawValue: Glibc.errno)
                mock.record(described, value == -1 ? .failure(error) : .success(Int(value)), injected: false)
                Glibc.errno = error.rawValue
            }
        } else {
            value = body()
        }
        #else
        value = body()
        #endif
        guard value == -1 else { return .success(value) }
        let error = Errno(rawValue: Glibc.errno)
        guard retry.retries(error) else { return .failure(error) }
    }
}

#if ENABLE_MOCKING
package typealias SystemCallDescription = SystemCall
#else
/// Release builds describe no calls.
package struct SystemCallDescription {
    package init(
        _ name: String, descriptor: CInt? = nil, request: UInt? = nil, argument: UInt64? = nil,
        createsDescriptor: Bool = false
    ) {}
}
#endif

/// Thin typed wrappers over the libc calls the library makes, all through `syscall`.
package enum Sys {
    package static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// `open(path, flags | O_CLOEXEC)`. (A `FilePath` cannot hold a NUL byte: made from a string
    /// with one, it ends at the NUL.)
    package static func open(_ path: FilePath, _ flags: CInt) -> Result<FileDescriptor, Errno> {
        path.withPlatformString { cPath in
            syscall(SystemCallDescription("open", createsDescriptor: true)) { Glibc.open(cPath, flags | O_CLOEXEC) }
        }.map(FileDescriptor.init(rawValue:))
    }

    package static func close(_ fd: FileDescriptor) -> Result<Void, Errno> {
        syscall(SystemCallDescription("close", descriptor: fd.rawValue), retry: .never) {
            CDMABuf_close(fd.rawValue)
        }.map { _ in }
    }

    /// `ioctl(fd, request, arg)`. `retry` is EINTR by default; DMA_BUF_IOCTL_SYNC also retries EAGAIN.
    package static func ioctl(
        _ fd: FileDescriptor, _ request: UInt, _ arg: UnsafeMutableRawPointer, argument: UInt64? = nil,
        retry: RetryPolicy = .interrupted
    ) -> Result<CInt, Errno> {
        syscall(
            SystemCallDescription("ioctl", descriptor: fd.rawValue, request: request, argument: argument), retry: retry
        ) {
            CDMABuf_ioctl(fd.rawValue, request, arg)
        }
    }

    /// `ioctl(fd, request, &value)`: the usual shape, with the argument passed in and out.
    package static func ioctl<Argument>(
        _ fd: FileDescriptor, _ request: UInt, _ value: inout Argument, argument: UInt64? = nil,
        retry: RetryPolicy = .interrupted
    ) -> Result<CInt, Errno> {
        withUnsafeMutableBytes(of: &value) { bytes in
            #if ENABLE_MOCKING
            if SyscallMock.current != nil {
                var call = SystemCall("ioctl", descriptor: fd.rawValue, request: request, argument: argument)
                call.argumentBytes = Array(bytes)
                return syscall(call, retry: retry) { CDMABuf_ioctl(fd.rawValue, request, bytes.baseAddress!) }
            }
            #endif
            return ioctl(fd, request, bytes.baseAddress!, argument: argument, retry: retry)
        }
    }

    /// DMA_BUF_IOCTL_SYNC with raw `flags`, retrying EINTR and EAGAIN. Inlined into its callers:
    /// it is the whole of CPU access's hot path (`dmabuf bench`, sync-pair).
    @inline(__always)
    package static func dmaBufSync(_ fd: FileDescriptor, flags: UInt64) -> Result<Void, Errno> {
        var sync = dma_buf_sync(flags: flags)
        return ioctl(fd, CDMABuf_DMA_BUF_IOCTL_SYNC(), &sync, argument: flags, retry: .interruptedOrBusy).map { _ in }
    }

    /// The size of a file or dma-buf: `lseek(fd, 0, SEEK_END)`. (dma-buf's llseek leaves the file
    /// position alone; for other files this moves it to the end.)
    package static func sizeBySeekingToEnd(_ fd: FileDescriptor) -> Result<Int, Errno> {
        syscall(SystemCallDescription("lseek", descriptor: fd.rawValue)) { Glibc.lseek(fd.rawValue, 0, SEEK_END) }
            .map { Int($0) }
    }

    /// `fstat`, as the system call (see `CDMABuf_fstat`).
    package static func stat(_ fd: FileDescriptor) -> Result<Glibc.stat, Errno> {
        var info = Glibc.stat()
        return syscall(SystemCallDescription("fstat", descriptor: fd.rawValue)) { CDMABuf_fstat(fd.rawValue, &info) }
            .map { _ in info }
    }

    /// `stat(path)`: follows symbolic links, so for /proc/<pid>/fd/N it describes the open file.
    package static func stat(_ path: FilePath) -> Result<Glibc.stat, Errno> {
        var info = Glibc.stat()
        return path.withPlatformString { cPath in
            syscall(SystemCallDescription("stat")) { Glibc.fstatat(AT_FDCWD, cPath, &info, 0) }
        }.map { _ in info }
    }

    /// The type of the file system the fd's file lives on (`fstatfs().f_type`).
    package static func fileSystemType(_ fd: FileDescriptor) -> Result<Int, Errno> {
        var info = CDMABuf.statfs()
        return syscall(SystemCallDescription("fstatfs", descriptor: fd.rawValue)) {
            CDMABuf.fstatfs(fd.rawValue, &info)
        }
        .map { _ in Int(info.f_type) }
    }

    /// The f_type of every dma-buf: DMA_BUF_MAGIC from <linux/magic.h>.
    package static var dmaBufMagic: Int { Int(CDMABuf_DMA_BUF_MAGIC()) }

    /// The device number of dma-buf's pseudo file system once an fd has shown it, 0 before.
    /// Every dma-buf's inode lives on that one superblock (since Linux 5.3, which the
    /// DMA_BUF_MAGIC check needs anyway), so an fd whose `st_dev` is this one is a dma-buf, and
    /// no other file has it.
    private static let learnedDMABufDevice = Atomic<UInt64>(0)

    /// What `fstat` says of the fd that a `DMABuffer` stores, with the type of the file system
    /// its file lives on: DMA_BUF_MAGIC for a dma-buf. The first dma-buf is recognised by
    /// `fstatfs().f_type`, and its `st_dev` learned; from then on `fstat`, which adopting an fd
    /// needs anyway for its size and identity, is the whole check, and `fstatfs` is asked only
    /// about other files.
    package static func metadataAndFileSystemType(
        _ fd: FileDescriptor
    ) -> Result<(DMABuffer.Metadata, type: Int), Errno> {
        let metadata: DMABuffer.Metadata
        switch stat(fd) {
        case .success(let info): metadata = DMABuffer.Metadata(info)
        case .failure(let error): return .failure(error)
        }
        let device = metadata.identity.device
        return withDMABufDeviceCache { learned in
            // 0 is "not learned yet", and no file's device (anonymous devices start at 0:1).
            if device != 0 && device == learned.load(ordering: .relaxed) { return .success((metadata, dmaBufMagic)) }
            return fileSystemType(fd).map { type in
                if type == dmaBufMagic { learned.store(device, ordering: .relaxed) }
                return (metadata, type)
            }
        }
    }

    /// The process's learned device; in debug builds a `SyscallMock`'s own while one is
    /// installed, so that a mock that fakes fstatfs cannot teach the process a wrong device.
    private static func withDMABufDeviceCache<R>(_ body: (borrowing Atomic<UInt64>) -> R) -> R {
        #if ENABLE_MOCKING
        if let mock = SyscallMock.current { return body(mock.learnedDMABufDevice) }
        #endif
        return body(learnedDMABufDevice)
    }

    /// The fd's status flags (`fcntl(F_GETFL)`): O_RDONLY/O_WRONLY/O_RDWR and the rest.
    package static func statusFlags(_ fd: FileDescriptor) -> Result<CInt, Errno> {
        fcntl(fd, F_GETFL)
    }

    /// Adds `flags` (O_NONBLOCK, say) to the status flags of the fd's open file.
    package static func setStatusFlags(_ fd: FileDescriptor, adding flags: CInt) -> Result<Void, Errno> {
        statusFlags(fd).flatMap { current in
            current & flags == flags ? .success(()) : fcntl(fd, F_SETFL, current | flags).map { _ in }
        }
    }

    /// Sets FD_CLOEXEC (the only fd flag) on the fd.
    package static func setCloseOnExec(_ fd: FileDescriptor) -> Result<Void, Errno> {
        fcntl(fd, F_SETFD, FD_CLOEXEC).map { _ in }
    }

    /// A new fd for the same open file, close-on-exec.
    package static func duplicate(_ fd: FileDescriptor) -> Result<FileDescriptor, Errno> {
        fcntl(fd, F_DUPFD_CLOEXEC, createsDescriptor: true).map(FileDescriptor.init(rawValue:))
    }

    /// A shared mapping of `count` bytes of `fd` from `offset`.
    package static func mmap(
        _ fd: FileDescriptor, count: Int, offset: Int, protection: CInt
    ) -> Result<UnsafeMutableRawPointer, Errno> {
        // MAP_FAILED is (void *)-1, so the address reads as -1 on failure like other calls' results.
        syscall(SystemCallDescription("mmap", descriptor: fd.rawValue)) {
            Int(bitPattern: Glibc.mmap(nil, count, protection, MAP_SHARED, fd.rawValue, off_t(offset)))
        }.flatMap { address in
            UnsafeMutableRawPointer(bitPattern: address).map { .success($0) } ?? .failure(.noMemory)
        }
    }

    package static func munmap(_ address: UnsafeMutableRawPointer, count: Int) -> Result<Void, Errno> {
        syscall(SystemCallDescription("munmap")) { Glibc.munmap(address, count) }.map { _ in }
    }

    /// Reads into `buffer` at `offset`; returns the byte count (0 at the end).
    package static func read(
        _ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer, at offset: Int
    ) -> Result<Int, Errno> {
        syscall(SystemCallDescription("pread", descriptor: fd.rawValue)) {
            Glibc.pread(fd.rawValue, buffer.baseAddress, buffer.count, off_t(offset))
        }
    }

    /// Reads into `buffer` at the file's position (for files without one, such as a DRM device's
    /// event queue); returns the byte count.
    package static func read(_ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer) -> Result<Int, Errno> {
        syscall(SystemCallDescription("read", descriptor: fd.rawValue)) {
            Glibc.read(fd.rawValue, buffer.baseAddress, buffer.count)
        }
    }

    package static func write(_ fd: FileDescriptor, _ bytes: UnsafeRawBufferPointer, at offset: Int) -> Result<
        Int, Errno
    > {
        syscall(SystemCallDescription("pwrite", descriptor: fd.rawValue)) {
            Glibc.pwrite(fd.rawValue, bytes.baseAddress, bytes.count, off_t(offset))
        }
    }

    /// Reads `fd` from `offset` to its end, or until it has more than `limit` bytes.
    package static func readToEnd(_ fd: FileDescriptor, from offset: Int = 0, limit: Int = .max) -> Result<
        [UInt8], Errno
    > {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count <= limit {
            let count: Int
            switch chunk.withUnsafeMutableBytes({ read(fd, into: $0, at: offset + bytes.count) }) {
            case .success(let n): count = n
            case .failure(let error): return .failure(error)
            }
            if count == 0 { break }
            bytes += chunk[..<count]
        }
        return .success(bytes)
    }

    /// The whole content of a (small) file such as /proc/self/fdinfo/N.
    package static func readFile(_ path: FilePath) -> Result<[UInt8], Errno> {
        open(path, O_RDONLY).flatMap { fd in
            defer { _ = close(fd) }
            return readToEnd(fd)
        }
    }

    /// Where symbolic link `path` points, cut at `limit` bytes: "/dev/null", "/dmabuf:frame".
    package static func readLink(_ path: FilePath, limit: Int = 256) -> Result<String, Errno> {
        var target = [CChar](repeating: 0, count: limit)
        return path.withPlatformString { cPath in
            syscall(SystemCallDescription("readlink")) { Glibc.readlink(cPath, &target, target.count) }
        }.map { count in String(decoding: target[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
    }

    /// What /proc/self/fd/N points at ("/dev/null", "/memfd:x (deleted)", "/dmabuf:"), for messages.
    package static func describe(_ fd: FileDescriptor) -> String? {
        try? readLink(FilePath("/proc/self/fd/\(fd.rawValue)")).get()
    }

    /// How a message names an fd: "fd 5 (/dev/null)", or "fd 5" if /proc does not say.
    package static func name(_ fd: FileDescriptor) -> String {
        describe(fd).map { "fd \(fd.rawValue) (\($0))" } ?? "fd \(fd.rawValue)"
    }

    /// `memfd_create(name, flags | MFD_CLOEXEC)`.
    package static func memfdCreate(_ name: String, flags: UInt32) -> Result<FileDescriptor, Errno> {
        syscall(SystemCallDescription("memfd_create", createsDescriptor: true)) {
            CDMABuf_memfd_create(name, flags | CDMABuf_MFD_CLOEXEC())
        }.map(FileDescriptor.init(rawValue:))
    }

    /// `ftruncate(fd, size)`.
    package static func truncate(_ fd: FileDescriptor, size: Int) -> Result<Void, Errno> {
        syscall(SystemCallDescription("ftruncate", descriptor: fd.rawValue)) {
            Glibc.ftruncate(fd.rawValue, off_t(size))
        }
        .map { _ in }
    }

    /// `fcntl(fd, command, argument)` with an int argument or none (F_GETFL, F_SETFD,
    /// F_DUPFD_CLOEXEC, the seals). `createsDescriptor` for a command that returns a new fd, so
    /// that leak checks see it.
    package static func fcntl(
        _ fd: FileDescriptor, _ command: CInt, _ argument: CInt = 0, createsDescriptor: Bool = false
    ) -> Result<CInt, Errno> {
        syscall(
            SystemCallDescription(
                "fcntl", descriptor: fd.rawValue, request: UInt(command), createsDescriptor: createsDescriptor)
        ) {
            CDMABuf_fcntl(fd.rawValue, command, argument)
        }
    }

    /// The names in directory `path`, without "." and "..", sorted.
    package static func listDirectory(_ path: FilePath) -> Result<[String], Errno> {
        path.withPlatformString { cPath in
            syscall(SystemCallDescription("opendir")) {
                // NULL on failure; the wrapper takes -1 for that.
                let address = Int(bitPattern: Glibc.opendir(cPath))
                return address == 0 ? -1 : address
            }
        }.map { address in
            let directory = OpaquePointer(bitPattern: address)!
            defer { _ = syscall(SystemCallDescription("closedir")) { Glibc.closedir(directory) } }
            var names: [String] = []
            while let entry = Glibc.readdir(directory) {
                let name = withUnsafeBytes(of: &entry.pointee.d_name) { bytes in
                    String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name != "." && name != ".." { names.append(name) }
            }
            return names.sorted()
        }
    }
}
#endif  // os(Linux)
