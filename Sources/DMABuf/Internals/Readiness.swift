#if os(Linux)
import Dispatch
import Synchronization
import SystemPackage

/// Waits for an fd to become readable or writable without blocking a thread: a Dispatch source
/// (epoll underneath) resumes the waiting task. Cancelling the task ends the wait with
/// `CancellationError`.
package enum Readiness {
    private static let queue = DispatchQueue(label: "DMABuf.readiness", attributes: .concurrent)

    /// Suspends until `fd` is readable (`writable` false: POLLIN) or writable (POLLOUT).
    ///
    /// The source is cancelled, and Dispatch done with the fd, before this returns, so the
    /// caller may close the fd at once.
    package static func wait(for fd: FileDescriptor, writable: Bool = false) async throws {
        let waiter = Waiter()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let source: any DispatchSourceProtocol =
                    writable
                    ? DispatchSource.makeWriteSource(fileDescriptor: fd.rawValue, queue: queue)
                    : DispatchSource.makeReadSource(fileDescriptor: fd.rawValue, queue: queue)
                let fired = Atomic(false)
                source.setEventHandler {
                    fired.store(true, ordering: .sequentiallyConsistent)
                    source.cancel()
                }
                // Resume only once Dispatch has let go of the fd.
                source.setCancelHandler {
                    if fired.load(ordering: .sequentiallyConsistent) {
                        continuation.resume()
                    } else {
                        continuation.resume(throwing: CancellationError())
                    }
                }
                waiter.start(source)
            }
        } onCancel: {
            waiter.cancel()
        }
    }

    /// The source of one wait, and whether the task was cancelled before it existed.
    private final class Waiter: Sendable {
        private struct State: @unchecked Sendable {
            var source: (any DispatchSourceProtocol)?
            var cancelled = false
        }
        private let state = Mutex(State())

        func start(_ source: any DispatchSourceProtocol) {
            let cancelled = state.withLock { state in
                state.source = source
                return state.cancelled
            }
            source.activate()
            if cancelled { source.cancel() }
        }

        func cancel() {
            let source = state.withLock { state in
                state.cancelled = true
                return state.source
            }
            source?.cancel()
        }
    }
}
#endif  // os(Linux)
