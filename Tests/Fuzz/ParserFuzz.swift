// A libFuzzer entry point for the text parsers (fdinfo, byte counts, and dmabuf ls's maps and
// bufinfo) and the channel's header parser: coverage-guided search to complement the
// seeded fuzzing in Tests/DMABufTests/ParserFuzzTests.swift. Not a SwiftPM target: it is compiled
// together with the DMABuf sources and ByteCount.swift, instrumented, into one program. From the
// package root: `make fuzz` (scripts/fuzz builds it and runs it; FUZZ_ARGS="-runs=N" and other
// libFuzzer options go through).
//
// Each input is read both as an fdinfo text and as a byte count. A trap, a sanitizer report or
// a broken property below stops the fuzzer with the input saved as crash-*.

@_cdecl("LLVMFuzzerTestOneInput")
public func parserFuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    do {
        let info = try DMABuffer.Info(fdinfo: text)
        precondition(info.size >= 0 && (info.fileCount ?? 0) >= 0, "implausible parse: \(info)")
        precondition(text.contains("exp_name:") && text.contains(info.exporterName), "invented: \(info)")
    } catch {
        precondition(error.errno == nil, "a parse error poses as a kernel errno: \(error)")
        precondition(error.code == .notADMABuf || error.code == .malformedInput, "undocumented code: \(error)")
        precondition(error.hint?.isEmpty == false && !error.description.isEmpty)
    }
    do {
        let bytes = try ByteCount.parse(text)
        precondition(bytes >= 0)
        precondition(text.unicodeScalars.allSatisfy(\.isASCII), "accepted non-ASCII: \(text.debugDescription)")
    } catch {
        precondition(!error.description.isEmpty)
    }
    channelMessageFuzz(UnsafeBufferPointer(start: data, count: size))  // Tests/Fuzz/ChannelFuzz.swift
    inspectionParserFuzz(text)  // Tests/Fuzz/InspectionFuzz.swift
    return 0
}
