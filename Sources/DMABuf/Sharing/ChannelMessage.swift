#if os(Linux)
// On the wire (little-endian), 32 bytes then the name and the metadata. The format is the
// channel's own: callers see messages, buffers and a fence, never these bytes.
//
// | offset | bytes | field |
// |---|---|---|
// | 0 | 4 | magic, "dbuf" |
// | 4 | 2 | version, 1 |
// | 6 | 2 | kind |
// | 8 | 8 | sequence |
// | 16 | 8 | length |
// | 24 | 4 | index |
// | 28 | 1 | count of fds that came with it |
// | 29 | 1 | flags: bit 0, the last fd is a sync_file (`hasFence`) |
// | 30 | 1 | name length, at most 32 |
// | 31 | 1 | metadata length, at most 64 |

/// One message of a ``DMABufChannel``: its kind, a few numbers, a name and a few bytes of
/// metadata. The dma-bufs and the fence that travel with it are given to
/// ``DMABufChannel/send(_:buffers:fence:)`` beside it.
public struct DMABufChannelMessage: Hashable, Sendable {
    /// What a message means. A receiver refuses kinds it does not know.
    public enum Kind: UInt16, Hashable, Sendable, CaseIterable {
        /// The application's own message.
        case data = 1
        /// The pool's producer registers buffer ``index`` (one fd) of ``length`` bytes, one of
        /// ``sequence`` buffers.
        case register = 2
        /// Buffer ``index`` holds frame ``sequence``, ``length`` bytes of it used; with a fence,
        /// if the producer sent one.
        case ready = 3
        /// The consumer is done with buffer ``index``.
        case release = 4
        /// The sender is closing the channel.
        case goodbye = 5
    }

    /// The wire format's version; messages of any other are refused.
    public static let version: UInt16 = 1
    /// The longest name, in UTF-8 bytes.
    public static let maximumNameLength = 32
    /// The most metadata bytes.
    public static let maximumMetadataLength = 64
    /// Bytes of the fixed header.
    public static let headerLength = 32
    /// The longest message on the wire.
    public static let maximumLength = headerLength + maximumNameLength + maximumMetadataLength
    static let magic: UInt32 = 0x6675_6264  // "dbuf" in little-endian order

    /// What the message means.
    public var kind: Kind
    /// A number the sender chooses: a frame number, a count.
    public var sequence: UInt64
    /// A byte count: a buffer's size, the bytes of a frame in use.
    public var length: UInt64
    /// A buffer's index in a pool.
    public var index: UInt32
    /// A short name, at most ``maximumNameLength`` bytes of UTF-8.
    public var name: String
    /// The application's bytes, at most ``maximumMetadataLength``.
    public var metadata: [UInt8]
    /// Whether the last fd of the message is a sync_file rather than a dma-buf: the wire
    /// format's flag, which `send` sets and `receive` reads.
    package var hasFence = false

    /// A message; every field but `kind` defaults to zero or empty.
    public init(
        _ kind: Kind, sequence: UInt64 = 0, length: UInt64 = 0, index: UInt32 = 0, name: String = "",
        metadata: [UInt8] = []
    ) {
        self.kind = kind
        self.sequence = sequence
        self.length = length
        self.index = index
        self.name = name
        self.metadata = metadata
    }

