/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "CDMABuf.h"

const char *CDMABuf_errno_name(int errnum)
{
	return strerrorname_np(errnum);
}

int CDMABuf_memfd_create(const char *name, unsigned int flags)
{
	return memfd_create(name, flags);
}

int CDMABuf_fcntl_int(int fd, int cmd, int arg)
{
	return fcntl(fd, cmd, arg);
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

long CDMABuf_send_with_fds(int socket, const void *bytes, size_t length, const int *fds, unsigned int count,
			   void *control, int flags)
{
	struct iovec iov = { .iov_base = (void *)bytes, .iov_len = length };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cmsg;

	if (count) {
		msg.msg_control = control;
		msg.msg_controllen = CMSG_SPACE(count * sizeof(int));
		memset(control, 0, msg.msg_controllen);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(count * sizeof(int));
		memcpy(CMSG_DATA(cmsg), fds, count * sizeof(int));
	}
	return sendmsg(socket, &msg, flags);
}

long CDMABuf_receive_with_fds(int socket, void *bytes, size_t length, void *control, size_t control_length, int *fds,
			      unsigned int capacity, unsigned int *received, unsigned int *dropped, int *message_flags,
			      int flags)
{
	struct iovec iov = { .iov_base = bytes, .iov_len = length };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control_length ? control : NULL,
		.msg_controllen = control_length,
	};
	struct cmsghdr *cmsg;
	long result;

	*received = 0;
	*dropped = 0;
	*message_flags = 0;
	result = recvmsg(socket, &msg, flags);
	if (result < 0)
		return result;
	*message_flags = msg.msg_flags;
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
int CDMABuf_MSG_CMSG_CLOEXEC(void) { return MSG_CMSG_CLOEXEC; }
int CDMABuf_MSG_NOSIGNAL(void) { return MSG_NOSIGNAL; }
int CDMABuf_MSG_DONTWAIT(void) { return MSG_DONTWAIT; }
int CDMABuf_MSG_TRUNC(void) { return MSG_TRUNC; }
int CDMABuf_MSG_CTRUNC(void) { return MSG_CTRUNC; }
int CDMABuf_SOCK_SEQPACKET(void) { return SOCK_SEQPACKET; }
int CDMABuf_SOCK_CLOEXEC(void) { return SOCK_CLOEXEC; }
