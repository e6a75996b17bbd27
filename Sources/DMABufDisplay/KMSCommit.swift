#if os(Linux)
internal import CDMABufDRM
import DMABuf
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemPackage

/// A page flip that completed (DRM_EVENT_FLIP_COMPLETE): the CRTC shows what the flip's commit set.
public struct KMSFlipEvent: Hashable, Sendable {
    /// The CRTC that flipped.
    public var crtcID: UInt32
    /// The CRTC's vblank counter at the flip.
    public var sequence: UInt32
    /// When it flipped, on CLOCK_MONOTONIC (the clock of `SuspendingClock` and of V4L2 buffer
    /// timestamps), as the time since that clock's start.
    public var timestamp: Duration
    /// The commit's user data.
    public var userData: UInt64

    /// An event as given.
    public init(crtcID: UInt32, sequence: UInt32, timestamp: Duration, userData: UInt64) {
        (self.crtcID, self.sequence, self.timestamp, self.userData) = (crtcID, sequence, timestamp, userData)
    }
}

/// Properties of one atomic commit, grouped by object as DRM_IOCTL_MODE_ATOMIC takes them.
struct AtomicRequest {
    private(set) var objects: [UInt32] = []
    private(set) var properties: [[(id: UInt32, value: UInt64)]] = []
    let state: KMSState

    init(_ state: KMSState) {
        self.state = state
    }

    mutating func set(_ name: String, of object: UInt32, _ type: KMSObjectType, to value: UInt64) throws(DMABufError) {
        let property = try state.propertyID(name, of: object, type: type)
        if let index = objects.firstIndex(of: object) {
            properties[index].append((property, value))
        } else {
            objects.append(object)
            properties.append([(property, value)])
        }
    }

    /// The commit, with `flags`; `description` names it in errors.
    func commit(flags: UInt32, description: String) throws(DMABufError) {
        var counts = properties.map { UInt32($0.count) }
        var ids = properties.flatMap { $0.map(\.id) }
        var values = properties.flatMap { $0.map(\.value) }
        var objects = self.objects
        var request = drm_mode_atomic()
        request.flags = flags
        request.count_objs = UInt32(objects.count)
        request.user_data = 0
        let result = objects.withUnsafeMutableBufferPointer { objects in
            counts.withUnsafeMutableBufferPointer { counts in
                ids.withUnsafeMutableBufferPointer { ids in
                    values.withUnsafeMutableBufferPointer { values in
                        request.objs_ptr = UInt64(UInt(bitPattern: objects.baseAddress))
                        request.count_props_ptr = UInt64(UInt(bitPattern: counts.baseAddress))
                        request.props_ptr = UInt64(UInt(bitPattern: ids.baseAddress))
                        request.prop_values_ptr = UInt64(UInt(bitPattern: values.baseAddress))
                        return Sys.ioctl(state.descriptor, CDMABufDRM_DRM_IOCTL_MODE_ATOMIC(), &request)
                    }
                }
            }
        }
        let testOnly = flags & CDMABufDRM_DRM_MODE_ATOMIC_TEST_ONLY() != 0
        _ = try result.get(
            "DRM_IOCTL_MODE_ATOMIC\(testOnly ? " (TEST_ONLY)" : "") \(description)", on: state.path,
            code: { $0 == .outOfRange ? .invalidArgument : nil },
            hint: { errno in
                switch errno {
                case .invalidArgument, .outOfRange:
                    testOnly
                        ? "The driver refused the configuration; vkms shows only framebuffers of the mode's size"
                            + " on its primary plane (no scaling), and the kernel log with drm.debug=0x10 says why"
                        : "The driver accepted the configuration but could not prepare a framebuffer: KMS"
                            + " drivers such as vkms map it into the kernel (vmap), which some exporters lack"
                case .resourceBusy, .resourceTemporarilyUnavailable:
                    "A flip is still pending on the CRTC: wait for its event (nextFlip) before the next one"
                case .permissionDenied:
                    "Another process is the DRM master (a compositor); switch to a free virtual terminal"
                default: nil
                }
            })
    }
}

