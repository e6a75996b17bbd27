#if os(Linux)
/// CRC-32C (Castagnoli), the checksum of iSCSI, ext4 and btrfs, and the one the kernel's `crc32c()`
/// computes: reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF.
///
/// `CRC32C.checksum(Array("123456789".utf8))` is `0xE3069283`.
///
/// ```swift
/// var crc = CRC32C()
/// try mapping.withCPUAccess(.read) { bytes in crc.update(bytes) }
/// print(crc.value)
/// ```
package struct CRC32C: Hashable, Sendable {
    private var state: UInt32 = 0xFFFF_FFFF

    /// A checksum of no bytes yet.
    package init() {}

    /// The checksum of the bytes given so far.
    package var value: UInt32 { state ^ 0xFFFF_FFFF }

    /// Adds `bytes` to the checksum.
    package mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var crc = state
        Self.table.withUnsafeBufferPointer { table in
            for byte in bytes {
                crc = table[Int(UInt8(truncatingIfNeeded: crc) ^ byte)] ^ (crc >> 8)
            }
        }
        state = crc
    }

    /// Adds the bytes of `span` to the checksum.
    package mutating func update(_ span: RawSpan) {
        span.withUnsafeBytes { update($0) }
    }

    /// Adds `bytes` to the checksum.
    package mutating func update(_ bytes: some Sequence<UInt8>) {
        let array = Array(bytes)
        array.withUnsafeBytes { update($0) }
    }

    /// The checksum of `bytes`.
    package static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc = CRC32C()
        crc.update(bytes)
        return crc.value
    }

    /// The checksum of the bytes of `span`.
    package static func checksum(_ span: RawSpan) -> UInt32 {
        var crc = CRC32C()
        crc.update(span)
        return crc.value
    }

    private static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }
}
#endif  // os(Linux)
