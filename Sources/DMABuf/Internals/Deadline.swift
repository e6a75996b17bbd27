#if os(Linux)
/// When a wait gives up: a timeout converted once, at the start of the wait, into an instant on
/// the continuous clock, so that retries (EINTR, a wake-up with nothing to read) wait only for
/// what is left.
///
/// The one conversion of the package's `Duration` timeouts. It saturates instead of trapping: a
/// timeout beyond ``longest`` (`.seconds(Int64.max)`, say) waits without limit, and one at or
/// below zero has passed at once.
package struct Deadline: Sendable {
    /// nil: no limit.
    private let instant: ContinuousClock.Instant?

    /// The longest timeout kept as one (about 34,800 years); a longer one waits without limit.
    package static let longest = Duration.seconds(1 << 40)

    /// A deadline that never passes.
    package static let never = Deadline(instant: nil)

    private init(instant: ContinuousClock.Instant?) {
        self.instant = instant
    }

    /// The deadline `timeout` from now; nil, or one beyond ``longest``, never passes.
    package init(after timeout: Duration?) {
        guard let timeout, timeout <= Self.longest else {
            self.init(instant: nil)
            return
        }
        self.init(instant: ContinuousClock.now.advanced(by: max(timeout, .zero)))
    }

    /// Whether it can pass at all.
    package var isNever: Bool { instant == nil }

    /// The time left, never below zero; nil for no limit.
    package var remaining: Duration? {
        instant.map { max(ContinuousClock.now.duration(to: $0), .zero) }
    }

    /// Whether it has passed.
    package var hasPassed: Bool { remaining == .zero }

    /// poll(2)'s timeout: the milliseconds left, rounded up so that a wait never ends early,
    /// clamped to what a CInt holds; -1 for no limit.
    package var pollMilliseconds: CInt {
        guard let remaining else { return -1 }
        let (seconds, attoseconds) = remaining.components
        let (milliseconds, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        guard !overflow else { return .max }
        let rounded = milliseconds.addingReportingOverflow((attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
        return rounded.overflow ? .max : CInt(clamping: rounded.partialValue)
    }

    /// The nanoseconds left, clamped to an Int (292 years, more than ``longest`` never is
    /// asked); nil for no limit. For a Dispatch timer.
    package var remainingNanoseconds: Int? {
        remaining.map { remaining in
            let (seconds, attoseconds) = remaining.components
            let (nanoseconds, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
            guard !overflow else { return .max }
            return Int(clamping: nanoseconds.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue)
        }
    }
}
#endif  // os(Linux)