extension KMSDevice {
    /// Shows `framebuffer` on `output` full screen and waits until it is on screen: a blocking
    /// atomic modeset (after a TEST_ONLY check) of connector -> CRTC (its mode, active) ->
    /// primary plane. A writeback connector of the CRTC is detached.
    ///
    /// - Throws: `.invalidArgument` naming the plane if it does not offer the framebuffer's
    ///   format or modifier, or if the driver refuses the configuration.
    public func show(_ framebuffer: borrowing KMSFramebuffer, on output: KMSOutput) throws(DMABufError) {
        try check(framebuffer, on: output)
        let mode = try modeBlob(output.mode)
        var request = AtomicRequest(state)
        try request.set("CRTC_ID", of: output.connector.id, .connector, to: UInt64(output.crtc.id))
        if let writeback = output.writeback {
            try request.set("CRTC_ID", of: writeback.id, .connector, to: 0)
        }
        try setModeAndPlane(&request, mode, framebuffer, output)
        let description = "show framebuffer \(framebuffer.id) on \(output.connector.name)"
        let modeset = CDMABufDRM_DRM_MODE_ATOMIC_ALLOW_MODESET()
        try request.commit(flags: modeset | CDMABufDRM_DRM_MODE_ATOMIC_TEST_ONLY(), description: description)
        try request.commit(flags: modeset, description: description)
        state.completed(crtc: output.crtc.id, shown: [output.plane.id: framebuffer.id])
    }

    /// Queues a flip of `output`'s plane to `framebuffer` at the next vblank: a nonblocking
    /// commit (after a TEST_ONLY check) with a page-flip event, which ``nextFlip(timeout:)``
    /// returns once the framebuffer is on screen.
    ///
    /// - Parameters:
    ///   - framebuffer: what to show, in a format and modifier the plane offers.
    ///   - output: where: its plane and CRTC.
    ///   - inFence: a fence the flip waits for (the plane's IN_FENCE_FD), such as the
    ///     producer's write fence; the kernel holds its own reference, so it may go.
    ///   - outFence: whether to return the CRTC's OUT_FENCE_PTR fence, which signals when the
    ///     flip has happened.
    /// - Returns: the out fence if `outFence`, else nil.
    /// - Throws: as ``show(_:on:)``; `.busy` while the previous flip's event has not come.
    public func flip(
        to framebuffer: borrowing KMSFramebuffer, on output: KMSOutput, inFence: consuming SyncFile? = nil,
        outFence: Bool = false
    ) throws(DMABufError) -> SyncFile? {
        try check(framebuffer, on: output)
        var request = AtomicRequest(state)
        try setPlane(&request, framebuffer, output)
        let description = "flip \(output.connector.name) to framebuffer \(framebuffer.id)"
        try request.commit(flags: CDMABufDRM_DRM_MODE_ATOMIC_TEST_ONLY(), description: description)
        var outFenceFD: Int32 = -1
        return try withUnsafeMutablePointer(to: &outFenceFD) { (pointer) throws(DMABufError) -> SyncFile? in
            let fence = inFence.take()
            if let fd = fence?.withUnsafeDescriptor({ $0.rawValue }) {
                try request.set("IN_FENCE_FD", of: output.plane.id, .plane, to: UInt64(bitPattern: Int64(fd)))
            }
            if outFence {
                try request.set("OUT_FENCE_PTR", of: output.crtc.id, .crtc, to: UInt64(UInt(bitPattern: pointer)))
            }
            try queue(
                request, on: output, description: description, flip: .init(planes: [output.plane.id: framebuffer.id]))
            _ = consume fence
            guard outFence else { return nil }
            return try SyncFile(returned: pointer.pointee, by: "OUT_FENCE_PTR of " + description, on: path.string)
        }
    }

