// The channel's receive path for the libFuzzer program (scripts/fuzz): each input is also read as
// a message that arrived with 0 to 3 fds (its first byte says how many). A message either parses
// into one that encodes back to the same bytes, or is refused as malformed input, never more.

func channelMessageFuzz(_ bytes: UnsafeBufferPointer<UInt8>) {
    guard let first = bytes.first else { return }
    let descriptorCount = Int(first % 4)
    let packet = bytes.dropFirst()
    do {
        let message = try DMABufChannelMessage.decode(packet, descriptorCount: descriptorCount)
        let encoded = try message.encoded(descriptorCount: descriptorCount)
        precondition(encoded.elementsEqual(packet), "decode and encode disagree: \(message)")
    } catch {
        precondition(error.errno == nil, "a parse error poses as a kernel errno: \(error)")
        precondition(error.code == .malformedInput, "undocumented code: \(error)")
        precondition(error.hint?.isEmpty == false)
    }
}
