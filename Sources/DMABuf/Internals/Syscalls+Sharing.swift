#if os(Linux)
internal import CDMABuf
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemPackage

/// What one `recvmsg` brought: a byte count, how many fds arrived (in the caller's buffer), and
/// the kernel's message flags.
package struct ReceivedPacket {
    package var byteCount: Int
    /// Fds written to the front of the caller's buffer, the caller's to close.
    package var descriptorCount: Int
    /// Fds that arrived beyond the capacity asked for, already closed.
    package var droppedDescriptors: Int
    package var truncated: Bool
    package var controlTruncated: Bool
}

/// The system calls of fd passing and readiness: Unix sockets, SCM_RIGHTS, poll.
extension Sys {
    /// The most fds one SCM_RIGHTS message may carry (the kernel's SCM_MAX_FD).
    package static let maximumDescriptorsPerMessage = Int(CDMABUF_SCM_MAX_FD)

    /// `socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)`.
    package static func seqpacketPair() -> Result<(FileDescriptor, FileDescriptor), Errno> {
        var ends: [CInt] = [-1, -1]
        return syscall(SystemCallDescription("socketpair")) {
            Glibc.socketpair(AF_UNIX, CDMABuf_SOCK_SEQPACKET() | CDMABuf_SOCK_CLOEXEC(), 0, &ends)
        }.map { _ in
            #if ENABLE_MOCKING
            // socketpair returns 0: record the two fds it made so that leak checks see them.
            for end in ends {
                SyscallMock.current?.record(
                    SystemCall("socketpair end", createsDescriptor: true), .success(Int(end)), injected: false)
            }
            #endif
            return (FileDescriptor(rawValue: ends[0]), FileDescriptor(rawValue: ends[1]))
        }
    }

    /// A new `AF_UNIX` `SOCK_SEQPACKET` socket, close-on-exec, and non-blocking if asked.
    package static func seqpacketSocket(nonBlocking: Bool = false) -> Result<FileDescriptor, Errno> {
        let flags = CDMABuf_SOCK_CLOEXEC() | (nonBlocking ? CInt(SOCK_NONBLOCK.rawValue) : 0)
        return syscall(SystemCallDescription("socket", createsDescriptor: true)) {
            Glibc.socket(AF_UNIX, CDMABuf_SOCK_SEQPACKET() | flags, 0)
        }.map(FileDescriptor.init(rawValue:))
    }