    /// Queues a flip of `output`'s plane to `framebuffer` that also writes what the CRTC
    /// composes into `target`: the CRTC drives the writeback connector alone (vkms cannot drive
    /// it and the display at once), a nonblocking commit with a page-flip event.
    ///
    /// - Parameters:
    ///   - framebuffer: what to show, in a format and modifier the plane offers.
    ///   - output: where: its plane and CRTC, and its writeback connector.
    ///   - target: a framebuffer of the mode's size in a format the writeback connector takes.
    ///   - inFence: a fence the flip waits for (the plane's IN_FENCE_FD).
    /// - Returns: the writeback's fence (WRITEBACK_OUT_FENCE_PTR), which signals when `target`
    ///   holds the frame.
    public func flip(
        to framebuffer: borrowing KMSFramebuffer, on output: KMSOutput,
        writingBackInto target: borrowing KMSFramebuffer,
        inFence: consuming SyncFile? = nil
    ) throws(DMABufError) -> SyncFile {
        try check(framebuffer, on: output)
        let writeback = try checkWriteback(target, on: output)
        var request = AtomicRequest(state)
        try route(&request, to: writeback, output, target: target.id)
        try setPlane(&request, framebuffer, output)
        let description = "flip \(writeback.name) to framebuffer \(framebuffer.id), writing back into \(target.id)"
        let modeset = CDMABufDRM_DRM_MODE_ATOMIC_ALLOW_MODESET()
        try request.commit(flags: modeset | CDMABufDRM_DRM_MODE_ATOMIC_TEST_ONLY(), description: description)
        var writebackFD: Int32 = -1
        return try withUnsafeMutablePointer(to: &writebackFD) { (pointer) throws(DMABufError) -> SyncFile in
            let fence = inFence.take()
            if let fd = fence?.withUnsafeDescriptor({ $0.rawValue }) {
                try request.set("IN_FENCE_FD", of: output.plane.id, .plane, to: UInt64(bitPattern: Int64(fd)))
            }
            try request.set(
                "WRITEBACK_OUT_FENCE_PTR", of: writeback.id, .connector, to: UInt64(UInt(bitPattern: pointer)))
            try queue(
                request, on: output, description: description, modeset: true,
                flip: .init(planes: [output.plane.id: framebuffer.id], others: [target.id]))
            _ = consume fence
            return try SyncFile(
                returned: pointer.pointee, by: "WRITEBACK_OUT_FENCE_PTR of " + description, on: path.string)
        }
    }

    /// Shows `framebuffer` on `output`'s CRTC and writes what the CRTC composed into `target`:
    /// a blocking commit of its own that routes the CRTC to the writeback connector alone (vkms
    /// cannot drive it and the display at once), sets WRITEBACK_FB_ID to `target` and waits for
    /// WRITEBACK_OUT_FENCE_PTR's fence. The CRTC stays on the writeback connector until the
    /// next ``show(_:on:)``.
    ///
    /// - Parameters:
    ///   - framebuffer: what to show, in a format and modifier the plane offers.
    ///   - output: where: its plane, CRTC and mode, and its writeback connector.
    ///   - target: a framebuffer of the mode's size in a format the writeback connector takes
    ///     (XRGB8888 on vkms), over a dma-buf of any source.
    ///   - timeout: how long to wait for the writeback.
    /// - Throws: `.unsupported` without a writeback connector; `.invalidArgument` naming the
    ///   plane or the connector for a format or size they do not take; `.timedOut`.
    public func writeback(
        _ framebuffer: borrowing KMSFramebuffer, on output: KMSOutput, into target: borrowing KMSFramebuffer,
        timeout: Duration
    ) throws(DMABufError) {
        try check(framebuffer, on: output)
        let writeback = try checkWriteback(target, on: output)
        let mode = try modeBlob(output.mode)
        var request = AtomicRequest(state)
        try route(&request, to: writeback, output, target: target.id)
        try setModeAndPlane(&request, mode, framebuffer, output)
        let description = "write back framebuffer \(framebuffer.id) into \(target.id) through \(writeback.name)"
        let modeset = CDMABufDRM_DRM_MODE_ATOMIC_ALLOW_MODESET()
        try request.commit(flags: modeset | CDMABufDRM_DRM_MODE_ATOMIC_TEST_ONLY(), description: description)
        var writebackFD: Int32 = -1
        let fence = try withUnsafeMutablePointer(to: &writebackFD) { (pointer) throws(DMABufError) -> SyncFile in
            try request.set(
                "WRITEBACK_OUT_FENCE_PTR", of: writeback.id, .connector, to: UInt64(UInt(bitPattern: pointer)))
            try request.commit(flags: modeset, description: description)
            return try SyncFile(
                returned: pointer.pointee, by: "WRITEBACK_OUT_FENCE_PTR of " + description, on: path.string)
        }
        state.completed(crtc: output.crtc.id, shown: [output.plane.id: framebuffer.id])
        try fence.wait(timeout: timeout)
    }

