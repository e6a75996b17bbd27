#if os(Linux)
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization
import SystemPackage

/// The one way the package waits for an fd: until it is readable or writable, a ``Deadline``
/// passes, or (async) the task is cancelled. The channel, the buffer pool, the fences and V4L2
/// all wait here, so that every wait ends the same ways:
///
/// - ready: the wait returns;
/// - the deadline passed: ``DMABufError/Code/timedOut``;
/// - the task was cancelled: ``DMABufError/Code/cancelled``.
///
/// The async wait never blocks a thread: a Dispatch source (epoll underneath) resumes the task.
/// It resumes only from the source's cancel handler, that is once Dispatch has let go of the
/// fd, so that the caller may close the fd at once.
package enum Readiness {
    /// What to wait for.
    package enum Event: Sendable {
        /// POLLIN: data, a connection, a signalled fence (or an error or hang-up).
        case readable
        /// POLLOUT: room to write, or every fence of a buffer signalled.
        case writable

        var pollEvents: Int16 { Int16(self == .readable ? POLLIN : POLLOUT) }
    }

    private static let queue = DispatchQueue(label: "DMABuf.readiness", attributes: .concurrent)

    /// Blocks until `fd` is ready for `event`, or throws ``DMABufError/Code/timedOut`` when
    /// `deadline` passes. EINTR waits on with the time that is left.
    package static func block(
        on fd: FileDescriptor, _ event: Event = .readable, until deadline: Deadline,
        operation: @autoclosure () -> String, target: @autoclosure () -> String
    ) throws(DMABufError) {
        let events = try Sys.poll(fd, events: event.pollEvents, until: deadline).get(operation(), on: target())
        if events == 0 { throw timedOut(operation(), target(), deadline) }
    }

    /// Suspends until `fd` is ready for `event`, without blocking a thread.
    ///
    /// - Throws: ``DMABufError/Code/timedOut`` when `deadline` passes,
    ///   ``DMABufError/Code/cancelled`` when the task is cancelled (also before the wait begins).
    package static func suspend(
        on fd: FileDescriptor, _ event: Event = .readable, until deadline: Deadline = .never,
        operation: @autoclosure () -> String, target: @autoclosure () -> String
    ) async throws(DMABufError) {
        let waiter = Waiter()
        let outcome = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
                waiter.start(fd, event, deadline, continuation)
            }
        } onCancel: {
            waiter.finish(.cancelled)
        }
        switch outcome {
        case .ready: return
        case .timedOut: throw timedOut(operation(), target(), deadline)
        case .cancelled:
            throw DMABufError(
                .cancelled, operation: operation(), target: target(), hint: "The task was cancelled while it waited")
        }
    }

    private static func timedOut(_ operation: String, _ target: String, _ deadline: Deadline) -> DMABufError {
        DMABufError(.timedOut, operation: operation, target: target, hint: "It did not happen before the deadline")
    }

    private enum Outcome: Sendable {
        case ready, timedOut, cancelled
    }

    /// One async wait: its Dispatch sources, and how it ended. The first outcome wins; the
    /// task resumes from the fd source's cancel handler.
    private final class Waiter: Sendable {
        private struct State: @unchecked Sendable {
            var outcome: Outcome?
            var source: (any DispatchSourceProtocol)?
        }
        private let state = Mutex(State())

        func start(
            _ fd: FileDescriptor, _ event: Event, _ deadline: Deadline,
            _ continuation: CheckedContinuation<Outcome, Never>
        ) {
            let source: any DispatchSourceProtocol =
                event == .writable
                ? DispatchSource.makeWriteSource(fileDescriptor: fd.rawValue, queue: queue)
                : DispatchSource.makeReadSource(fileDescriptor: fd.rawValue, queue: queue)
            let timer = deadline.remainingNanoseconds.map { nanoseconds in
                let timer = DispatchSource.makeTimerSource(queue: queue)
                timer.schedule(deadline: .now() + .nanoseconds(nanoseconds))
                timer.setEventHandler { self.finish(.timedOut) }
                return timer
            }
            source.setEventHandler { self.finish(.ready) }
            source.setCancelHandler {
                timer?.cancel()
                // Dropping the source ends the cycle source -> handler -> waiter -> source.
                let outcome = self.state.withLock { state in
                    state.source = nil
                    return state.outcome
                }
                continuation.resume(returning: outcome ?? .cancelled)
            }
            let finished = state.withLock { state in
                state.source = source
                return state.outcome != nil
            }
            source.activate()
            timer?.activate()
            if finished { source.cancel() }
        }

        /// Ends the wait with `outcome` unless it has ended already.
        func finish(_ outcome: Outcome) {
            let source = state.withLock { state in
                if state.outcome == nil { state.outcome = outcome }
                return state.source
            }
            source?.cancel()
        }
    }
}
#endif  // os(Linux)
