#if os(Linux)
internal import CDMABufDRM
import DMABuf
import SystemPackage

/// A dma-buf imported into a KMS device: one count on its GEM handle (DRM_IOCTL_PRIME_FD_TO_HANDLE).
///
/// The same buffer imported twice gives the same handle twice; the device counts them, and the
/// handle is closed once, when the last import and framebuffer holding it have gone.
public struct KMSImport: ~Copyable, Sendable {
    /// The GEM handle on the device.
    public let handle: UInt32
    /// The buffer's size in bytes.
    public let size: Int
    let state: KMSState

    deinit {
        state.releaseHandles([handle])
    }
}

/// A framebuffer: an image in imported dma-bufs that a plane can scan out (DRM_IOCTL_MODE_ADDFB2).
///
/// It is removed (RMFB) exactly once, when it goes away, with the counts it holds on its
/// buffers' GEM handles; if a commit still shows it or a flip still waits to show it, not
/// until a later commit has replaced it on screen, so a framebuffer never disappears under the
/// display.
public struct KMSFramebuffer: ~Copyable, Sendable {
    /// The framebuffer's object ID.
    public let id: UInt32
    /// Its layout.
    public let layout: ImageLayout
    /// The GEM handles of its buffers, one count each.
    let handles: [UInt32]
    let state: KMSState

    deinit {
        state.releaseFramebuffer(id, handles: handles)
    }
}

extension KMSDevice {
    /// What ``importBuffer(_:)`` returns: a ``KMSImport``.
    public typealias Import = KMSImport

    /// Imports `buffer` into the device (DRM_IOCTL_PRIME_FD_TO_HANDLE), counting its GEM handle.
    ///
    /// - Throws: `.notADMABuf` if the kernel refuses the fd; `.unsupported` if the exporter cannot
    ///   be imported (no vmap, as udmabuf before Linux 6.2).
    public func importBuffer(_ buffer: borrowing DMABuffer) throws(DMABufError) -> KMSImport {
        let handle = try state.importHandle(buffer.withUnsafeDescriptor { $0 })
        return KMSImport(handle: handle, size: buffer.size, state: state)
    }

    /// A framebuffer of `buffer`'s pixels as `layout` describes them (every plane in this one
    /// buffer, whatever the planes' `buffer` index says).
    ///
    /// Before any ioctl, the layout is checked against the buffer's size
    /// (`ImageLayout.validate(bufferSizes:)`) and against the planes of the device: one of them
    /// must offer its format with its modifier. Then the buffer is imported and ADDFB2 called,
    /// with the modifier where the driver takes modifiers.
    ///
    /// - Throws: `.invalidArgument` naming the plane and the field for a layout that does not
    ///   fit, or the formats the planes offer; the import's and ADDFB2's errors. No handle is
    ///   left behind by a failure.
    public func addFramebuffer(
        _ buffer: borrowing DMABuffer, layout: ImageLayout
    ) throws(DMABufError) -> KMSFramebuffer {
        let single = try checked(layout, bufferSize: buffer.size)
        try checkKernelMapping(buffer)
        let imported = try importBuffer(buffer)
        return try makeFramebuffer(imported, layout: single)
    }

    /// A framebuffer of an imported buffer's pixels as `layout` describes them (every plane in
    /// that buffer), checked as ``addFramebuffer(_:layout:)-(DMABuffer,_)`` does. It holds its
    /// own count on the handle.
    public func addFramebuffer(
        _ imported: borrowing KMSImport, layout: ImageLayout
    ) throws(DMABufError) -> KMSFramebuffer {
        try makeFramebuffer(imported, layout: checked(layout, bufferSize: imported.size))
    }

    /// `layout` with every plane in buffer 0, validated against the buffer's size and the planes.
    private func checked(_ layout: ImageLayout, bufferSize: Int) throws(DMABufError) -> ImageLayout {
        var single = layout
        single.planes = layout.planes.map { ImageLayout.Plane(buffer: 0, offset: $0.offset, stride: $0.stride) }
        try single.validate(bufferSizes: [bufferSize])
        try checkPlanesOffer(single)
        return single
    }