    /// The next page flip's event, waiting at most `timeout` (nil: no limit) in the library's
    /// readiness engine: the task suspends, no thread blocks.
    ///
    /// - Throws: `.timedOut`; `.cancelled` if the task is cancelled.
    public func nextFlip(timeout: Duration?) async throws(DMABufError) -> KMSFlipEvent {
        let deadline = Deadline(after: timeout)
        while true {
            if let event = try takeEvent() { return event }
            try await Readiness.suspend(
                on: state.descriptor, .readable, until: deadline, operation: "wait for a page flip", target: path.string
            )
        }
    }

    /// The next page flip's event, blocking the calling thread at most `timeout` (nil: no limit).
    ///
    /// - Throws: `.timedOut`.
    public func blockingNextFlip(timeout: Duration?) throws(DMABufError) -> KMSFlipEvent {
        let deadline = Deadline(after: timeout)
        while true {
            if let event = try takeEvent() { return event }
            try Readiness.block(
                on: state.descriptor, .readable, until: deadline, operation: "wait for a page flip", target: path.string
            )
        }
    }

    /// A flip event already read, or one the device has queued; nil if there is none yet.
    private func takeEvent() throws(DMABufError) -> KMSFlipEvent? {
        if let event = state.books.withLock({ $0.events.isEmpty ? nil : $0.events.removeFirst() }) { return event }
        let events = try readEvents()
        state.flipped(events)
        return state.books.withLock { $0.events.isEmpty ? nil : $0.events.removeFirst() }
    }

    /// Reads what the device's event queue holds (the fd is nonblocking); other events than
    /// flips are dropped.
    private func readEvents() throws(DMABufError) -> [KMSFlipEvent] {
        var bytes = [UInt8](repeating: 0, count: 4096)
        let result = bytes.withUnsafeMutableBytes { Sys.read(state.descriptor, into: $0) }
        let count: Int
        switch result {
        case .success(let read): count = read
        case .failure(.resourceTemporarilyUnavailable): return []
        case .failure(let errno): throw DMABufError(errno: errno, operation: "read DRM events", target: path.string)
        }
        return try KMSDeviceParsing.events(Array(bytes.prefix(count)))
    }

    /// The CRTC active in the output's mode, and its plane showing `framebuffer`.
    private func setModeAndPlane(
        _ request: inout AtomicRequest, _ mode: borrowing KMSPropertyBlob, _ framebuffer: borrowing KMSFramebuffer,
        _ output: KMSOutput
    ) throws(DMABufError) {
        try request.set("MODE_ID", of: output.crtc.id, .crtc, to: UInt64(mode.id))
        try request.set("ACTIVE", of: output.crtc.id, .crtc, to: 1)
        try setPlane(&request, framebuffer, output)
    }

    /// The plane's part of a commit: `framebuffer` full screen on the output's CRTC.
    private func setPlane(
        _ request: inout AtomicRequest, _ framebuffer: borrowing KMSFramebuffer, _ output: KMSOutput
    ) throws(DMABufError) {
        let plane = output.plane.id
        let layout = framebuffer.layout
        try request.set("FB_ID", of: plane, .plane, to: UInt64(framebuffer.id))
        try request.set("CRTC_ID", of: plane, .plane, to: UInt64(output.crtc.id))
        // Source in 16.16 fixed point, destination in pixels.
        for (name, value) in [
            ("SRC_X", 0), ("SRC_Y", 0), ("SRC_W", layout.width << 16), ("SRC_H", layout.height << 16),
            ("CRTC_X", 0), ("CRTC_Y", 0), ("CRTC_W", output.mode.width), ("CRTC_H", output.mode.height),
        ] {
            try request.set(name, of: plane, .plane, to: UInt64(value))
        }
    }

