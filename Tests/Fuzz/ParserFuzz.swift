// A libFuzzer entry point for the two text parsers: coverage-guided search to complement the
// seeded fuzzing in Tests/DMABufTests/ParserFuzzTests.swift. Not a SwiftPM target: it is compiled
// together with the DMABuf sources and ByteCount.swift, instrumented, into one program. From the
// package root, after `swift build` (for SystemPackage's and the C shim's objects):
//
//   swiftc -sanitize=fuzzer,address -use-ld=lld -parse-as-library -module-name ParserFuzz \
//     -package-name swift_dmabuf -enable-experimental-feature Lifetimes \
//     -I .build/debug/Modules -Xcc -I -Xcc Sources/CDMABuf/include \
//     -Xcc -fmodule-map-file=.build/checkouts/swift-system/Sources/CSystem/include/module.modulemap \
//     Tests/Fuzz/ParserFuzz.swift Sources/DMABuf/*.swift Sources/DMABuf/Internals/*.swift \
//     Sources/DMABufCLI/ByteCount.swift .build/debug/CDMABuf.build/CDMABuf.c.o \
//     .build/debug/CSystem.build/shims.c.o .build/debug/SystemPackage.build/*.swift.o \
//     -o .build/parser-fuzz
//   mkdir -p build/fuzz && cd build/fuzz && ../../.build/parser-fuzz -seed=1 -runs=2000000 -max_len=512
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
    return 0
}
