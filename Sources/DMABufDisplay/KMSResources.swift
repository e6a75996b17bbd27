#if os(Linux)
internal import CDMABufDRM
import DMABuf
import SystemPackage

/// What a KMS device drives: its connectors, CRTCs and planes (DRM_IOCTL_MODE_GETRESOURCES,
/// GETPLANERESOURCES and the calls for each object).
public struct KMSResources: Hashable, Sendable {
    /// The connectors, writeback connectors included.
    public var connectors: [KMSConnector]
    /// The CRTCs, in the device's order (a CRTC's index is its bit in `possibleCRTCs` masks).
    public var crtcs: [KMSCRTC]
    /// The planes.
    public var planes: [KMSPlane]
}

/// A connector: a display output (HDMI-A-1, Virtual-1) or a writeback connector (Writeback-1).
public struct KMSConnector: Hashable, Sendable {
    /// The object ID.
    public var id: UInt32
    /// The type (DRM_MODE_CONNECTOR_*): 15 Virtual, 18 Writeback, 11 HDMI-A, ...
    public var type: UInt32
    /// The number of this connector among those of its type, from 1.
    public var typeIndex: UInt32
    /// Whether a display is connected (DRM_MODE_CONNECTED).
    public var isConnected: Bool
    /// The modes the display offers, the preferred one marked.
    public var modes: [KMSMode]
    /// Bit i is set if CRTC i can drive it (the union of its encoders' possible CRTCs).
    public var possibleCRTCs: UInt32

    /// The kernel's name of the type: "Virtual", "Writeback", "HDMI-A", "DP", ...
    public var typeName: String {
        let names = [
            "Unknown", "VGA", "DVI-I", "DVI-D", "DVI-A", "Composite", "SVIDEO", "LVDS", "Component", "DIN", "DP",
            "HDMI-A", "HDMI-B", "TV", "eDP", "Virtual", "DSI", "DPI", "Writeback", "SPI", "USB",
        ]
        return Int(type) < names.count ? names[Int(type)] : "Type\(type)"
    }

    /// The name the kernel gives it: "Virtual-1", "Writeback-1".
    public var name: String { "\(typeName)-\(typeIndex)" }

    /// Whether it is a writeback connector, which captures what its CRTC composes.
    public var isWriteback: Bool { type == CDMABufDRM_DRM_MODE_CONNECTOR_WRITEBACK() }
}

/// A display mode: its size, refresh rate and timings (struct drm_mode_modeinfo).
public struct KMSMode: Hashable, Sendable, CustomStringConvertible {
    /// Its name, "1024x768".
    public var name: String
    /// Visible pixels per line.
    public var width: Int { Int(horizontal[0]) }
    /// Visible lines.
    public var height: Int { Int(vertical[0]) }
    /// Refresh rate in Hz.
    public var refreshRate: Int
    /// Whether the display prefers it (DRM_MODE_TYPE_PREFERRED).
    public var isPreferred: Bool { type & CDMABufDRM_DRM_MODE_TYPE_PREFERRED() != 0 }
    /// Pixel clock in kHz.
    public var clock: UInt32
    /// hdisplay, hsync_start, hsync_end, htotal, hskew.
    public var horizontal: [UInt16]
    /// vdisplay, vsync_start, vsync_end, vtotal, vscan.
    public var vertical: [UInt16]
    /// DRM_MODE_FLAG_* bits.
    public var flags: UInt32
    /// DRM_MODE_TYPE_* bits.
    public var type: UInt32

