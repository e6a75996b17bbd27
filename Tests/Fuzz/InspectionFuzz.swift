// dmabuf ls's parsers for the libFuzzer program (scripts/fuzz): each input is also read as a
// /proc/<pid>/maps file and as debugfs's dma_buf/bufinfo. Each either parses into values that keep
// the parsers' promises or is refused as malformed input, never more.

func inspectionParserFuzz(_ text: String) {
    do {
        for mapping in try DMABufMapping.parse(maps: text) {
            precondition(!mapping.addresses.isEmpty, "an empty mapping: \(mapping)")
            precondition(mapping.bufferRange.count == mapping.addresses.count, "ranges disagree: \(mapping)")
            precondition(text.contains("/dmabuf:" + mapping.name), "invented name: \(mapping)")
        }
    } catch {
        precondition(error.errno == nil && error.code == .malformedInput, "undocumented error: \(error)")
        precondition(error.hint?.isEmpty == false)
    }
    do {
        let (records, _, _) = try KernelBufferRecord.parse(bufinfo: text)
        for record in records {
            precondition(record.size >= 0 && (record.fileCount ?? 0) >= 0, "implausible record: \(record)")
            precondition(text.contains(record.exporterName), "invented exporter: \(record)")
        }
    } catch {
        precondition(error.errno == nil && error.code == .malformedInput, "undocumented error: \(error)")
        precondition(error.hint?.isEmpty == false)
    }
}
