import CDMABuf
import Glibc
import SystemPackage

/// Which failures of a call `syscall` retries.
internal struct RetryPolicy: Sendable {
    let retries: @Sendable (Errno) -> Bool

    /// EINTR: a signal arrived before the call did anything. The default.
    static let interrupted = RetryPolicy { $0 == .interrupted }
    /// EINTR and EAGAIN, as DMA_BUF_IOCTL_SYNC needs while fences are pending.
    static let interruptedOrBusy = RetryPolicy { $0 == .interrupted || $0 == .resourceTemporarilyUnavailable }
    /// Nothing, for close: on Linux the fd is gone even when close reports EINTR, and a retry
    /// could close an fd another thread has just opened.
    static let never = RetryPolicy { _ in false }
}

/// The one way this library calls libc: runs `call` until it succeeds or fails in a way `retry`
/// does not retry, and returns its value or errno.
@inline(__always)
internal func syscall<T>(
    retry: RetryPolicy = .interrupted, failed: (T) -> Bool, _ call: () -> T
) -> Result<T, Errno> {
    while true {
        let value = call()
        guard failed(value) else { return .success(value) }
        let error = Errno(rawValue: Glibc.errno)
        guard retry.retries(error) else { return .failure(error) }
    }
}

/// `syscall` for the usual convention: -1 means failure, errno says why.
@inline(__always)
internal func syscall<T: FixedWidthInteger>(retry: RetryPolicy = .interrupted, _ call: () -> T) -> Result<T, Errno> {
    syscall(retry: retry, failed: { $0 == -1 }, call)
}

/// Thin typed wrappers over the libc calls the library makes, all through `syscall`.
internal enum Sys {
    static let pageSize = Int(try! syscall { sysconf(Int32(_SC_PAGESIZE)) }.get())

    /// EINVAL for a path with a NUL byte, which C would read as a shorter path.
    static func open(_ path: String, _ flags: CInt) -> Result<FileDescriptor, Errno> {
        guard !path.utf8.contains(0) else { return .failure(.invalidArgument) }
        return syscall { Glibc.open(path, flags | O_CLOEXEC) }.map(FileDescriptor.init(rawValue:))
    }

    static func close(_ fd: FileDescriptor) -> Result<Void, Errno> {
        syscall(retry: .never) { Glibc.close(fd.rawValue) }.map { _ in }
    }

    /// `ioctl(fd, request, arg)`. `retryBusy` also retries EAGAIN, as DMA_BUF_IOCTL_SYNC needs.
    static func ioctl(
        _ fd: FileDescriptor, _ request: UInt, _ arg: UnsafeMutableRawPointer, retryBusy: Bool = false
    ) -> Result<CInt, Errno> {
        syscall(retry: retryBusy ? .interruptedOrBusy : .interrupted) {
            Glibc.ioctl(fd.rawValue, request, arg)
        }
    }

    /// `ioctl(fd, request, &value)`: the usual shape, with the argument passed in and out.
    static func ioctl<Argument>(
        _ fd: FileDescriptor, _ request: UInt, _ value: inout Argument, retryBusy: Bool = false
    ) -> Result<CInt, Errno> {
        withUnsafeMutableBytes(of: &value) { ioctl(fd, request, $0.baseAddress!, retryBusy: retryBusy) }
    }

    /// The size of a file or dma-buf: `lseek(fd, 0, SEEK_END)`. (dma-buf's llseek leaves the file
    /// position alone; for other files this moves it to the end.)
    static func sizeBySeekingToEnd(_ fd: FileDescriptor) -> Result<Int, Errno> {
        syscall { Glibc.lseek(fd.rawValue, 0, SEEK_END) }.map { Int($0) }
    }

    static func stat(_ fd: FileDescriptor) -> Result<Glibc.stat, Errno> {
        var info = Glibc.stat()
        return syscall { Glibc.fstat(fd.rawValue, &info) }.map { _ in info }
    }

    /// The fd's status flags (`fcntl(F_GETFL)`): O_RDONLY/O_WRONLY/O_RDWR and the rest.
    static func statusFlags(_ fd: FileDescriptor) -> Result<CInt, Errno> {
        syscall { Glibc.fcntl(fd.rawValue, F_GETFL) }
    }

    /// A new fd for the same open file, close-on-exec.
    static func duplicate(_ fd: FileDescriptor) -> Result<FileDescriptor, Errno> {
        syscall { Glibc.fcntl(fd.rawValue, F_DUPFD_CLOEXEC, 0) }.map(FileDescriptor.init(rawValue:))
    }

    static func mmap(
        _ fd: FileDescriptor, count: Int, offset: Int, protection: CInt
    ) -> Result<UnsafeMutableRawPointer, Errno> {
        let mapFailed = UnsafeMutableRawPointer(bitPattern: -1)
        return syscall(failed: { $0 == mapFailed || $0 == nil }) {
            Glibc.mmap(nil, count, protection, MAP_SHARED, fd.rawValue, off_t(offset))
        }.map { $0! }
    }

    static func munmap(_ address: UnsafeMutableRawPointer, count: Int) -> Result<Void, Errno> {
        syscall { Glibc.munmap(address, count) }.map { _ in }
    }

    /// Reads into `buffer` at `offset`; returns the byte count (0 at the end).
    static func read(_ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Result<Int, Errno> {
        syscall { Glibc.pread(fd.rawValue, buffer.baseAddress, buffer.count, off_t(offset)) }
    }

    static func write(_ fd: FileDescriptor, _ bytes: UnsafeRawBufferPointer, at offset: Int) -> Result<Int, Errno> {
        syscall { Glibc.pwrite(fd.rawValue, bytes.baseAddress, bytes.count, off_t(offset)) }
    }

    /// Reads `fd` from `offset` to its end, or until it has more than `limit` bytes.
    static func readToEnd(_ fd: FileDescriptor, from offset: Int = 0, limit: Int = .max) -> Result<[UInt8], Errno> {
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
    static func readFile(_ path: String) -> Result<[UInt8], Errno> {
        open(path, O_RDONLY).flatMap { fd in
            defer { _ = close(fd) }
            return readToEnd(fd)
        }
    }

    /// What /proc/self/fd/N points at ("/dev/null", "/memfd:x (deleted)", "/dmabuf:"), for messages.
    static func describe(_ fd: FileDescriptor) -> String? {
        var target = [CChar](repeating: 0, count: 256)
        let link = "/proc/self/fd/\(fd.rawValue)"
        guard case .success(let count) = syscall({ Glibc.readlink(link, &target, target.count - 1) }) else {
            return nil
        }
        return String(decoding: target[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
