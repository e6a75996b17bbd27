import Glibc
import SystemPackage
import Testing

@testable import DMABuf

extension DMABufTests {
    @Suite struct SyscallWrapper {
        /// A fake call that fails with each of `errors` in turn, then returns 7.
        func failing(with errors: [Errno], policy: RetryPolicy = .interrupted) -> (Result<CInt, Errno>, calls: Int) {
            var calls = 0
            let result = syscall(retry: policy) { () -> CInt in
                defer { calls += 1 }
                guard calls < errors.count else { return 7 }
                Glibc.errno = errors[calls].rawValue
                return -1
            }
            return (result, calls)
        }

        @Test func retriesEINTR() {
            let (result, calls) = failing(with: [.interrupted, .interrupted, .interrupted])
            #expect(result == .success(7) && calls == 4)
        }

        @Test func reportsOtherErrorsAtOnce() {
            let (result, calls) = failing(with: [.interrupted, .invalidArgument])
            #expect(result == .failure(.invalidArgument) && calls == 2)
        }

        @Test func retriesEAGAINOnlyWhenAsked() {
            #expect(failing(with: [.resourceTemporarilyUnavailable]).0 == .failure(.resourceTemporarilyUnavailable))
            let (result, calls) = failing(with: [.resourceTemporarilyUnavailable, .interrupted, .resourceTemporarilyUnavailable],
                                          policy: .interruptedOrBusy)
            #expect(result == .success(7) && calls == 4)
        }

        @Test func neverRetriesForClose() {
            let (result, calls) = failing(with: [.interrupted], policy: .never)
            #expect(result == .failure(.interrupted) && calls == 1)
        }

        @Test func closeOfAClosedFdFailsOnce() {
            #expect(Sys.close(FileDescriptor(rawValue: 1_000_000)).map { 0 } == .failure(.badFileDescriptor))
        }

        /// A real EINTR: open() of a FIFO blocks until a writer comes; signals keep interrupting it.
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
            let (opened, signals) = withSignalStorm { Sys.open(path, O_RDONLY) }
            #expect(await writer.value == 0, "the reader was there")
            #expect(signals > 10, "the open was interrupted many times")
            try opened.get().close()
        }
    }
}
