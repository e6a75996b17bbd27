import DMABuf
import DMABufTestSupport
import Glibc
import SystemPackage
import Testing

// The channel's receive path among the seeded fuzzers (see ParserFuzzTests.swift for Fuzz and
// SplitMix64): random headers, lengths, fd counts and kinds, first through the parser alone,
// then through a real socket with real fds.

/// A message a fuzz case starts from: valid, with random fields.
func randomMessage(_ r: inout SplitMix64) -> DMABufChannelMessage {
    let atoms = ["a", "frame", "✓", "é", " ", "\n", "😀", "0"]
    var name = ""
    while r.chance(60) {
        let atom = r.pick(atoms)
        if name.utf8.count + atom.utf8.count > DMABufChannelMessage.maximumNameLength { break }
        name += atom
    }
    var message = DMABufChannelMessage(
        r.pick(DMABufChannelMessage.Kind.allCases), sequence: r.magnitude(upTo: .max), length: r.magnitude(upTo: .max),
        index: UInt32(truncatingIfNeeded: r.magnitude(upTo: UInt64(UInt32.max))), name: name,
        metadata: (0..<r.below(DMABufChannelMessage.maximumMetadataLength + 1)).map { _ in UInt8(r.below(256)) })
    message.hasFence = r.chance(20)
    return message
}

/// Damages an encoded message the ways a broken or hostile peer would.
func mutate(_ bytes: inout [UInt8], _ r: inout SplitMix64) {
    switch r.below(6) {
    case 0:  // a header field set to something random
        let offset = r.pick([0, 4, 5, 6, 7, 28, 29, 30, 31])
        if offset < bytes.count { bytes[offset] = UInt8(r.below(256)) }
    case 1: bytes.removeLast(r.below(bytes.count) + 1)
    case 2: bytes += (0..<(r.below(100) + 1)).map { _ in UInt8(r.below(256)) }
    case 3:
        for _ in 0..<(r.below(4) + 1) {
            let offset = r.below(bytes.count)
            bytes[offset] ^= UInt8(1 << r.below(8))
        }
    case 4: bytes = (0..<r.below(140)).map { _ in UInt8(r.below(256)) }
    default:  // a kind or version just outside what is known
        if bytes.count > 7 {
            bytes[r.chance(50) ? 6 : 4] = r.pick([0, 6, 2, 0xFF])
            bytes[r.chance(50) ? 7 : 5] = 0
        }
    }
}

@Suite struct ChannelFuzzing {
    @Test func messageParser() throws {
        var refused = 0
        for iteration in 0..<Fuzz.iterations(100_000) {
            var r = Fuzz.generator(iteration, stream: 10)
            let message = randomMessage(&r)
            let fds = (message.hasFence ? 1 : 0) + r.below(4)
            var bytes = try message.encoded(descriptorCount: fds)
            let damaged = r.chance(70)
            if damaged { mutate(&bytes, &r) }
            let arrived = r.chance(90) ? fds : r.below(6)
            do {
                let decoded = try DMABufChannelMessage.decode(bytes, descriptorCount: arrived)
                if !damaged && arrived == fds {
                    #expect(decoded == message, "seed \(Fuzz.seedText) iteration \(iteration)")
                }
                // Whatever parses, encodes back to the same bytes: nothing is invented or dropped.
                #expect(try decoded.encoded(descriptorCount: arrived) == bytes, "iteration \(iteration)")
            } catch {
                refused += 1
                #expect(damaged || arrived != fds, "a valid message refused, iteration \(iteration): \(error)")
                #expect(error.code == .malformedInput && error.errno == nil && error.hint != nil, "\(error)")
                #expect(readabilityProblems(error).isEmpty, "\(error)")
            }
        }
        #expect(refused > 0)
    }

    /// The whole receive path: random bytes and fd counts through a real socket, against receivers
    /// that allow a random number of fds. Every fd that arrives is closed or handed over.
    @Test func receivePath() throws {
        let memfd = try makeMemfd(size: 4096)
        defer { try? memfd.close() }
        let (pipeRead, pipeWrite) = try FileDescriptor.pipe()
        defer {
            try? pipeRead.close()
            try? pipeWrite.close()
        }
        for iteration in 0..<Fuzz.iterations(2000) {
            var r = Fuzz.generator(iteration, stream: 11)
            let message = randomMessage(&r)
            let fds = (message.hasFence ? 1 : 0) + r.below(5)
            var bytes = try message.encoded(descriptorCount: fds)
            if r.chance(50) { mutate(&bytes, &r) }
            let descriptors = (0..<fds).map { _ in r.chance(90) ? memfd : pipeRead }
            try expectNoLeaks {
                let pair = try memfdChannelPair(maximumDescriptors: r.below(4) + 1)
                try sendRaw(pair.first, bytes, descriptors: descriptors)
                do {
                    var received = try pair.second.blockingReceive()
                    #expect(received.bufferCount <= pair.second.maximumDescriptors)
                    if received.bufferCount > 0 && r.chance(50) { _ = try received.takeBuffer(at: 0) }
                    if r.chance(50) { _ = received.takeFence() }
                } catch let error as DMABufError {
                    let allowed: [DMABufError.Code] = [.malformedInput, .limitExceeded, .notADMABuf]
                    #expect(allowed.contains(error.code), "iteration \(iteration): \(error)")
                    #expect(readabilityProblems(error).isEmpty, "\(error)")
                }
            }
        }
    }
}