    /// The `sockaddr_un` of `path`, or nil if the path does not fit in `sun_path`.
    package static func unixAddress(_ path: FilePath) -> sockaddr_un? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.string.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity, !bytes.contains(0) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        return address
    }

    package static func bind(_ fd: FileDescriptor, _ address: sockaddr_un) -> Result<Void, Errno> {
        syscall(SystemCallDescription("bind", descriptor: fd.rawValue)) {
            withSocketAddress(address) { Glibc.bind(fd.rawValue, $0, $1) }
        }.map { _ in }
    }

    package static func connect(_ fd: FileDescriptor, _ address: sockaddr_un) -> Result<Void, Errno> {
        syscall(SystemCallDescription("connect", descriptor: fd.rawValue)) {
            withSocketAddress(address) { Glibc.connect(fd.rawValue, $0, $1) }
        }.map { _ in }
    }

    /// `address` as the generic `sockaddr` pointer and length that bind and connect take.
    private static func withSocketAddress(
        _ address: sockaddr_un, _ body: (UnsafePointer<sockaddr>, socklen_t) -> CInt
    ) -> CInt {
        var address = address
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    package static func listen(_ fd: FileDescriptor, backlog: CInt) -> Result<Void, Errno> {
        syscall(SystemCallDescription("listen", descriptor: fd.rawValue)) { Glibc.listen(fd.rawValue, backlog) }
            .map { _ in }
    }

    /// `accept4(fd, NULL, NULL, SOCK_CLOEXEC)`: the new socket is blocking, whatever the
    /// listening one is.
    package static func accept(_ fd: FileDescriptor) -> Result<FileDescriptor, Errno> {
        syscall(SystemCallDescription("accept4", descriptor: fd.rawValue, createsDescriptor: true)) {
            CDMABuf_accept4(fd.rawValue, CDMABuf_SOCK_CLOEXEC())
        }.map(FileDescriptor.init(rawValue:))
    }

    package static func unlink(_ path: FilePath) -> Result<Void, Errno> {
        path.withPlatformString { cPath in
            syscall(SystemCallDescription("unlink")) { Glibc.unlink(cPath) }
        }.map { _ in }
    }

    /// The socket's type (`getsockopt(SO_TYPE)`): SOCK_SEQPACKET, SOCK_STREAM, ...
    package static func socketType(_ fd: FileDescriptor) -> Result<CInt, Errno> {
        var type: CInt = 0
        var length = socklen_t(MemoryLayout<CInt>.size)
        return syscall(SystemCallDescription("getsockopt", descriptor: fd.rawValue)) {
            Glibc.getsockopt(fd.rawValue, SOL_SOCKET, SO_TYPE, &type, &length)
        }.map { _ in type }
    }

    /// One `sendmsg` of `bytes` with `descriptors` as SCM_RIGHTS, MSG_NOSIGNAL (a dead peer is
    /// EPIPE, not SIGPIPE) plus `flags`. EINTR is retried: on a SOCK_SEQPACKET socket an
    /// interrupted send sent nothing. Returns the bytes sent.
    package static func send(
        _ fd: FileDescriptor, _ bytes: UnsafeRawBufferPointer, descriptors: UnsafeBufferPointer<FileDescriptor>,
        flags: CInt = 0
    ) -> Result<Int, Errno> {
        // FileDescriptor is a CInt: the fds go to C as they are.
        descriptors.withMemoryRebound(to: CInt.self) { raw in
            syscall(SystemCallDescription("sendmsg", descriptor: fd.rawValue)) {
                CDMABuf_send_with_fds(
                    fd.rawValue, bytes.baseAddress, bytes.count, raw.baseAddress, UInt32(raw.count), flags)
            }.map { Int($0) }
        }
    }

    /// How many fds a `receive` with room for `room` can bring, the size of the buffer it takes:
    /// the control buffer is rounded up, so it may hold a few more than asked for.
    package static func receivableDescriptors(room: Int) -> Int {
        CDMABuf_cmsg_space_for_fds(UInt32(room)) / MemoryLayout<CInt>.size
    }

    /// One `recvmsg` into `bytes`, MSG_CMSG_CLOEXEC plus `flags`, with room in the control
    /// buffer for `descriptorRoom` fds. The fds that arrived are written to the front of
    /// `descriptors` (at least ``receivableDescriptors(room:)`` long), the caller's to close.
    /// EINTR is retried.
    package static func receive(
        _ fd: FileDescriptor, into bytes: UnsafeMutableRawBufferPointer, descriptorRoom: Int,
        descriptors: UnsafeMutableBufferPointer<CInt>, flags: CInt = 0
    ) -> Result<ReceivedPacket, Errno> {
        var received: UInt32 = 0
        var dropped: UInt32 = 0
        var truncated = false
        var controlTruncated = false
        return syscall(SystemCallDescription("recvmsg", descriptor: fd.rawValue)) {
            CDMABuf_receive_with_fds(
                fd.rawValue, bytes.baseAddress, bytes.count, UInt32(descriptorRoom), descriptors.baseAddress,
                UInt32(descriptors.count), &received, &dropped, &truncated, &controlTruncated, flags)
        }.map { count in
            #if ENABLE_MOCKING
            // Fds that arrive are opened by this call: let leak checks see them.
            for descriptor in descriptors[..<Int(received)] {
                SyscallMock.current?.record(
                    SystemCall("recvmsg(SCM_RIGHTS)", descriptor: fd.rawValue, createsDescriptor: true),
                    .success(Int(descriptor)), injected: false)
            }
            #endif
            return ReceivedPacket(
                byteCount: Int(count), descriptorCount: Int(received), droppedDescriptors: Int(dropped),
                truncated: truncated, controlTruncated: controlTruncated)
        }
    }

    /// `poll` on one fd for `events`, up to `timeout` (nil: forever; see ``Deadline`` for how it
    /// saturates). Returns the events that came (0 on timeout).
    package static func poll(_ fd: FileDescriptor, events: Int16, timeout: Duration?) -> Result<Int16, Errno> {
        poll(fd, events: events, until: Deadline(after: timeout))
    }

    /// `poll` on one fd for `events` until `deadline`. Returns the events that came (0 once the
    /// deadline has passed). EINTR is retried with the time that is left.
    package static func poll(_ fd: FileDescriptor, events: Int16, until deadline: Deadline) -> Result<Int16, Errno> {
        while true {
            var entry = pollfd(fd: fd.rawValue, events: events, revents: 0)
            let milliseconds = deadline.pollMilliseconds
            let result = syscall(SystemCallDescription("poll", descriptor: fd.rawValue), retry: .never) {
                Glibc.poll(&entry, 1, milliseconds)
            }
            switch result {
            case .success: return .success(entry.revents)
            case .failure(.interrupted): continue
            case .failure(let error): return .failure(error)
            }
        }
    }
}
#endif  // os(Linux)
