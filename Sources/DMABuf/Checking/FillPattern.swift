#if os(Linux)
/// A reproducible byte pattern, a function of a seed and each byte's offset in the buffer: fill a
/// buffer in one process and check it, or a part of it, in another (or in the kernel, by its
/// CRC-32C), knowing only the seed.
///
/// Bytes depend on their absolute offset, so a mapping of part of a buffer is filled and checked
/// with its own offset, and each page differs from every other.
///
/// ```swift
/// let pattern = FillPattern(seed: 42)
/// try mapping.withCPUAccess(.write) { bytes in pattern.fill(&bytes, startingAt: mapping.offset) }
/// let expected = pattern.checksum(of: 4096..<8192)  // CRC-32C of those bytes of the pattern
/// ```
package struct FillPattern: Hashable, Sendable {
    /// The seed.
    package var seed: UInt64

    /// The pattern of `seed`.
    package init(seed: UInt64) {
        self.seed = seed
    }

    /// The eight pattern bytes starting at `word * 8`, as one little-endian word (SplitMix64 of
    /// the seed and the word's index).
    @inline(__always)
    private func word(_ word: Int) -> UInt64 {
        var z = seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(truncatingIfNeeded: word &+ 1)
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The pattern's byte at `offset` in the buffer.
    package func byte(at offset: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: word(offset >> 3) >> (UInt64(offset & 7) * 8))
    }

    /// Writes the pattern into `bytes`, whose first byte is at `offset` in the buffer.
    package func fill(_ bytes: UnsafeMutableRawBufferPointer, startingAt offset: Int = 0) {
        for index in 0..<bytes.count { bytes[index] = byte(at: offset + index) }
    }

    /// Writes the pattern into `bytes`, whose first byte is at `offset` in the buffer.
    package func fill(_ bytes: inout MutableRawSpan, startingAt offset: Int = 0) {
        bytes.withUnsafeMutableBytes { fill($0, startingAt: offset) }
    }

    /// The offset in the buffer of the first byte of `bytes` (whose first byte is at `offset`) that
    /// differs from the pattern, or nil if all match.
    package func firstMismatch(in bytes: UnsafeRawBufferPointer, startingAt offset: Int = 0) -> Int? {
        for index in 0..<bytes.count where bytes[index] != byte(at: offset + index) {
            return offset + index
        }
        return nil
    }

    /// The offset in the buffer of the first byte of `bytes` (whose first byte is at `offset`) that
    /// differs from the pattern, or nil if all match.
    package func firstMismatch(in bytes: RawSpan, startingAt offset: Int = 0) -> Int? {
        bytes.withUnsafeBytes { firstMismatch(in: $0, startingAt: offset) }
    }

    /// The pattern's bytes over `range` of the buffer.
    package func bytes(_ range: Range<Int>) -> [UInt8] {
        range.map(byte(at:))
    }

    /// The CRC-32C of the pattern's bytes over `range` of the buffer: what a reader of a buffer
    /// filled with this pattern must compute over that range.
    package func checksum(of range: Range<Int>) -> UInt32 {
        var crc = CRC32C()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var start = range.lowerBound
        while start < range.upperBound {
            let count = min(chunk.count, range.upperBound - start)
            chunk.withUnsafeMutableBytes {
                fill(UnsafeMutableRawBufferPointer(rebasing: $0[..<count]), startingAt: start)
            }
            chunk.withUnsafeBytes { crc.update(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
            start += count
        }
        return crc.value
    }
}
#endif  // os(Linux)