    /// The message on the wire, sent with `descriptorCount` fds.
    ///
    /// - Throws: as `encode(into:descriptorCount:)`.
    package func encoded(descriptorCount: Int) throws(DMABufError) -> [UInt8] {
        try withUnsafeTemporaryAllocation(byteCount: Self.maximumLength, alignment: 8) { buffer throws(DMABufError) in
            let count = try encode(into: buffer, descriptorCount: descriptorCount)
            return Array(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
        }
    }

    /// Writes the message as it goes on the wire, sent with `descriptorCount` fds, to the start of
    /// `buffer`, which has room for ``maximumLength`` bytes, and returns its length. The send
    /// path's encoding: it makes no array and no string.
    ///
    /// - Throws: ``DMABufError/Code/invalidArgument`` for a name or metadata too long, too many
    ///   fds, or a fence flag without an fd.
    @inline(__always)
    package func encode(into buffer: UnsafeMutableRawBufferPointer, descriptorCount: Int) throws(DMABufError) -> Int {
        precondition(buffer.count >= Self.maximumLength, "a channel message needs \(Self.maximumLength) bytes")
        let nameLength = name.utf8.count
        func refuse(_ hint: String) -> DMABufError {
            DMABufError(.invalidArgument, operation: "encode a \(kind) message", hint: hint)
        }
        guard nameLength <= Self.maximumNameLength else {
            throw refuse("The name is \(nameLength) bytes of UTF-8; at most \(Self.maximumNameLength) fit")
        }
        guard metadata.count <= Self.maximumMetadataLength else {
            throw refuse("The metadata is \(metadata.count) bytes; at most \(Self.maximumMetadataLength) fit")
        }
        guard (0...Sys.maximumDescriptorsPerMessage).contains(descriptorCount) else {
            throw refuse("\(descriptorCount) fds; one message carries 0 to \(Sys.maximumDescriptorsPerMessage)")
        }
        guard !hasFence || descriptorCount >= 1 else { throw refuse("A message with a fence needs its fd") }
        func store<T: FixedWidthInteger>(_ value: T, at offset: Int) {
            buffer.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
        }
        store(Self.magic, at: 0)
        store(Self.version, at: 4)
        store(kind.rawValue, at: 6)
        store(sequence, at: 8)
        store(length, at: 16)
        store(index, at: 24)
        store(UInt8(descriptorCount), at: 28)
        store(UInt8(hasFence ? 1 : 0), at: 29)
        store(UInt8(nameLength), at: 30)
        store(UInt8(metadata.count), at: 31)
        let nameEnd = Self.headerLength + nameLength
        if nameLength > 0 {
            UnsafeMutableRawBufferPointer(rebasing: buffer[Self.headerLength..<nameEnd]).copyBytes(from: name.utf8)
        }
        if !metadata.isEmpty {
            let room = UnsafeMutableRawBufferPointer(rebasing: buffer[nameEnd...])
            metadata.withUnsafeBytes { room.copyMemory(from: $0) }
        }
        return nameEnd + metadata.count
    }

    /// Parses a message that arrived with `descriptorCount` fds.
    ///
    /// - Throws: as the `UnsafeRawBufferPointer` overload.
    package static func decode(_ bytes: some Collection<UInt8>, descriptorCount: Int) throws(DMABufError)
        -> DMABufChannelMessage
    {
        try Array(bytes).withUnsafeBytes { bytes in
            Result { () throws(DMABufError) in try decode(bytes, descriptorCount: descriptorCount) }
        }.get()
    }

    /// Parses a message that arrived with `descriptorCount` fds: the receive path's whole check
    /// of what the peer sent. It reads the header in place; the message it returns makes an
    /// array only for metadata, and a string only for a name too long to be stored inline (more
    /// than 15 bytes).
    ///
    /// - Throws: ``DMABufError/Code/malformedInput`` for anything but a well-formed message of
    ///   this version: a short or long message, a wrong magic, an unknown version, kind or flag,
    ///   lengths that disagree with the bytes, an fd count other than what arrived, a name that is
    ///   not UTF-8.
    @inline(__always)
    package static func decode(_ bytes: UnsafeRawBufferPointer, descriptorCount: Int) throws(DMABufError)
        -> DMABufChannelMessage
    {
        func refuse(_ hint: String) -> DMABufError {
            DMABufError(.malformedInput, operation: "receive a channel message", hint: hint)
        }
        guard bytes.count >= headerLength else {
            throw refuse("It is \(bytes.count) bytes, shorter than the \(headerLength)-byte header")
        }
        func load<T: FixedWidthInteger>(_ offset: Int, as type: T.Type) -> T {
            T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        }
        guard load(0, as: UInt32.self) == magic else {
            throw refuse("It does not start with the channel's magic \"dbuf\": the peer speaks another protocol")
        }
        let version = load(4, as: UInt16.self)
        guard version == Self.version else {
            throw refuse("It is of version \(version); this library speaks version \(Self.version) only")
        }
        let rawKind = load(6, as: UInt16.self)
        guard let kind = Kind(rawValue: rawKind) else {
            throw refuse("Its kind \(rawKind) is unknown (version \(Self.version) has kinds 1 to 5)")
        }
        let declaredDescriptors = Int(bytes[28])
        let flags = bytes[29]
        let nameLength = Int(bytes[30])
        let metadataLength = Int(bytes[31])
        guard flags & ~1 == 0 else { throw refuse("It has unknown flags 0x\(String(flags, radix: 16))") }
        guard nameLength <= maximumNameLength, metadataLength <= maximumMetadataLength else {
            throw refuse(
                "It declares a \(nameLength)-byte name and \(metadataLength) bytes of metadata; at most "
                    + "\(maximumNameLength) and \(maximumMetadataLength) are allowed")
        }
        guard bytes.count == headerLength + nameLength + metadataLength else {
            throw refuse(
                "It is \(bytes.count) bytes, but its header declares \(headerLength + nameLength + metadataLength)")
        }
        guard declaredDescriptors == descriptorCount else {
            throw refuse("It declares \(declaredDescriptors) fds, but \(descriptorCount) came with it")
        }
        let hasFence = flags & 1 != 0
        guard !hasFence || descriptorCount >= 1 else { throw refuse("It declares a fence but carries no fd") }
        let nameEnd = headerLength + nameLength
        var name = ""
        if nameLength > 0 {
            let validated = UnsafeRawBufferPointer(rebasing: bytes[headerLength..<nameEnd]).withMemoryRebound(
                to: UInt8.self
            ) { String(validating: $0, as: UTF8.self) }
            guard let validated else { throw refuse("Its name is not UTF-8") }
            name = validated
        }
        var message = DMABufChannelMessage(
            kind, sequence: load(8, as: UInt64.self), length: load(16, as: UInt64.self),
            index: load(24, as: UInt32.self), name: name,
            metadata: metadataLength == 0 ? [] : Array(UnsafeRawBufferPointer(rebasing: bytes[nameEnd...])))
        message.hasFence = hasFence
        return message
    }
}

extension DMABufChannelMessage.Kind: CustomStringConvertible {
    /// "ready", "release", ...
    public var description: String {
        switch self {
        case .data: "data"
        case .register: "register"
        case .ready: "ready"
        case .release: "release"
        case .goodbye: "goodbye"
        }
    }
}
#endif  // os(Linux)