    init(_ info: drm_mode_modeinfo) {
        clock = info.clock
        horizontal = [info.hdisplay, info.hsync_start, info.hsync_end, info.htotal, info.hskew]
        vertical = [info.vdisplay, info.vsync_start, info.vsync_end, info.vtotal, info.vscan]
        refreshRate = Int(info.vrefresh)
        flags = info.flags
        type = info.type
        name = withUnsafeBytes(of: info.name) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// The mode as the kernel takes it, for a MODE_ID blob.
    var modeInfo: drm_mode_modeinfo {
        var info = drm_mode_modeinfo()
        info.clock = clock
        (info.hdisplay, info.hsync_start, info.hsync_end, info.htotal, info.hskew) = (
            horizontal[0], horizontal[1], horizontal[2], horizontal[3], horizontal[4]
        )
        (info.vdisplay, info.vsync_start, info.vsync_end, info.vtotal, info.vscan) = (
            vertical[0], vertical[1], vertical[2], vertical[3], vertical[4]
        )
        info.vrefresh = UInt32(refreshRate)
        info.flags = flags
        info.type = type
        withUnsafeMutableBytes(of: &info.name) { bytes in
            for (index, byte) in name.utf8.prefix(bytes.count - 1).enumerated() { bytes[index] = byte }
        }
        return info
    }

    /// "1024x768@60".
    public var description: String { "\(width)x\(height)@\(refreshRate)" }
}

/// A CRTC: the scanout engine that composes planes into a mode for its connectors.
public struct KMSCRTC: Hashable, Sendable {
    /// The object ID.
    public var id: UInt32
    /// Its index among the device's CRTCs: its bit in `possibleCRTCs` masks.
    public var index: Int
}

/// A plane: a layer a CRTC composes, scanning out one framebuffer.
public struct KMSPlane: Hashable, Sendable {
    /// What a plane is for.
    public enum Kind: Hashable, Sendable, CustomStringConvertible {
        /// The CRTC's main image.
        case primary
        /// An extra layer.
        case overlay
        /// The cursor.
        case cursor

        /// "primary", "overlay", "cursor".
        public var description: String {
            switch self {
            case .primary: "primary"
            case .overlay: "overlay"
            case .cursor: "cursor"
            }
        }
    }

    /// The object ID.
    public var id: UInt32
    /// Its `type` property.
    public var kind: Kind
    /// Bit i is set if CRTC i can use it.
    public var possibleCRTCs: UInt32
    /// The formats it scans out.
    public var formats: [DRMFormat]
    /// The modifiers it takes per format (its IN_FORMATS blob); empty if the driver has no such
    /// property, in which case only linear buffers are assumed.
    public var modifiers: [DRMFormat: [DRMFormatModifier]]

    /// Whether it scans out `format` with `modifier`.
    public func supports(_ format: DRMFormat, modifier: DRMFormatModifier) -> Bool {
        guard formats.contains(format) else { return false }
        guard let offered = modifiers[format] else { return modifier == .linear || modifier == .invalid }
        return offered.contains(modifier) || (modifier == .invalid && offered.contains(.linear))
    }
}

/// A property of a KMS object, by name, with its current value.
public struct KMSProperty: Hashable, Sendable {
    /// The property's ID.
    public var id: UInt32
    /// Its name: "FB_ID", "CRTC_ID", "IN_FORMATS", "type", ...
    public var name: String
    /// Its current value on the object (an object or blob ID, an enum value, a number).
    public var value: UInt64
    /// The names of an enum or bitmask property's values, by value.
    public var enumNames: [UInt64: String]
}

/// The kinds of KMS object that have properties.
public enum KMSObjectType: Hashable, Sendable {
    /// A CRTC.
    case crtc
    /// A connector.
    case connector
    /// A plane.
    case plane

    var rawValue: UInt32 {
        switch self {
        case .crtc: CDMABufDRM_DRM_MODE_OBJECT_CRTC()
        case .connector: CDMABufDRM_DRM_MODE_OBJECT_CONNECTOR()
        case .plane: CDMABufDRM_DRM_MODE_OBJECT_PLANE()
        }
    }
}

extension KMSDevice {
    /// Every connector, CRTC and plane of the device.
    public func resources() throws(DMABufError) -> KMSResources {
        try state.resources()
    }

