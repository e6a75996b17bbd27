import ArgumentParser
import DMABuf
import Glibc
import SystemPackage

/// Starts the three stages (`dmabuf capture --serve`, `dmabuf process`, `dmabuf display
/// --connect`) as processes of this same binary, restarts any that dies, and stops them all at
/// the end; then sums up the event log.
struct Pipeline: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run camera -> worker -> display as three supervised processes sharing dma-bufs.",
        discussion: """
            Starts `dmabuf capture --serve DIR/capture.sock` (vivid), `dmabuf process --from DIR/capture.sock \
            --to DIR/worker.sock` and `dmabuf display --connect DIR/worker.sock` (vkms), each with its \
            stderr in DIR/<stage>.log and its pid in DIR/<stage>.pid (rewritten on each restart), all \
            appending events to DIR/events.jsonl. A stage that dies is started again after a short backoff \
            (the others reconnect); one that cannot start at all (no camera, no display) stops the \
            pipeline with its reason. Runs --seconds (0: until SIGTERM or SIGINT), then stops the stages \
            and prints frames shown, frame rate, capture-to-flip latency, checks, dropped frames and \
            restarts. Exits 0 if frames were shown and none was bad (a writeback whose CRC-32C differs \
            from the worker's, or a frame shown whose fence had timed out), 1 otherwise, 2 if a stage \
            could not start.
            """
    )

    @Option(help: ArgumentHelp("The directory for sockets, pid files, logs and events.jsonl.", valueName: "dir"))
    var dir: String

    @Option(help: "The worker's transform: invert or stamp.")
    var filter: ProcessStage.Filter = .invert

    @Option(help: ArgumentHelp("Run this long, then stop; 0: until SIGTERM or SIGINT.", valueName: "seconds"))
    var seconds: Double = 10

    @Option(help: ArgumentHelp("The V4L2 driver whose capture node the capture stage opens.", valueName: "name"))
    var captureDriver = "vivid"

    @Option(help: ArgumentHelp("The KMS driver the display stage shows the frames on.", valueName: "name"))
    var displayDriver = "vkms"

    @Option(help: ArgumentHelp("Start the worker in this cgroup v2 directory.", valueName: "dir"))
    var workerCgroup: String?

    @Option(help: ArgumentHelp("Check every Nth shown frame by writeback; 0: never.", valueName: "n"))
    var checkEvery = 10

    @Option(
        help: ArgumentHelp("The display drops a frame whose fence has not signalled after this long.", valueName: "ms"))
    var fenceTimeout = 500

    func validate() throws {
        if !(seconds >= 0 && seconds.isFinite) { throw ValidationError("--seconds takes 0 or more") }
        if checkEvery < 0 { throw ValidationError("--check-every takes 0 or more") }
        if !(1...60_000).contains(fenceTimeout) { throw ValidationError("--fence-timeout takes 1 to 60000 ms") }
        if let workerCgroup, access(workerCgroup + "/cgroup.procs", W_OK) != 0 {
            throw ValidationError("--worker-cgroup \(workerCgroup) is not a cgroup v2 directory this user can join")
        }
    }

    /// A stage: its name, its command line, and the process running it.
    struct Stage {
        var name: String
        var arguments: [String]
        var pid: pid_t = 0
        var startedAt: UInt64 = 0
        var restartAt: UInt64?
        var backoff: Double = 0.2
        var restarts = 0
    }

    func run() throws {
        // The signals this process waits for, blocked so that sigtimedwait takes them.
        let awaited = [SIGTERM, SIGINT, SIGCHLD]
        blockSignals(awaited)
        mkdir(dir, 0o755)
        let eventsPath = dir + "/events.jsonl"
        // A new log per run.
        if let file = try? FileDescriptor.open(
            FilePath(eventsPath), .writeOnly, options: [.create, .truncate, .closeOnExec],
            permissions: [.ownerReadWrite, .groupRead, .otherRead])
        {
            try? file.close()
        }
        let log = try PipelineEventLog(path: eventsPath)
        let executable = try Self.executablePath()
        let capture = dir + "/capture.sock"
        let worker = dir + "/worker.sock"
        var stages = [
            Stage(
                name: "capture",
                arguments: ["capture", "--serve", capture, "--driver", captureDriver, "--events", eventsPath]),
            Stage(
                name: "worker",
                arguments: [
                    "process", "--from", capture, "--to", worker, "--filter", filter.rawValue, "--events", eventsPath,
                    "--retry-seconds", "0",
                ] + (workerCgroup.map { ["--join-cgroup", $0] } ?? [])),
            Stage(
                name: "display",
                arguments: [
                    "display", "--connect", worker, "--driver", displayDriver, "--check-every", "\(checkEvery)",
                    "--fence-timeout",
                    "\(fenceTimeout)", "--events", eventsPath, "--retry-seconds", "0",
                ]),
        ]
        let started = monotonicNanoseconds()
        let end = seconds > 0 ? started + UInt64(seconds * 1e9) : nil
        var failed: (stage: String, status: String)?
        for index in stages.indices { try start(&stages[index], executable: executable, log: log) }
        printError("dmabuf pipeline: running in \(dir) (stage logs there)")
        loop: while true {
            let now = monotonicNanoseconds()
            if let end, now >= end { break }
            for index in stages.indices {
                if let at = stages[index].restartAt, now >= at {
                    try start(&stages[index], executable: executable, log: log)
                }
            }
            switch Self.waitForSignal(awaited, milliseconds: 100) {
            case SIGTERM, SIGINT: break loop
            default: break
            }
            for (pid, status) in Self.reapExited() {
                guard let index = stages.firstIndex(where: { $0.pid == pid }) else { continue }
                let description = Self.record(exitOf: stages[index], status: status, log: log)
                stages[index].pid = 0
                if status.exitCode == StageExit.cannotStart {
                    failed = (stages[index].name, description)
                    break loop
                }
                let ranFor = Double(monotonicNanoseconds() - stages[index].startedAt) / 1e9
                stages[index].backoff = ranFor > 2 ? 0.2 : min(stages[index].backoff * 2, 3.2)
                stages[index].restartAt = monotonicNanoseconds() + UInt64(stages[index].backoff * 1e9)
                printError(
                    "dmabuf pipeline: \(stages[index].name) (pid \(pid)) \(description); restarting in "
                        + "\(stages[index].backoff) s")
            }
        }
        stopAll(&stages, log: log)
        if let failed {
            printError(
                "dmabuf pipeline: the \(failed.stage) stage cannot start (\(failed.status)):\n"
                    + Self.tail(of: dir + "/\(failed.stage).log"))
            throw ExitCode(2)
        }
        let summary = PipelineSummary(eventsPath: eventsPath, restarts: stages.map { ($0.name, $0.restarts) })
        for line in summary.lines { print(line) }
        if !summary.isGood {
            printError("dmabuf pipeline: \(summary.verdict); see \(dir)/*.log and \(eventsPath)")
            throw ExitCode.failure
        }
    }

    /// Starts `stage`: its stderr and stdout to DIR/<name>.log, its pid to DIR/<name>.pid.
    private func start(_ stage: inout Stage, executable: String, log: PipelineEventLog) throws {
        let logPath = dir + "/\(stage.name).log"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 2, 1)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The stage starts with no signal blocked and every one at its default action.
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGCHLD, SIGUSR1, SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let arguments = [executable] + stage.arguments
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, &argv, environ)
        guard spawned == 0 else {
            throw CommandError(
                error: DMABufError(
                    errno: Errno(rawValue: spawned), operation: "start the \(stage.name) stage", target: executable))
        }
        if stage.startedAt != 0 { stage.restarts += 1 }
        stage.pid = pid
        stage.startedAt = monotonicNanoseconds()
        stage.restartAt = nil
        try writeAtomically("\(pid)\n", to: dir + "/\(stage.name).pid")
        log.record("start", ["stage": .text(stage.name), "pid": .int(Int64(pid))])
    }

    /// SIGTERM to every stage (SIGCONT too, for one that is stopped), SIGKILL after 3 s.
    private func stopAll(_ stages: inout [Stage], log: PipelineEventLog) {
        for stage in stages where stage.pid > 0 {
            kill(stage.pid, SIGTERM)
            kill(stage.pid, SIGCONT)
        }
        let deadline = monotonicNanoseconds() + 3_000_000_000
        while stages.contains(where: { $0.pid > 0 }) {
            if monotonicNanoseconds() >= deadline {
                for stage in stages where stage.pid > 0 { kill(stage.pid, SIGKILL) }
            }
            _ = Self.waitForSignal([SIGCHLD], milliseconds: 100)
            for (pid, status) in Self.reapExited() {
                guard let index = stages.firstIndex(where: { $0.pid == pid }) else { continue }
                _ = Self.record(exitOf: stages[index], status: status, log: log)
                stages[index].pid = 0
            }
        }
    }

    /// How a process ended, from waitpid's status.
    struct ExitStatus {
        var raw: Int32
        /// WIFEXITED / WEXITSTATUS, which Swift does not import.
        var exitCode: Int32? { raw & 0x7f == 0 ? (raw >> 8) & 0xff : nil }
        var signal: Int32? { raw & 0x7f != 0 && raw & 0x7f != 0x7f ? raw & 0x7f : nil }
    }

    /// The `exit` event; returns "exited with status N" or "was killed by signal N".
    private static func record(exitOf stage: Stage, status: ExitStatus, log: PipelineEventLog) -> String {
        if let code = status.exitCode {
            log.record(
                "exit", ["stage": .text(stage.name), "pid": .int(Int64(stage.pid)), "status": .int(Int64(code))])
            return "exited with status \(code)"
        }
        let signal = status.signal ?? 0
        log.record("exit", ["stage": .text(stage.name), "pid": .int(Int64(stage.pid)), "signal": .int(Int64(signal))])
        return "was killed by signal \(signal)"
    }

    /// Every child that has ended, without waiting.
    private static func reapExited() -> [(pid_t, ExitStatus)] {
        var ended: [(pid_t, ExitStatus)] = []
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            guard pid > 0 else { return ended }
            ended.append((pid, ExitStatus(raw: status)))
        }
    }

    /// The first of `signals` (blocked) to come within `milliseconds`, or 0.
    private static func waitForSignal(_ signals: [Int32], milliseconds: Int) -> Int32 {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        var timeout = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        return max(sigtimedwait(&set, nil, &timeout), 0)
    }

    /// This binary, to start the stages with.
    private static func executablePath() throws -> String {
        var bytes = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &bytes, bytes.count - 1)
        guard count > 0 else {
            throw CommandError(
                error: DMABufError(errno: Errno(rawValue: errno), operation: "readlink", target: "/proc/self/exe"))
        }
        return String(decoding: bytes.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The last lines of the file at `path`, indented.
    private static func tail(of path: String, lines count: Int = 8) -> String {
        let lines = PipelineSummary.lines(of: path).suffix(count)
        return lines.isEmpty ? "  (nothing in \(path))" : lines.map { "  " + $0 }.joined(separator: "\n")
    }
}

/// Writes `text` to `path` through a temporary file and rename(2): a reader sees the old
/// content or the new, never a part.
func writeAtomically(_ text: String, to path: String) throws {
    let temporary = path + ".tmp"
    try Capture.write(text, to: temporary)
    guard rename(temporary, path) == 0 else {
        throw CommandError(error: DMABufError(errno: Errno(rawValue: errno), operation: "rename", target: path))
    }
}
