import DMABuf
import DMABufTestSupport
import Glibc
import Synchronization
import SystemPackage
import Testing

/// The one system-call wrapper, through the mocking seam: which failures it retries.
@Suite struct SyscallWrapper {
    /// A mock that fails the first calls named `name` with `errors`, then lets them through.
    func failing(_ name: String, with errors: [Errno]) -> SyscallMock {
        let remaining = Mutex(errors)
        return SyscallMock { call in
            guard call.name == name else { return .passThrough }
            return remaining.withLock { $0.isEmpty ? .passThrough : .fail($0.removeFirst()) }
        }
    }

    @Test func retriesEINTR() throws {
        let mock = failing("open", with: [.interrupted, .interrupted, .interrupted])
        let fd = try mock.run { try Sys.open("/dev/null", O_RDONLY).get() }
        try fd.close()
        #expect(mock.calls("open").map(\.injected) == [true, true, true, false])
    }

    @Test func reportsOtherErrorsAtOnce() {
        let mock = failing("open", with: [.interrupted, .invalidArgument])
        #expect(mock.run { Sys.open("/dev/null", O_RDONLY) }.map { _ in 0 } == .failure(.invalidArgument))
        #expect(mock.calls("open").count == 2)
    }

    @Test func retriesEAGAINOnlyForSync() throws {
        let open = failing("open", with: [.resourceTemporarilyUnavailable])
        #expect(
            open.run { Sys.open("/dev/null", O_RDONLY) }.map { _ in 0 } == .failure(.resourceTemporarilyUnavailable))
        // SYNC on /dev/null: EAGAIN and EINTR retried, then the real answer, ENOTTY
        let fd = try FileDescriptor.open("/dev/null", .readOnly, options: .closeOnExec)
        defer { try? fd.close() }
        let sync = failing(
            "ioctl", with: [.resourceTemporarilyUnavailable, .interrupted, .resourceTemporarilyUnavailable])
        #expect(sync.run { Sys.dmaBufSync(fd, flags: 0) }.map { 0 } == .failure(.inappropriateIOCTLForDevice))
        #expect(sync.calls("ioctl").count == 4)
    }

    @Test func neverRetriesClose() throws {
        let fd = try FileDescriptor.open("/dev/null", .readOnly, options: .closeOnExec)
        let mock = failing("close", with: [.interrupted])
        #expect(mock.run { Sys.close(fd) }.map { 0 } == .failure(.interrupted))
        #expect(mock.calls("close").count == 1)
        try fd.close()  // the injected EINTR closed nothing
    }

    @Test func closeOfAnFdThatIsNotOpenFailsOnce() {
        let mock = SyscallMock()
        #expect(mock.run { Sys.close(unusedDescriptor()) }.map { 0 } == .failure(.badFileDescriptor))
        #expect(mock.calls("close").count == 1)
    }

    @Test func aMockCanPretendACallSucceeded() {
        let mock = SyscallMock { $0.name == "lseek" ? .succeed(12345) : .passThrough }
        #expect(mock.run { Sys.sizeBySeekingToEnd(unusedDescriptor()) } == .success(12345))
        #expect(Sys.sizeBySeekingToEnd(unusedDescriptor()) == .failure(.badFileDescriptor), "only while installed")
    }

    /// A real EINTR: open() of a FIFO blocks until a writer comes; signals keep interrupting it.
    /// Without the retry the open would fail with EINTR.
    @Test func retriesARealInterruptedCall() async throws {
        let path = "/tmp/dmabuf-test-fifo-\(getpid())"
        unlink(path)
        #expect(mkfifo(path, 0o600) == 0)
        defer { unlink(path) }
        let writer = Task.detached {
            usleep(200_000)
            // without blocking: O_NONBLOCK fails with ENXIO until the reader is there (for 5 s at most)
            for _ in 0..<500 {
                let fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
                if fd >= 0 { return close(fd) }
                usleep(10_000)
            }
            return -1
        }
        let (opened, signals) = withSignalStorm { Sys.open(FilePath(path), O_RDONLY) }
        #expect(await writer.value == 0, "the reader was there")
        #expect(signals > 10, "the open was interrupted many times")
        try opened.get().close()
    }
}
