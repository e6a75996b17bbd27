/* SPDX-License-Identifier: MIT */
#ifdef __linux__
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "CDMABuf.h"

/*
 * Every errno of Linux's uapi (asm-generic/errno-base.h and errno.h; the
 * macros give each architecture's values) but the aliases EWOULDBLOCK,
 * EDEADLOCK and ENOTSUP. Ours rather than strerrorname_np, which needs glibc
 * 2.32 and which musl lacks.
 */
#define NAME(errnum) [errnum] = #errnum
static const char *const errno_names[] = {
	NAME(EPERM), NAME(ENOENT), NAME(ESRCH), NAME(EINTR), NAME(EIO), NAME(ENXIO), NAME(E2BIG),
	NAME(ENOEXEC), NAME(EBADF), NAME(ECHILD), NAME(EAGAIN), NAME(ENOMEM), NAME(EACCES), NAME(EFAULT),
	NAME(ENOTBLK), NAME(EBUSY), NAME(EEXIST), NAME(EXDEV), NAME(ENODEV), NAME(ENOTDIR), NAME(EISDIR),
	NAME(EINVAL), NAME(ENFILE), NAME(EMFILE), NAME(ENOTTY), NAME(ETXTBSY), NAME(EFBIG), NAME(ENOSPC),
	NAME(ESPIPE), NAME(EROFS), NAME(EMLINK), NAME(EPIPE), NAME(EDOM), NAME(ERANGE), NAME(EDEADLK),
	NAME(ENAMETOOLONG), NAME(ENOLCK), NAME(ENOSYS), NAME(ENOTEMPTY), NAME(ELOOP), NAME(ENOMSG),
	NAME(EIDRM), NAME(ECHRNG), NAME(EL2NSYNC), NAME(EL3HLT), NAME(EL3RST), NAME(ELNRNG), NAME(EUNATCH),
	NAME(ENOCSI), NAME(EL2HLT), NAME(EBADE), NAME(EBADR), NAME(EXFULL), NAME(ENOANO), NAME(EBADRQC),
	NAME(EBADSLT), NAME(EBFONT), NAME(ENOSTR), NAME(ENODATA), NAME(ETIME), NAME(ENOSR), NAME(ENONET),
	NAME(ENOPKG), NAME(EREMOTE), NAME(ENOLINK), NAME(EADV), NAME(ESRMNT), NAME(ECOMM), NAME(EPROTO),
	NAME(EMULTIHOP), NAME(EDOTDOT), NAME(EBADMSG), NAME(EOVERFLOW), NAME(ENOTUNIQ), NAME(EBADFD),
	NAME(EREMCHG), NAME(ELIBACC), NAME(ELIBBAD), NAME(ELIBSCN), NAME(ELIBMAX), NAME(ELIBEXEC),
	NAME(EILSEQ), NAME(ERESTART), NAME(ESTRPIPE), NAME(EUSERS), NAME(ENOTSOCK), NAME(EDESTADDRREQ),
	NAME(EMSGSIZE), NAME(EPROTOTYPE), NAME(ENOPROTOOPT), NAME(EPROTONOSUPPORT), NAME(ESOCKTNOSUPPORT),
	NAME(EOPNOTSUPP), NAME(EPFNOSUPPORT), NAME(EAFNOSUPPORT), NAME(EADDRINUSE), NAME(EADDRNOTAVAIL),
	NAME(ENETDOWN), NAME(ENETUNREACH), NAME(ENETRESET), NAME(ECONNABORTED), NAME(ECONNRESET),
	NAME(ENOBUFS), NAME(EISCONN), NAME(ENOTCONN), NAME(ESHUTDOWN), NAME(ETOOMANYREFS), NAME(ETIMEDOUT),
	NAME(ECONNREFUSED), NAME(EHOSTDOWN), NAME(EHOSTUNREACH), NAME(EALREADY), NAME(EINPROGRESS),
	NAME(ESTALE), NAME(EUCLEAN), NAME(ENOTNAM), NAME(ENAVAIL), NAME(EISNAM), NAME(EREMOTEIO), NAME(EDQUOT),
	NAME(ENOMEDIUM), NAME(EMEDIUMTYPE), NAME(ECANCELED), NAME(ENOKEY), NAME(EKEYEXPIRED),
	NAME(EKEYREVOKED), NAME(EKEYREJECTED), NAME(EOWNERDEAD), NAME(ENOTRECOVERABLE), NAME(ERFKILL),
	NAME(EHWPOISON),
};
#undef NAME

