import DMABuf
import DMABufTestSupport
import Foundation
import Glibc
import SystemPackage
import Testing

@testable import DMABufCLI

extension DeviceTests {
    /// `dmabuf pipeline` for real: vivid -> worker -> vkms as three processes of the built binary.
    /// (The name has "Display" in it: the debug tier runs it in the display tests' boot.)
    @Suite(.serialized, .vividDevice, .exporterDevice, .vividAndVKMS)
    struct PipelineDisplayDeviceTests {
        /// The events of the pipeline's log, each a dictionary of its fields.
        static func events(in directory: String) -> [[String: Any]] {
            guard let text = try? String(contentsOfFile: directory + "/events.jsonl", encoding: .utf8) else {
                return []
            }
            return text.split(separator: "\n").compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            }
        }

        /// Polls the event log until `condition` holds, for at most `seconds`.
        static func waitFor(
            _ what: String, in directory: String, seconds: Double = 120, _ condition: ([[String: Any]]) -> Bool
        ) throws {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if condition(events(in: directory)) { return }
                usleep(200_000)
            }
            try #require(Bool(false), "waited \(seconds) s for \(what); the stage logs: \(logs(of: directory))")
        }

        static func logs(of directory: String) -> String {
            ["capture", "worker", "display"].map { stage in
                "\(stage): " + ((try? String(contentsOfFile: "\(directory)/\(stage).log", encoding: .utf8)) ?? "none")
            }.joined(separator: "\n")
        }

        static func pid(of stage: String, in directory: String) throws -> pid_t {
            let text = try String(contentsOfFile: "\(directory)/\(stage).pid", encoding: .utf8)
            return try #require(pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        }

        static func shown(_ events: [[String: Any]], after time: UInt64 = 0) -> [[String: Any]] {
            events.filter { $0["event"] as? String == "shown" && ($0["t_ns"] as? UInt64 ?? 0) > time }
        }

        /// Frames are shown and checked by writeback; a killed worker is restarted and frames flow
        /// again; the frame whose fence the worker withholds (SIGUSR1) is dropped, never shown;
        /// SIGTERM ends it all with status 0 and a summary.
        @Test func framesFlowThroughAKilledWorkerAndAWithheldFenceIsNeverShown() throws {
            let vividLoaded = openVivid() != nil
            try #require(vividLoaded, "vivid loads in the VM")
            let directory = "/tmp/dmabuf-pipeline-\(getpid())"
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let pipeline = try RunningDmabuf([
                "pipeline", "--dir", directory, "--seconds", "0", "--check-every", "3", "--filter", "stamp",
            ])
            try Self.waitFor("5 frames shown and a check", in: directory) { events in
                Self.shown(events).count >= 5 && events.contains { $0["event"] as? String == "check" }
            }

            // The worker killed: the supervisor restarts it, both neighbours reconnect, frames flow again.
            let worker = try Self.pid(of: "worker", in: directory)
            #expect(kill(worker, SIGKILL) == 0)
            let killedAt = monotonicNanoseconds()
            try Self.waitFor("frames shown after the worker was killed", in: directory) { events in
                Self.shown(events, after: killedAt).count >= 3
            }
            let restarted = try Self.pid(of: "worker", in: directory)
            #expect(restarted != worker, "worker.pid names the new worker")
            let events = Self.events(in: directory)
            #expect(
                events.contains {
                    $0["event"] as? String == "exit" && $0["stage"] as? String == "worker"
                        && $0["signal"] as? Int == Int(SIGKILL)
                })

            // SIGUSR1: the next frame's fence stays unsignalled; the display drops that frame.
            let withheldAt = monotonicNanoseconds()
            #expect(kill(restarted, SIGUSR1) == 0)
            try Self.waitFor("a fence-timeout and frames after it", in: directory) { events in
                guard let timeout = events.last(where: { $0["event"] as? String == "fence-timeout" }),
                    let at = timeout["t_ns"] as? UInt64
                else { return false }
                return at > withheldAt && Self.shown(events, after: at).count >= 2
            }

            #expect(kill(pipeline.pid, SIGTERM) == 0)
            let summary = try pipeline.remainingOutput()
            #expect(try pipeline.exitStatus() == 0, "\(summary)\n\(Self.logs(of: directory))")
            #expect(summary.contains("0 with a CRC-32C other than the worker's"), "\(summary)")

            let final = Self.events(in: directory)
            let withheld = Set(
                final.filter { $0["event"] as? String == "fence-withheld" }.compactMap { $0["captured_ns"] as? UInt64 })
            let timedOut = Set(
                final.filter { $0["event"] as? String == "fence-timeout" }.compactMap { $0["captured_ns"] as? UInt64 })
            let shown = Set(Self.shown(final).compactMap { $0["captured_ns"] as? UInt64 })
            #expect(!withheld.isEmpty && withheld.isSubset(of: timedOut), "the withheld frame timed out at the display")
            #expect(timedOut.isDisjoint(with: shown), "a frame whose fence timed out was shown")
            let checks = final.filter { $0["event"] as? String == "check" }
            #expect(checks.count >= 2 && checks.allSatisfy { $0["ok"] as? Bool == true }, "\(checks)")
            #expect(
                Self.shown(final).allSatisfy {
                    ($0["flipped_ns"] as? UInt64 ?? 0) >= ($0["captured_ns"] as? UInt64 ?? .max)
                }, "a frame is shown after it was captured")
            for stage in ["capture", "worker", "display"] {
                let pid = try Self.pid(of: stage, in: directory)
                #expect(kill(pid, 0) == -1 && errno == ESRCH, "\(stage) (pid \(pid)) was stopped")
            }
        }

        /// What cannot work says why, with its exit status, and leaves no process behind.
        @Test func setupErrorsAreClearWithTheirExitStatus() throws {
            let directory = "/tmp/dmabuf-pipeline-errors-\(getpid())"
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let noCamera = try HelperProcess.runCommand([
                "pipeline", "--dir", directory, "--seconds", "60", "--capture-driver", "nosuchdriver",
            ])
            #expect(noCamera.status == 2, "\(noCamera.output)")
            #expect(noCamera.output.contains("the capture stage cannot start"), "\(noCamera.output)")
            #expect(noCamera.output.contains("nosuchdriver"), "\(noCamera.output)")

            let noSocket = try HelperProcess.runCommand([
                "process", "--from", directory + "/missing.sock", "--to", directory + "/out.sock",
                "--retry-seconds", "0.5",
            ])
            #expect(noSocket.status == 4, "\(noSocket.output)")
            #expect(noSocket.output.contains("nothing listens on \(directory)/missing.sock"), "\(noSocket.output)")

            let noSocketDisplay = try HelperProcess.runCommand([
                "display", "--connect", directory + "/missing.sock", "--retry-seconds", "0.5",
            ])
            #expect(noSocketDisplay.status == 4, "\(noSocketDisplay.output)")
            #expect(noSocketDisplay.output.contains("nothing listens on"), "\(noSocketDisplay.output)")

            let badFilter = try HelperProcess.runCommand(["pipeline", "--dir", directory, "--filter", "sepia"])
            #expect(badFilter.status == 64, "\(badFilter.output)")
            #expect(badFilter.output.contains("invert"), "\(badFilter.output)")
        }
    }
}
