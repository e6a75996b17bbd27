import Glibc
import Synchronization

/// Interrupts the calling thread with SIGUSR1 every few microseconds while `body` runs, with a
/// handler installed without SA_RESTART, so that blocking system calls in `body` see EINTR.
///
/// - Returns: what `body` returned and how many signals the thread took.
func withSignalStorm<R>(_ body: () throws -> R) rethrows -> (result: R, signals: Int) {
    SignalStorm.delivered.store(0, ordering: .relaxed)
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in SignalStorm.delivered.add(1, ordering: .relaxed) }
    sigemptyset(&action.sa_mask)
    action.sa_flags = 0  // no SA_RESTART
    var previous = sigaction()
    sigaction(SIGUSR1, &action, &previous)
    defer { sigaction(SIGUSR1, &previous, nil) }
    // Test runners run tests on worker threads that block most signals: let SIGUSR1 in.
    var unblock = sigset_t()
    var previousMask = sigset_t()
    sigemptyset(&unblock)
    sigaddset(&unblock, SIGUSR1)
    pthread_sigmask(SIG_UNBLOCK, &unblock, &previousMask)
    defer { pthread_sigmask(SIG_SETMASK, &previousMask, nil) }

    let storm = SignalStorm(target: pthread_self())
    var sender = pthread_t()
    let context = Unmanaged.passRetained(storm).toOpaque()
    precondition(
        pthread_create(
            &sender, nil,
            { context in
                let storm = Unmanaged<SignalStorm>.fromOpaque(context!).takeRetainedValue()
                while !storm.stop.load(ordering: .relaxed) {
                    pthread_kill(storm.target, SIGUSR1)
                    usleep(20)
                }
                return nil
            }, context) == 0)
    defer {
        storm.stop.store(true, ordering: .relaxed)
        pthread_join(sender, nil)
    }
    return (try body(), SignalStorm.delivered.load(ordering: .relaxed))
}

private final class SignalStorm: Sendable {
    static let delivered = Atomic<Int>(0)
    let target: pthread_t
    let stop = Atomic<Bool>(false)

    init(target: pthread_t) { self.target = target }
}