const char *CDMABuf_errno_name(int errnum)
{
	if (errnum <= 0 || (size_t)errnum >= sizeof(errno_names) / sizeof(errno_names[0]))
		return NULL;
	return errno_names[errnum];
}

int CDMABuf_memfd_create(const char *name, unsigned int flags)
{
	return memfd_create(name, flags);
}

int CDMABuf_O_PATH(void) { return O_PATH; }
unsigned int CDMABuf_MFD_CLOEXEC(void) { return MFD_CLOEXEC; }
unsigned int CDMABuf_MFD_ALLOW_SEALING(void) { return MFD_ALLOW_SEALING; }
int CDMABuf_F_ADD_SEALS(void) { return F_ADD_SEALS; }
int CDMABuf_F_GET_SEALS(void) { return F_GET_SEALS; }
int CDMABuf_F_SEAL_SEAL(void) { return F_SEAL_SEAL; }
int CDMABuf_F_SEAL_SHRINK(void) { return F_SEAL_SHRINK; }
int CDMABuf_F_SEAL_GROW(void) { return F_SEAL_GROW; }
int CDMABuf_F_SEAL_WRITE(void) { return F_SEAL_WRITE; }
int CDMABuf_F_SEAL_FUTURE_WRITE(void) { return F_SEAL_FUTURE_WRITE; }

size_t CDMABuf_cmsg_space_for_fds(unsigned int count)
{
	return CMSG_SPACE(count * sizeof(int));
}

/* A control buffer for the most fds one message carries, aligned for cmsghdr. */
union control_buffer {
	char bytes[CMSG_SPACE(CDMABUF_SCM_MAX_FD * sizeof(int))];
	struct cmsghdr align;
};

long CDMABuf_send_with_fds(int socket, const void *bytes, size_t length, const int *fds, unsigned int count,
			   int flags)
{
	struct iovec iov = { .iov_base = (void *)bytes, .iov_len = length };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	union control_buffer control;
	struct cmsghdr *cmsg;

	if (count > CDMABUF_SCM_MAX_FD) {
		errno = EINVAL;
		return -1;
	}
	if (count) {
		msg.msg_control = control.bytes;
		msg.msg_controllen = CMSG_SPACE(count * sizeof(int));
		/*
		 * The kernel reads no padding, but no stack bytes leave the
		 * process: the last word, which holds any, is zeroed before
		 * anything goes in. Constant sizes keep one fd free of libc calls.
		 */
		memset(control.bytes + msg.msg_controllen - sizeof(uint64_t), 0, sizeof(uint64_t));
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(count * sizeof(int));
		if (count == 1)
			memcpy(CMSG_DATA(cmsg), fds, sizeof(int));
		else
			memcpy(CMSG_DATA(cmsg), fds, count * sizeof(int));
	}
	return CDMABuf_sendmsg(socket, &msg, MSG_NOSIGNAL | flags);
}

long CDMABuf_receive_with_fds(int socket, void *bytes, size_t length, unsigned int room, int *fds,
			      unsigned int capacity, unsigned int *received, unsigned int *dropped, bool *truncated,
			      bool *control_truncated, int flags)
{
	struct iovec iov = { .iov_base = bytes, .iov_len = length };
	union control_buffer control;
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.bytes,
		.msg_controllen = CMSG_SPACE((room < CDMABUF_SCM_MAX_FD ? room : CDMABUF_SCM_MAX_FD) * sizeof(int)),
	};
	struct cmsghdr *cmsg;
	long result;

	*received = 0;
	*dropped = 0;
	*truncated = false;
	*control_truncated = false;
	result = CDMABuf_recvmsg(socket, &msg, MSG_CMSG_CLOEXEC | flags);
	if (result < 0)
		return result;
	*truncated = msg.msg_flags & MSG_TRUNC;
	*control_truncated = msg.msg_flags & MSG_CTRUNC;
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		size_t count, i;
		int fd;

		if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < count; i++) {
			/* CMSG_DATA need not be aligned for int */
			memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
			if (*received < capacity) {
				fds[(*received)++] = fd;
			} else {
				close(fd);
				(*dropped)++;
			}
		}
	}
	return result;
}

int CDMABuf_accept4(int socket, int flags)
{
	return accept4(socket, NULL, NULL, flags);
}

short CDMABuf_POLLRDHUP(void) { return POLLRDHUP; }
int CDMABuf_MSG_DONTWAIT(void) { return MSG_DONTWAIT; }
int CDMABuf_SOCK_SEQPACKET(void) { return SOCK_SEQPACKET; }
int CDMABuf_SOCK_CLOEXEC(void) { return SOCK_CLOEXEC; }
#endif /* __linux__ */