    /// The properties of object `id` of `type`, with their current values.
    public func properties(of id: UInt32, type: KMSObjectType) throws(DMABufError) -> [KMSProperty] {
        try state.properties(of: id, type: type)
    }

    /// The property `name` of object `id`, or nil if it has none of that name.
    public func property(_ name: String, of id: UInt32, type: KMSObjectType) throws(DMABufError) -> KMSProperty? {
        try state.properties(of: id, type: type).first { $0.name == name }
    }

    /// What to show images on: the first connected connector that is not a writeback one, a
    /// CRTC it can use, that CRTC's primary plane, and its mode of `width` x `height` (the
    /// preferred mode, else the first, when both are nil); and a writeback connector of that
    /// CRTC, if the device has one.
    ///
    /// - Throws: `.unsupported` if nothing is connected or no CRTC and primary plane fit;
    ///   `.invalidArgument` naming the sizes there are if none has that size.
    public func output(width: Int? = nil, height: Int? = nil) throws(DMABufError) -> KMSOutput {
        let resources = try resources()
        let operation = "choose an output"
        guard let connector = resources.connectors.first(where: { $0.isConnected && !$0.isWriteback }) else {
            let names = resources.connectors.map(\.name).joined(separator: ", ")
            throw DMABufError(
                .unsupported, operation: operation, target: path.string,
                hint: "No connected connector other than writeback ones (there are: \(names.isEmpty ? "none" : names))")
        }
        let mode: KMSMode?
        if width == nil && height == nil {
            mode = connector.modes.first(where: \.isPreferred) ?? connector.modes.first
        } else {
            mode = connector.modes.first {
                (width == nil || $0.width == width) && (height == nil || $0.height == height)
            }
        }
        guard let mode else {
            let sizes = Set(connector.modes.map { "\($0.width)x\($0.height)" }).sorted().joined(separator: ", ")
            throw DMABufError(
                .invalidArgument, operation: operation, target: path.string,
                hint: "\(connector.name) has no mode of \(width.map(String.init) ?? "any")x"
                    + "\(height.map(String.init) ?? "any"); it has \(sizes.isEmpty ? "none" : sizes)")
        }
        for crtc in resources.crtcs where connector.possibleCRTCs & (1 << crtc.index) != 0 {
            guard
                let plane = resources.planes.first(where: {
                    $0.kind == .primary && $0.possibleCRTCs & (1 << crtc.index) != 0
                })
            else { continue }
            let writeback = resources.connectors.first {
                $0.isWriteback && $0.possibleCRTCs & (1 << crtc.index) != 0
            }
            return KMSOutput(connector: connector, crtc: crtc, plane: plane, mode: mode, writeback: writeback)
        }
        throw DMABufError(
            .unsupported, operation: operation, target: path.string,
            hint: "No CRTC with a primary plane can drive \(connector.name)")
    }
}

/// A display path: a connector, the CRTC that drives it, the CRTC's primary plane and a mode.
/// ``KMSDevice/output(width:height:)`` chooses one.
public struct KMSOutput: Hashable, Sendable {
    /// The connector.
    public var connector: KMSConnector
    /// The CRTC.
    public var crtc: KMSCRTC
    /// The CRTC's primary plane, which shows framebuffers full screen.
    public var plane: KMSPlane
    /// The mode.
    public var mode: KMSMode
    /// A writeback connector the CRTC can drive, for ``KMSDevice/writeback(_:on:into:timeout:)``.
    public var writeback: KMSConnector?

