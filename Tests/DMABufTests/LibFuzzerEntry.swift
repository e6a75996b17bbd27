// A libFuzzer entry point for the two text parsers, compiled only on its own (the test target
// leaves it out: DMABUF_LIBFUZZER is not defined there). It complements the seeded fuzzing in
// ParserFuzzTests with coverage-guided search. From the package root, after `swift build`:
//
//   swiftc -sanitize=fuzzer,address -parse-as-library -D DMABUF_LIBFUZZER -module-name ParserFuzz \
//     -I .build/debug/Modules -Xcc -I -Xcc Sources/CDMABuf/include \
//     -Xcc -fmodule-map-file=.build/checkouts/swift-system/Sources/CSystem/include/module.modulemap \
//     Tests/DMABufTests/LibFuzzerEntry.swift Sources/DMABuf/Inspection/DMABufferInfo.swift \
//     Sources/DMABuf/Core/DMABufError.swift Sources/DMABuf/Core/Syscalls.swift Sources/DMABufCLI/ByteCount.swift \
//     .build/debug/CDMABuf.build/CDMABuf.c.o .build/debug/CSystem.build/shims.c.o \
//     .build/debug/SystemPackage.build/*.swift.o -o .build/parser-fuzz
//   .build/parser-fuzz -seed=1 -runs=2000000 -max_len=512
//
// Each input is read both as an fdinfo text and as a byte count. A trap, a sanitizer report or
// a broken property below stops the fuzzer with the input saved as crash-*.
#if DMABUF_LIBFUZZER
@_cdecl("LLVMFuzzerTestOneInput")
public func parserFuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    do {
        let info = try DMABufferInfo(fdinfo: text)
        precondition(info.size >= 0 && (info.fileCount ?? 0) >= 0, "implausible parse: \(info)")
    } catch {
        precondition(error.errno == .invalidArgument || error.errno == .badMessage, "undocumented errno: \(error)")
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
#endif
