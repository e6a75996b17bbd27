import DMABuf
import DMABufInspection
import DMABufTestSupport
import Testing

/// Seeded fuzzing of `dmabuf ls`'s parsers (bufinfo, maps), with the seed and iteration counts of
/// the other parser fuzzers (DMABUF_FUZZ_SEED, DMABUF_FUZZ_ITERATIONS; see `Fuzz`). Documents are
/// generated with known contents, printed as the kernel prints them, and parsed back; then cut
/// short and mutated, when the parsers must still answer without trapping, with only
/// `.malformedInput` errors.
@Suite struct InspectionParserFuzzing {
    /// Name bytes as DMA_BUF_SET_NAME takes them, without newlines (which make bufinfo ambiguous).
    static let lineNameAtoms = FDInfoDocument.nameAtoms.filter { !$0.contains(0x0A) }

    static func name(_ r: inout SplitMix64, atoms: [[UInt8]]) -> String {
        var bytes: [UInt8] = []
        let length = r.below(32)
        while bytes.count < length {
            let atom = r.pick(atoms)
            if bytes.count + atom.count > 31 { break }
            bytes += atom
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A bufinfo text and its records.
    static func bufinfo(_ r: inout SplitMix64, names: [[UInt8]]) -> (String, [KernelBufferRecord]) {
        var text = "\nDma-buf Objects:\nsize    \tflags   \tmode    \tcount   \texp_name\tino     \tname\n"
        var records: [KernelBufferRecord] = []
        for _ in 0..<r.below(6) {
            let size = Int(r.magnitude(upTo: UInt64(Int.max)))
            let record = KernelBufferRecord(
                inode: r.magnitude(upTo: .max), size: size, exporterName: r.pick(FDInfoDocument.exporters),
                name: r.chance(20) ? nil : name(&r, atoms: names), fileCount: r.below(100),
                attachments: (0..<r.below(3)).map { _ in r.pick(["vgem", "0000:00:02.0", "vivid-000-vid-cap"]) })
            records.append(record)
            let hex = { (value: Int) in
                String(repeating: "0", count: max(0, 8 - String(value, radix: 16).count)) + String(value, radix: 16)
            }
            let padded = { (value: UInt64) in
                String(repeating: "0", count: max(0, 8 - String(value).count)) + String(value)
            }
            text +=
                "\(padded(UInt64(size)))\t\(hex(r.below(1 << 20)))\t\(hex(0x80007))\t\(padded(UInt64(record.fileCount!)))\t"
            text += "\(record.exporterName)\t\(padded(record.inode))\t\(record.name ?? "<none>")\n"
            for _ in 0..<r.below(3) {
                text += "\t\(r.pick(["read", "write", "bookkeep"])) fence:vgem vgem seq \(r.below(99)) signalled\n"
            }
            text += "\tAttached Devices:\n" + record.attachments!.map { "\t\($0)\n" }.joined()
            text += "Total \(record.attachments!.count) devices attached\n\n"
        }
        text += "\nTotal \(records.count) objects, 0 bytes\n"
        return (
            text,
            records.map { record in
                // "<none>" as a name reads as no name.
                var record = record
                if record.name == "<none>" { record.name = nil }
                return record
            }
        )
    }

    /// A maps text and its dma-buf mappings.
    static func maps(_ r: inout SplitMix64) -> (String, [DMABufMapping]) {
        var text = ""
        var mappings: [DMABufMapping] = []
        var address: UInt64 = 0x7f00_0000_0000
        for _ in 0..<r.below(8) {
            let length = UInt64(r.below(64) + 1) << 12
            let offset = UInt64(r.below(16)) << 12
            let inode = r.magnitude(upTo: .max)
            let isDmaBuf = r.chance(60)
            // maps escapes a newline in the path as \012; spaces, tabs and colons stay.
            let name = Self.name(&r, atoms: lineNameAtoms)
            let path = isDmaBuf ? "/dmabuf:" + name : r.pick(["/usr/lib/libc.so.6", "[heap]", "", "/tmp/dmabuf:x"])
            text += "\(String(address, radix: 16))-\(String(address + length, radix: 16)) rw-s "
            text += "\(String(offset, radix: 16)) 00:0d \(isDmaBuf ? inode : 0)"
            text += path.isEmpty ? "\n" : String(repeating: " ", count: r.below(30) + 1) + path + "\n"
            if isDmaBuf {
                mappings.append(
                    DMABufMapping(inode: inode, addresses: address..<(address + length), offset: offset, name: name))
            }
            address += length + 0x1000
        }
        return (text, mappings)
    }

    static func mutate(_ text: String, _ r: inout SplitMix64) -> String {
        var bytes = Array(text.utf8)
        for _ in 0..<(r.below(4) + 1) where !bytes.isEmpty {
            let at = r.below(bytes.count)
            switch r.below(3) {
            case 0: bytes[at] = r.pick(Array("\t\n :-0123456789af".utf8) + [0xFF])
            case 1: bytes.remove(at: at)
            default:
                bytes.insert(
                    contentsOf: r.pick([Array("\t".utf8), Array("\n".utf8), Array("99999999999999999999".utf8)]), at: at
                )
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func expectOnlyMalformed(_ error: DMABufError, _ what: String) {
        #expect(error.code == .malformedInput && error.errno == nil, "\(what): \(error)")
        #expect(readabilityProblems(error, quotesInput: true).isEmpty, "\(what): \(error)")
    }

    @Test func bufinfoParser() throws {
        for iteration in 0..<Fuzz.iterations(2000) {
            var r = Fuzz.generator(iteration, stream: 0xB1)
            let case_ = "seed \(Fuzz.seedText) iteration \(iteration)"
            let lineNames = r.chance(70)
            let (text, records) = Self.bufinfo(&r, names: lineNames ? Self.lineNameAtoms : FDInfoDocument.nameAtoms)
            do {
                let parsed = try KernelBufferRecord.parse(bufinfo: text)
                if lineNames {
                    #expect(parsed.records == records && parsed.isComplete, "\(case_): \(text.debugDescription)")
                } else {
                    #expect(parsed.records.map(\.inode) == records.map(\.inode), "\(case_): \(text.debugDescription)")
                }
            } catch {
                Issue.record("\(case_): \(error): \(text.debugDescription)")
            }
            // Cut short: what came before the cut, never more, never a trap.
            let cut = String(decoding: text.utf8.prefix(r.below(text.utf8.count)), as: UTF8.self)
            do {
                let parsed = try KernelBufferRecord.parse(bufinfo: cut)
                #expect(!parsed.isComplete, "\(case_): a cut text is complete: \(cut.debugDescription)")
                #expect(parsed.records.count <= records.count)
                if lineNames {
                    #expect(Array(parsed.records.dropLast()) == Array(records.prefix(max(0, parsed.records.count - 1))))
                }
            } catch {
                Self.expectOnlyMalformed(error, "\(case_) cut")
            }
            let mutated = Self.mutate(text, &r)
            do {
                _ = try KernelBufferRecord.parse(bufinfo: mutated)
            } catch {
                Self.expectOnlyMalformed(error, "\(case_) mutated")
            }
        }
    }

    @Test func mapsParser() throws {
        for iteration in 0..<Fuzz.iterations(2000) {
            var r = Fuzz.generator(iteration, stream: 0xB2)
            let case_ = "seed \(Fuzz.seedText) iteration \(iteration)"
            let (text, mappings) = Self.maps(&r)
            #expect(try DMABufMapping.parse(maps: text) == mappings, "\(case_): \(text.debugDescription)")
            let cut = String(decoding: text.utf8.prefix(r.below(text.utf8.count + 1)), as: UTF8.self)
            do {
                let parsed = try DMABufMapping.parse(maps: cut)
                #expect(parsed.count <= mappings.count)
                #expect(Array(parsed.dropLast()) == Array(mappings.prefix(max(0, parsed.count - 1))), "\(case_) cut")
            } catch {
                Self.expectOnlyMalformed(error, "\(case_) cut")
            }
            do {
                for mapping in try DMABufMapping.parse(maps: Self.mutate(text, &r)) {
                    #expect(mapping.addresses.lowerBound < mapping.addresses.upperBound)
                    #expect(mapping.offset.addingReportingOverflow(mapping.length).overflow == false)
                }
            } catch {
                Self.expectOnlyMalformed(error, "\(case_) mutated")
            }
        }
    }
}