    /// A path as given.
    public init(connector: KMSConnector, crtc: KMSCRTC, plane: KMSPlane, mode: KMSMode, writeback: KMSConnector?) {
        (self.connector, self.crtc, self.plane, self.mode, self.writeback) = (connector, crtc, plane, mode, writeback)
    }
}

/// The parsers of what the kernel returns in bytes, apart so that tests can feed them anything.
package enum KMSDeviceParsing {
    /// An IN_FORMATS blob (struct drm_format_modifier_blob): for each modifier, a 64-bit mask of
    /// the formats it applies to, counted from its `offset` into the format list.
    package static func inFormats(_ bytes: [UInt8]) throws(DMABufError) -> [DRMFormat: [DRMFormatModifier]] {
        func refuse(_ why: String) -> DMABufError {
            DMABufError(.badResponse, operation: "parse an IN_FORMATS blob", hint: why)
        }
        func load<T: FixedWidthInteger>(_ offset: Int, as type: T.Type) throws(DMABufError) -> T {
            guard offset >= 0, offset + MemoryLayout<T>.size <= bytes.count else {
                throw refuse("It ends at \(bytes.count) bytes, before offset \(offset)")
            }
            return bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
        }
        let header = MemoryLayout<drm_format_modifier_blob>.size
        guard bytes.count >= header else { throw refuse("\(bytes.count) bytes is less than its header") }
        let formatCount = Int(try load(8, as: UInt32.self))
        let formatsOffset = Int(try load(12, as: UInt32.self))
        let modifierCount = Int(try load(16, as: UInt32.self))
        let modifiersOffset = Int(try load(20, as: UInt32.self))
        var formats: [DRMFormat] = []
        for index in 0..<formatCount {
            formats.append(DRMFormat(rawValue: try load(formatsOffset + 4 * index, as: UInt32.self)))
        }
        var result: [DRMFormat: [DRMFormatModifier]] = [:]
        let entry = MemoryLayout<drm_format_modifier>.size
        for index in 0..<modifierCount {
            let base = modifiersOffset + entry * index
            let mask = try load(base, as: UInt64.self)
            let first = Int(try load(base + 8, as: UInt32.self))
            let modifier = DRMFormatModifier(rawValue: try load(base + 16, as: UInt64.self))
            for bit in 0..<64 where mask & (1 << UInt64(bit)) != 0 && first + bit < formats.count {
                result[formats[first + bit], default: []].append(modifier)
            }
        }
        return result
    }

    /// Flip events in what a read of a DRM fd returned: struct drm_event headers, each followed
    /// by its body; a flip is a struct drm_event_vblank.
    package static func events(_ bytes: [UInt8]) throws(DMABufError) -> [KMSFlipEvent] {
        var events: [KMSFlipEvent] = []
        var offset = 0
        let header = MemoryLayout<drm_event>.size
        let vblank = MemoryLayout<drm_event_vblank>.size
        while offset + header <= bytes.count {
            let (type, length) = bytes.withUnsafeBytes {
                (
                    $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self),
                    Int($0.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
                )
            }
            guard length >= header, offset + length <= bytes.count else {
                throw DMABufError(
                    .badResponse, operation: "parse DRM events",
                    hint: "An event of \(length) bytes at offset \(offset) does not fit in the \(bytes.count) read")
            }
            if type == CDMABufDRM_DRM_EVENT_FLIP_COMPLETE(), length >= vblank {
                let event = bytes.withUnsafeBytes { raw in
                    raw.loadUnaligned(fromByteOffset: offset, as: drm_event_vblank.self)
                }
                events.append(
                    KMSFlipEvent(
                        crtcID: event.crtc_id, sequence: event.sequence,
                        timestamp: .seconds(Int64(event.tv_sec)) + .microseconds(Int64(event.tv_usec)),
                        userData: event.user_data))
            }
            offset += length
        }
        return events
    }

}

extension KMSState {
    /// An array the kernel fills in two calls: first the count, then the elements.
    private func withArray<Element>(
        count: Int, _ body: (UnsafeMutableBufferPointer<Element>) throws(DMABufError) -> Void
    ) throws(DMABufError) -> [Element] where Element: BitwiseCopyable {
        let storage = UnsafeMutableBufferPointer<Element>.allocate(capacity: max(count, 1))
        defer { storage.deallocate() }
        try body(storage)
        return Array(storage.prefix(count))
    }