    /// ADDFB2 of a checked single-buffer layout; the framebuffer takes a count on the handle.
    private func makeFramebuffer(
        _ imported: borrowing KMSImport, layout single: ImageLayout
    ) throws(DMABufError) -> KMSFramebuffer {
        var command = drm_mode_fb_cmd2()
        command.width = UInt32(single.width)
        command.height = UInt32(single.height)
        command.pixel_format = single.format.rawValue
        guard
            single.planes.allSatisfy({ UInt32(exactly: $0.offset) != nil && UInt32(exactly: $0.stride) != nil }),
            UInt32(exactly: single.width) != nil, UInt32(exactly: single.height) != nil
        else {
            throw DMABufError(
                .invalidArgument, operation: "DRM_IOCTL_MODE_ADDFB2 \(single)", target: path.string,
                hint: "A size, offset or stride does not fit in 32 bits")
        }
        let useModifiers = supportsModifiers && single.modifier != .invalid
        withUnsafeMutableBytes(of: &command.handles) { handles in
            for index in single.planes.indices {
                handles.storeBytes(of: imported.handle, toByteOffset: 4 * index, as: UInt32.self)
            }
        }
        withUnsafeMutableBytes(of: &command.pitches) { pitches in
            for (index, plane) in single.planes.enumerated() {
                pitches.storeBytes(of: UInt32(plane.stride), toByteOffset: 4 * index, as: UInt32.self)
            }
        }
        withUnsafeMutableBytes(of: &command.offsets) { offsets in
            for (index, plane) in single.planes.enumerated() {
                offsets.storeBytes(of: UInt32(plane.offset), toByteOffset: 4 * index, as: UInt32.self)
            }
        }
        if useModifiers {
            command.flags = CDMABufDRM_DRM_MODE_FB_MODIFIERS()
            withUnsafeMutableBytes(of: &command.modifier) { modifiers in
                for index in single.planes.indices {
                    modifiers.storeBytes(of: single.modifier.rawValue, toByteOffset: 8 * index, as: UInt64.self)
                }
            }
        }
        _ = try Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_MODE_ADDFB2(), &command).get(
            "DRM_IOCTL_MODE_ADDFB2 \(single)", on: path.string,
            hint: { _ in "The driver refused the layout; its kernel log (drm.debug=0x02) says why" })
        state.retainHandle(imported.handle)
        return KMSFramebuffer(id: command.fb_id, layout: single, handles: [imported.handle], state: state)
    }

    /// Throws for an exporter known to lack the kernel mapping (vmap) that KMS drivers such as
    /// vkms scan out from: udmabuf before Linux 6.2. Its import would succeed and the commit
    /// fail with a bare EINVAL.
    private func checkKernelMapping(_ buffer: borrowing DMABuffer) throws(DMABufError) {
        guard let exporter = try? buffer.info().exporterName, exporter == "udmabuf" else { return }
        let version = DeviceAccess.kernelRelease.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap {
            Int($0)
        }
        guard version.count == 2, (version[0], version[1]) < (6, 2) else { return }
        throw DMABufError(
            .unsupported, operation: "add a framebuffer of a udmabuf", target: path.string,
            hint: "udmabuf before Linux 6.2 has no vmap, which KMS drivers such as vkms need to scan out;"
                + " allocate from another source (the system heap, the exporter module or vgem)")
    }

    /// Whether the device file has GEM handle `handle` open (PRIME_HANDLE_TO_FD answers ENOENT
    /// for one it does not); for the tests' leak checks.
    package func kernelHasHandle(_ handle: UInt32) -> Bool {
        var prime = drm_prime_handle()
        prime.handle = handle
        prime.flags = CDMABufDRM_DRM_CLOEXEC()
        prime.fd = -1
        guard case .success = Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_PRIME_HANDLE_TO_FD(), &prime) else {
            return false
        }
        _ = Sys.close(FileDescriptor(rawValue: prime.fd))
        return true
    }

    /// Framebuffers whose owners have gone but that a commit still shows.
    package var orphanedFramebufferCount: Int { state.orphanCount }

    /// Throws unless a plane of the device offers the layout's format with its modifier.
    private func checkPlanesOffer(_ layout: ImageLayout) throws(DMABufError) {
        let planes = try resources().planes
        if planes.contains(where: { $0.supports(layout.format, modifier: layout.modifier) }) { return }
        let offered = planes.map { plane in
            "plane \(plane.id) (\(plane.kind)): " + plane.formats.map(\.fourCC).joined(separator: " ")
        }
        throw DMABufError(
            .invalidArgument, operation: "add a framebuffer of \(layout)", target: path.string,
            hint: "format: no plane offers \(layout.format) with modifier \(layout.modifier); "
                + offered.joined(separator: "; "))
    }
}

/// A property blob the device holds (DRM_IOCTL_MODE_CREATEPROPBLOB), such as a CRTC's MODE_ID;
/// destroyed exactly once, when it goes away. A commit that uses it holds its own reference
/// in the kernel, so it may go away once the commit is made.
public struct KMSPropertyBlob: ~Copyable, Sendable {
    /// The blob's object ID, the value of a blob property.
    public let id: UInt32
    let state: KMSState

    deinit {
        var destroy = drm_mode_destroy_blob(blob_id: id)
        _ = Sys.ioctl(state.descriptor, CDMABufDRM_DRM_IOCTL_MODE_DESTROYPROPBLOB(), &destroy)
    }
}

extension KMSDevice {
    /// A property blob holding `bytes`.
    public func createPropertyBlob(_ bytes: [UInt8]) throws(DMABufError) -> KMSPropertyBlob {
        try state.createBlob(bytes)
    }

    /// A MODE_ID blob of `mode`.
    public func modeBlob(_ mode: KMSMode) throws(DMABufError) -> KMSPropertyBlob {
        var info = mode.modeInfo
        return try state.createBlob(withUnsafeBytes(of: &info) { Array($0) })
    }
}

extension KMSState {
    func createBlob(_ bytes: [UInt8]) throws(DMABufError) -> KMSPropertyBlob {
        var create = drm_mode_create_blob()
        let result = bytes.withUnsafeBytes { bytes in
            create.data = UInt64(UInt(bitPattern: bytes.baseAddress))
            create.length = UInt32(bytes.count)
            return Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_MODE_CREATEPROPBLOB(), &create)
        }
        _ = try result.get("DRM_IOCTL_MODE_CREATEPROPBLOB of \(bytes.count) bytes", on: path)
        return KMSPropertyBlob(id: create.blob_id, state: self)
    }
}
#endif  // os(Linux)
