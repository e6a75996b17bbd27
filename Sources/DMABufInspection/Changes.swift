#if os(Linux)
extension DMABufSnapshot {
    /// What changed between two snapshots: how a leak shows up.
    public struct Changes: Hashable, Sendable {
        /// Buffers in the newer snapshot only, by inode.
        public var created: [Buffer]
        /// Buffers in the older snapshot only, by inode.
        public var freed: [Buffer]
        /// Processes whose buffer count or size changed, by pid.
        public var processes: [ProcessChange]

        /// Whether nothing changed.
        public var isEmpty: Bool { created.isEmpty && freed.isEmpty && processes.isEmpty }
    }

    /// One process's holdings before and after; a process absent from a snapshot held nothing there.
    public struct ProcessChange: Hashable, Sendable {
        /// The process.
        public var pid: Int32
        /// Its command name (the newer one, if it has both).
        public var command: String
        /// Buffers it held before, and after.
        public var bufferCount: (before: Int, after: Int)
        /// Their total size before, and after.
        public var size: (before: Int, after: Int)

        public static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.pid == rhs.pid && lhs.command == rhs.command && lhs.bufferCount == rhs.bufferCount
                && lhs.size == rhs.size
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(pid)
            hasher.combine(bufferCount.before)
            hasher.combine(bufferCount.after)
        }
    }

    /// What changed from `older` to this snapshot. A buffer is the same one when its inode is.
    public func changes(since older: DMABufSnapshot) -> Changes {
        let before = Set(older.buffers.map(\.inode))
        let after = Set(buffers.map(\.inode))
        var changed: [ProcessChange] = []
        let old = Dictionary(older.processes.map { ($0.pid, $0) }, uniquingKeysWith: { first, _ in first })
        let new = Dictionary(processes.map { ($0.pid, $0) }, uniquingKeysWith: { first, _ in first })
        for pid in Set(old.keys).union(new.keys).sorted() {
            let was = old[pid]
            let now = new[pid]
            guard was?.bufferCount != now?.bufferCount || was?.size != now?.size else { continue }
            changed.append(
                ProcessChange(
                    pid: pid, command: now?.command ?? was?.command ?? "",
                    bufferCount: (was?.bufferCount ?? 0, now?.bufferCount ?? 0), size: (was?.size ?? 0, now?.size ?? 0))
            )
        }
        return Changes(
            created: buffers.filter { !before.contains($0.inode) },
            freed: older.buffers.filter { !after.contains($0.inode) },
            processes: changed)
    }
}
#endif  // os(Linux)