    private static func address<Element>(_ buffer: UnsafeMutableBufferPointer<Element>) -> UInt64 {
        UInt64(UInt(bitPattern: buffer.baseAddress))
    }

    func resources() throws(DMABufError) -> KMSResources {
        var cardResources = drm_mode_card_res()
        _ = try Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_MODE_GETRESOURCES(), &cardResources).get(
            "DRM_IOCTL_MODE_GETRESOURCES", on: path)
        // Counts can grow between the calls (hotplug); the kernel then fills only as many.
        let crtcCount = Int(cardResources.count_crtcs)
        let connectorCount = Int(cardResources.count_connectors)
        let encoderCount = Int(cardResources.count_encoders)
        var crtcIDs: [UInt32] = []
        var connectorIDs: [UInt32] = []
        var encoderIDs: [UInt32] = []
        crtcIDs = try withArray(count: crtcCount) { (crtcs: UnsafeMutableBufferPointer<UInt32>) throws(DMABufError) in
            connectorIDs = try withArray(count: connectorCount) {
                (connectors: UnsafeMutableBufferPointer<UInt32>) throws(DMABufError) in
                encoderIDs = try withArray(count: encoderCount) {
                    (encoders: UnsafeMutableBufferPointer<UInt32>) throws(DMABufError) in
                    var request = drm_mode_card_res()
                    request.crtc_id_ptr = Self.address(crtcs)
                    request.count_crtcs = UInt32(crtcCount)
                    request.connector_id_ptr = Self.address(connectors)
                    request.count_connectors = UInt32(connectorCount)
                    request.encoder_id_ptr = Self.address(encoders)
                    request.count_encoders = UInt32(encoderCount)
                    _ = try Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_MODE_GETRESOURCES(), &request).get(
                        "DRM_IOCTL_MODE_GETRESOURCES", on: path)
                }
            }
        }
        var encoderCRTCs: [UInt32: UInt32] = [:]
        for id in encoderIDs {
            var encoder = drm_mode_get_encoder()
            encoder.encoder_id = id
            _ = try Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_MODE_GETENCODER(), &encoder).get(
                "DRM_IOCTL_MODE_GETENCODER \(id)", on: path)
            encoderCRTCs[id] = encoder.possible_crtcs
        }
        var connectors: [KMSConnector] = []
        for id in connectorIDs { connectors.append(try connector(id, encoderCRTCs: encoderCRTCs)) }
        let crtcs = crtcIDs.enumerated().map { KMSCRTC(id: $1, index: $0) }
        return KMSResources(connectors: connectors, crtcs: crtcs, planes: try planes())
    }

    private func connector(_ id: UInt32, encoderCRTCs: [UInt32: UInt32]) throws(DMABufError) -> KMSConnector {
        let operation = "DRM_IOCTL_MODE_GETCONNECTOR \(id)"
        var probe = drm_mode_get_connector()
        probe.connector_id = id
        _ = try Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_MODE_GETCONNECTOR(), &probe).get(operation, on: path)
        let modeCount = Int(probe.count_modes)
        let encoderCount = Int(probe.count_encoders)
        var answer = drm_mode_get_connector()
        var encoders: [UInt32] = []
        let modes: [drm_mode_modeinfo] = try withArray(count: modeCount) {
            (modes: UnsafeMutableBufferPointer<drm_mode_modeinfo>) throws(DMABufError) in
            encoders = try withArray(count: encoderCount) {
                (encoders: UnsafeMutableBufferPointer<UInt32>) throws(DMABufError) in
                answer.connector_id = id
                answer.modes_ptr = Self.address(modes)
                answer.count_modes = UInt32(modeCount)
                answer.encoders_ptr = Self.address(encoders)
                answer.count_encoders = UInt32(encoderCount)
                _ = try Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_MODE_GETCONNECTOR(), &answer).get(
                    operation, on: path)
            }
        }
        let filled = min(modeCount, Int(answer.count_modes))
        return KMSConnector(
            id: id, type: answer.connector_type, typeIndex: answer.connector_type_id,
            // DRM_MODE_CONNECTED is 1 in the uapi's documentation; no header names it.
            isConnected: answer.connection == 1, modes: modes.prefix(filled).map(KMSMode.init),
            possibleCRTCs: encoders.prefix(Int(answer.count_encoders)).reduce(0) { $0 | (encoderCRTCs[$1] ?? 0) })
    }

    private func planes() throws(DMABufError) -> [KMSPlane] {
        var probe = drm_mode_get_plane_res()
        _ = try Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_MODE_GETPLANERESOURCES(), &probe).get(
            "DRM_IOCTL_MODE_GETPLANERESOURCES", on: path)
        let count = Int(probe.count_planes)
        let ids: [UInt32] = try withArray(count: count) {
            (ids: UnsafeMutableBufferPointer<UInt32>) throws(DMABufError) in
            var request = drm_mode_get_plane_res()
            request.plane_id_ptr = Self.address(ids)
            request.count_planes = UInt32(count)
            _ = try Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_MODE_GETPLANERESOURCES(), &request).get(
                "DRM_IOCTL_MODE_GETPLANERESOURCES", on: path)
        }
        var planes: [KMSPlane] = []
        for id in ids {
            let operation = "DRM_IOCTL_MODE_GETPLANE \(id)"
            var plane = drm_mode_get_plane()
            plane.plane_id = id
            _ = try Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_MODE_GETPLANE(), &plane).get(operation, on: path)
            let formatCount = Int(plane.count_format_types)
            let formats: [UInt32] = try withArray(count: formatCount) {
                (formats: UnsafeMutableBufferPointer<UInt32>) throws(DMABufError) in
                var request = drm_mode_get_plane()
                request.plane_id = id
                request.format_type_ptr = Self.address(formats)
                request.count_format_types = UInt32(formatCount)
                _ = try Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_MODE_GETPLANE(), &request).get(operation, on: path)
            }
            let properties = try properties(of: id, type: .plane)
            // enum drm_plane_type: Overlay 0, Primary 1, Cursor 2.
            let kind: KMSPlane.Kind =
                switch properties.first(where: { $0.name == "type" })?.value {
                case 1: .primary
                case 2: .cursor
                default: .overlay
                }
            var modifiers: [DRMFormat: [DRMFormatModifier]] = [:]
            if let inFormats = properties.first(where: { $0.name == "IN_FORMATS" }), inFormats.value != 0 {
                modifiers = try KMSDeviceParsing.inFormats(try blob(UInt32(truncatingIfNeeded: inFormats.value)))
            }
            planes.append(
                KMSPlane(
                    id: id, kind: kind, possibleCRTCs: plane.possible_crtcs, formats: formats.map(DRMFormat.init),
                    modifiers: modifiers))
        }
        return planes
    }

    /// The contents of property blob `id` (DRM_IOCTL_MODE_GETPROPBLOB).
    func blob(_ id: UInt32) throws(DMABufError) -> [UInt8] {
        let operation = "DRM_IOCTL_MODE_GETPROPBLOB \(id)"
        var probe = drm_mode_get_blob()
        probe.blob_id = id
        _ = try Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_MODE_GETPROPBLOB(), &probe).get(operation, on: path)
        let length = Int(probe.length)
        return try withArray(count: length) { (bytes: UnsafeMutableBufferPointer<UInt8>) throws(DMABufError) in
            var request = drm_mode_get_blob()
            request.blob_id = id
            request.length = UInt32(length)
            request.data = Self.address(bytes)
            _ = try Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_MODE_GETPROPBLOB(), &request).get(operation, on: path)
        }
    }

    func properties(of id: UInt32, type: KMSObjectType) throws(DMABufError) -> [KMSProperty] {
        let operation = "DRM_IOCTL_MODE_OBJ_GETPROPERTIES of object \(id)"
        var probe = drm_mode_obj_get_properties()
        probe.obj_id = id
        probe.obj_type = type.rawValue
        _ = try Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_MODE_OBJ_GETPROPERTIES(), &probe).get(operation, on: path)
        let count = Int(probe.count_props)
        var values: [UInt64] = []
        let ids: [UInt32] = try withArray(count: count) {
            (ids: UnsafeMutableBufferPointer<UInt32>) throws(DMABufError) in
            values = try withArray(count: count) { (values: UnsafeMutableBufferPointer<UInt64>) throws(DMABufError) in
                var request = drm_mode_obj_get_properties()
                request.obj_id = id
                request.obj_type = type.rawValue
                request.count_props = UInt32(count)
                request.props_ptr = Self.address(ids)
                request.prop_values_ptr = Self.address(values)
                _ = try Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_MODE_OBJ_GETPROPERTIES(), &request).get(
                    operation, on: path)
            }
        }
        var properties: [KMSProperty] = []
        for (propertyID, value) in zip(ids, values) {
            let (name, enumNames) = try propertyDescription(propertyID)
            properties.append(KMSProperty(id: propertyID, name: name, value: value, enumNames: enumNames))
        }
        books.withLock { books in
            books.propertyIDs[id] = Dictionary(properties.map { ($0.name, $0.id) }, uniquingKeysWith: { a, _ in a })
        }
        return properties
    }

    private func propertyDescription(_ id: UInt32) throws(DMABufError) -> (String, [UInt64: String]) {
        let operation = "DRM_IOCTL_MODE_GETPROPERTY \(id)"
        var probe = drm_mode_get_property()
        probe.prop_id = id
        _ = try Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_MODE_GETPROPERTY(), &probe).get(operation, on: path)
        let name = withUnsafeBytes(of: probe.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let isEnum = probe.flags & (CDMABufDRM_DRM_MODE_PROP_ENUM() | CDMABufDRM_DRM_MODE_PROP_BITMASK()) != 0
        guard isEnum, probe.count_enum_blobs > 0 else { return (name, [:]) }
        let count = Int(probe.count_enum_blobs)
        var valueCount = Int(probe.count_values)
        var names: [UInt64: String] = [:]
        let enums: [drm_mode_property_enum] = try withArray(count: count) {
            (enums: UnsafeMutableBufferPointer<drm_mode_property_enum>) throws(DMABufError) in
            _ = try withArray(count: valueCount) { (values: UnsafeMutableBufferPointer<UInt64>) throws(DMABufError) in
                var request = drm_mode_get_property()
                request.prop_id = id
                request.count_enum_blobs = UInt32(count)
                request.enum_blob_ptr = Self.address(enums)
                request.count_values = UInt32(valueCount)
                request.values_ptr = Self.address(values)
                _ = try Sys.ioctl(descriptor, CDMABufDRM_DRM_IOCTL_MODE_GETPROPERTY(), &request).get(
                    operation, on: path)
                valueCount = min(valueCount, Int(request.count_values))
            }
        }
        for entry in enums {
            names[entry.value] = withUnsafeBytes(of: entry.name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
        }
        return (name, names)
    }

    /// The ID of property `name` on object `id`, from the books or, the first time, the kernel.
    func propertyID(_ name: String, of id: UInt32, type: KMSObjectType) throws(DMABufError) -> UInt32 {
        if let known = books.withLock({ $0.propertyIDs[id]?[name] }) { return known }
        guard let property = try properties(of: id, type: type).first(where: { $0.name == name }) else {
            throw DMABufError(
                .unsupported, operation: "find property \(name) of \(type) \(id)", target: path,
                hint: "The driver does not give this object that property")
        }
        return property.id
    }
}
#endif  // os(Linux)
