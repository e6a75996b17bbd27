import DMABuf
import Glibc
import SystemPackage
import Testing

/// A run of Tests/DMABufTestHelper as a real child process (posix_spawn), with one fd of the
/// parent's as its fd 3.
package struct HelperProcess: ~Copyable {
    package let pid: pid_t
    private var reaped = false

    /// The helper executable, next to the test bundle.
    package static func path() throws -> String {
        var target = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &target, target.count - 1)
        try #require(count > 0)
        let exe = String(decoding: target[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let helper = FilePath(exe).removingLastComponent().appending("DMABufTestHelper").string
        try #require(access(helper, X_OK) == 0, "\(helper) is built by swift build --build-tests")
        return helper
    }

    /// Starts the helper with `arguments` and `descriptor` as its fd 3 (the parent's stays open).
    package init(_ arguments: [String], descriptor: FileDescriptor) throws {
        let helper = try Self.path()
        // dup2 onto itself would keep FD_CLOEXEC: go through a number other than 3. The copies
        // are close-on-exec, so that children other tests start meanwhile don't inherit them (a
        // socket end held by a stray child never reports EOF).
        let source = try Sys.duplicate(descriptor).get()
        defer { _ = Sys.close(source) }
        let spare = source.rawValue == 3 ? try Sys.duplicate(source).get() : nil
        defer { if let spare { _ = Sys.close(spare) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, (spare ?? source).rawValue, 3)
        var argv: [UnsafeMutablePointer<CChar>?] = (["DMABufTestHelper"] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, helper, &actions, nil, &argv, environ)
        try #require(spawned == 0, "posix_spawn \(helper): \(Errno(rawValue: spawned))")
        self.pid = pid
    }

    /// Starts `executable` with `arguments`, its standard output and error going to the file
    /// `outputPath` (created or truncated).
    package init(executable: String, _ arguments: [String], outputPath: String) throws {
        try #require(access(executable, X_OK) == 0, "\(executable) is built by swift build")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let name = FilePath(executable).lastComponent?.string ?? executable
        var argv: [UnsafeMutablePointer<CChar>?] = ([name] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, &argv, environ)
        try #require(spawned == 0, "posix_spawn \(executable): \(Errno(rawValue: spawned))")
        self.pid = pid
    }

    /// An executable of this package's build, next to the test bundle: "dmabuf", say.
    package static func built(_ name: String) throws -> String {
        FilePath(try path()).removingLastComponent().appending(name).string
    }

    /// Runs the built `dmabuf` command with `arguments` to its end and returns its exit status
    /// (nil if it was still running after `timeout`, and killed) and what it printed, standard
    /// output and error together.
    package static func runCommand(
        _ arguments: [String], timeout: Duration = .seconds(120)
    ) throws -> (status: CInt?, output: String) {
        let outputPath = "/dev/shm/dmabuf-command-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { unlink(outputPath) }
        var command = try HelperProcess(executable: try built("dmabuf"), arguments, outputPath: outputPath)
        let status = command.wait(timeout: timeout)
        let output = try Sys.readFile(FilePath(outputPath)).get()
        return (status, String(decoding: output, as: UTF8.self))
    }

    /// Runs `dmabuf` with `arguments` as `runCommand` does, and checks that it exits with 0 and
    /// prints every line of `lines` (as whole lines, in any order). Returns its output.
    @discardableResult
    package static func expectCommand(
        _ arguments: [String], printsLines lines: [String], sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> String {
        let (status, output) = try runCommand(arguments)
        #expect(status == 0, "dmabuf \(arguments.joined(separator: " ")): \(output)", sourceLocation: sourceLocation)
        let printed = Set(output.split(separator: "\n").map(String.init))
        for line in lines where !printed.contains(line) {
            Issue.record(
                "dmabuf \(arguments.joined(separator: " ")) did not print '\(line)':\n\(output)",
                sourceLocation: sourceLocation)
        }
        return output
    }

    deinit {
        if !reaped {
            Glibc.kill(pid, SIGKILL)
            var status: CInt = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        }
    }

    /// Sends SIGKILL.
    package func kill() {
        Glibc.kill(pid, SIGKILL)
    }

    /// How many times longer than on an idle machine the limits wait: DMABUF_TIME_FACTOR, which
    /// scripts/vm-run measures with scripts/time-factor; 1 where it is not set.
    package static let timeFactor =
        getenv("DMABUF_TIME_FACTOR").flatMap { Int(String(cString: $0)) }.map { max(1, $0) } ?? 1

    /// Waits for the exit, up to `timeout` times `timeFactor`: the exit status, 128 + the
    /// signal, or nil (and the child killed, which it says on standard error) if it did not end
    /// in time, which means something hung.
    package mutating func wait(timeout: Duration = .seconds(30)) -> CInt? {
        let clock = ContinuousClock()
        let started = clock.now
        let limit = timeout * Self.timeFactor
        var status: CInt = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { break }
            if result == -1 && errno != EINTR { return nil }
            if clock.now - started >= limit {
                kill()
                let message =
                    "HelperProcess: TIMEOUT: killed pid \(pid) after \(clock.now - started), its limit "
                    + "\(timeout) x DMABUF_TIME_FACTOR \(Self.timeFactor)\n"
                _ = try? FileDescriptor.standardError.writeAll(message.utf8)
                return nil
            }
            usleep(2000)
        }
        reaped = true
        // WIFEXITED / WEXITSTATUS, which Swift does not import.
        return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}