    /// The CRTC drives `writeback` alone and writes into framebuffer `target`.
    private func route(
        _ request: inout AtomicRequest, to writeback: KMSConnector, _ output: KMSOutput, target: UInt32
    ) throws(DMABufError) {
        try request.set("CRTC_ID", of: output.connector.id, .connector, to: 0)
        try request.set("CRTC_ID", of: writeback.id, .connector, to: UInt64(output.crtc.id))
        try request.set("WRITEBACK_FB_ID", of: writeback.id, .connector, to: UInt64(target))
    }

    /// Commits a nonblocking flip with an event, keeping its framebuffers in use until the event.
    private func queue(
        _ request: AtomicRequest, on output: KMSOutput, description: String, modeset: Bool = false,
        flip: KMSState.PendingFlip
    ) throws(DMABufError) {
        var flags = CDMABufDRM_DRM_MODE_ATOMIC_NONBLOCK() | CDMABufDRM_DRM_MODE_PAGE_FLIP_EVENT()
        if modeset { flags |= CDMABufDRM_DRM_MODE_ATOMIC_ALLOW_MODESET() }
        // In the books before the commit: its event may be read as soon as it is made.
        let previous = state.books.withLock { books in
            defer { books.pending[output.crtc.id] = flip }
            return books.pending[output.crtc.id]
        }
        do {
            try request.commit(flags: flags, description: description)
        } catch {
            state.books.withLock { $0.pending[output.crtc.id] = previous }
            throw error
        }
    }

    /// Throws, naming the plane and the field, unless the output's plane takes the framebuffer.
    private func check(_ framebuffer: borrowing KMSFramebuffer, on output: KMSOutput) throws(DMABufError) {
        let layout = framebuffer.layout
        let plane = output.plane
        let name = "plane \(plane.id) (\(plane.kind))"
        func refuse(_ why: String) -> DMABufError {
            DMABufError(
                .invalidArgument,
                operation: "show framebuffer \(framebuffer.id) (\(layout)) on \(output.connector.name)",
                target: path.string, hint: "\(name): \(why)")
        }
        guard plane.formats.contains(layout.format) else {
            throw refuse(
                "format \(layout.format) is not offered; it offers "
                    + plane.formats.map(\.fourCC).joined(separator: " "))
        }
        guard plane.supports(layout.format, modifier: layout.modifier) else {
            let offered = (plane.modifiers[layout.format] ?? [.linear]).map(\.description)
            throw refuse(
                "modifier \(layout.modifier) is not offered for \(layout.format.fourCC); it offers "
                    + offered.joined(separator: " "))
        }
    }

    /// The output's writeback connector, if it takes `target`'s format and size.
    private func checkWriteback(
        _ target: borrowing KMSFramebuffer, on output: KMSOutput
    ) throws(DMABufError) -> KMSConnector {
        let operation = "write back into framebuffer \(target.id) (\(target.layout))"
        guard let writeback = output.writeback else {
            throw DMABufError(
                .unsupported, operation: operation, target: path.string,
                hint: "CRTC \(output.crtc.id) has no writeback connector")
        }
        if let formats = try property("WRITEBACK_PIXEL_FORMATS", of: writeback.id, type: .connector), formats.value != 0
        {
            let bytes = try state.blob(UInt32(truncatingIfNeeded: formats.value))
            let offered = stride(from: 0, to: bytes.count - 3, by: 4).map { offset in
                DRMFormat(rawValue: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) })
            }
            guard offered.contains(target.layout.format) else {
                throw DMABufError(
                    .invalidArgument, operation: operation, target: path.string,
                    hint: "\(writeback.name): format \(target.layout.format) is not offered; it offers "
                        + offered.map(\.fourCC).joined(separator: " "))
            }
        }
        guard target.layout.width == output.mode.width, target.layout.height == output.mode.height else {
            throw DMABufError(
                .invalidArgument, operation: operation, target: path.string,
                hint: "\(writeback.name): the target is \(target.layout.width)x\(target.layout.height),"
                    + " the mode \(output.mode.width)x\(output.mode.height)")
        }
        return writeback
    }
}
#endif  // os(Linux)
