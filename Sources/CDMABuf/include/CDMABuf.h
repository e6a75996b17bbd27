/* SPDX-License-Identifier: MIT */
/*
 * The kernel uapi the core DMABuf target needs, through the C preprocessor:
 * linux-libc-dev headers only. Swift cannot import function-like macros such
 * as _IOWR, so every ioctl number is re-exported here as a function with the
 * macro's own name, prefixed CDMABuf_. Structs come straight from the uapi
 * headers; what older headers lack is typed once in CDMABufUAPI.h. Empty
 * where the kernel is not Linux, so that a package that also builds elsewhere
 * can depend on this one.
 */
#ifndef CDMABUF_H
#define CDMABUF_H

#ifdef __linux__

#include <errno.h>
#include <fcntl.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/magic.h>
#include <linux/memfd.h>
#include <linux/sync_file.h>
#include <linux/udmabuf.h>
#include <linux/videodev2.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "CDMABufUAPI.h"

/* dma-buf core */
static inline unsigned long CDMABuf_DMA_BUF_IOCTL_SYNC(void) { return DMA_BUF_IOCTL_SYNC; }
static inline unsigned long CDMABuf_DMA_BUF_SET_NAME(void) { return DMA_BUF_SET_NAME; }
static inline unsigned long long CDMABuf_DMA_BUF_SYNC_READ(void) { return DMA_BUF_SYNC_READ; }
static inline unsigned long long CDMABuf_DMA_BUF_SYNC_WRITE(void) { return DMA_BUF_SYNC_WRITE; }
static inline unsigned long long CDMABuf_DMA_BUF_SYNC_START(void) { return DMA_BUF_SYNC_START; }
static inline unsigned long long CDMABuf_DMA_BUF_SYNC_END(void) { return DMA_BUF_SYNC_END; }
static inline unsigned long long CDMABuf_DMA_BUF_SYNC_VALID_FLAGS_MASK(void) { return DMA_BUF_SYNC_VALID_FLAGS_MASK; }

/*
 * ioctl, fstat and fcntl as the library makes them. On x86-64 and arm64 they
 * are the system call instruction itself, inline, and errors come back as -1
 * with errno set, as from libc. Measured under TCG with a C loop in the VMs:
 * - a SYNC pair (the whole of CPU access) is two ioctls, and libc's wrapper
 *   with its PLT entry cost 50 ns of a 1.9 us pair;
 * - libc's fstat is fstatat(fd, "", AT_EMPTY_PATH), which Linux 6.1 handles
 *   as a path lookup: 20 us, against 1 us for the fstat system call (6.12
 *   has a fast path for it). Adopting a dma-buf fd, received or allocated,
 *   makes one;
 * - fcntl is inline too: the Glibc overlay's variadic wrapper is a Swift
 *   function around a C one, two calls for one system call;
 * - sendmsg, recvmsg and close, a channel's messages and every fd's end:
 *   each call into libc is a jump TCG cannot chain, and an fd round trip
 *   makes six of them.
 */
#if defined(__x86_64__) || defined(__aarch64__)
static inline long CDMABuf_syscall3(long number, long first, long second, long third)
{
#if defined(__x86_64__)
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"(number), "D"(first), "S"(second), "d"(third)
			 : "rcx", "r11", "memory");
	return ret;
#else
	register long x8 __asm__("x8") = number;
	register long x0 __asm__("x0") = first;
	register long x1 __asm__("x1") = second;
	register long x2 __asm__("x2") = third;

	__asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
	return x0;
#endif
}

/* A raw system call's result as libc gives it: -1 and errno for -4095..-1. */
static inline long CDMABuf_syscall_result(long ret)
{
	if (ret < 0 && ret > -4096) {
		errno = (int)-ret;
		return -1;
	}
	return ret;
}

static inline int CDMABuf_ioctl(int fd, unsigned long request, void *arg)
{
	return (int)CDMABuf_syscall_result(CDMABuf_syscall3(SYS_ioctl, fd, (long)request, (long)arg));
}

static inline int CDMABuf_fstat(int fd, struct stat *status)
{
	return (int)CDMABuf_syscall_result(CDMABuf_syscall3(SYS_fstat, fd, (long)status, 0));
}

/* fcntl with an int argument or none (F_GETFL, F_SETFD, F_DUPFD_CLOEXEC, the seals). */
static inline int CDMABuf_fcntl(int fd, int command, int argument)
{
	return (int)CDMABuf_syscall_result(CDMABuf_syscall3(SYS_fcntl, fd, command, argument));
}

static inline long CDMABuf_sendmsg(int socket, const struct msghdr *message, int flags)
{
	return CDMABuf_syscall_result(CDMABuf_syscall3(SYS_sendmsg, socket, (long)message, flags));
}

static inline long CDMABuf_recvmsg(int socket, struct msghdr *message, int flags)
{
	return CDMABuf_syscall_result(CDMABuf_syscall3(SYS_recvmsg, socket, (long)message, flags));
}

static inline int CDMABuf_close(int fd)
{
	return (int)CDMABuf_syscall_result(CDMABuf_syscall3(SYS_close, fd, 0, 0));
}
#else
static inline int CDMABuf_ioctl(int fd, unsigned long request, void *arg)
{
	return ioctl(fd, request, arg);
}

static inline int CDMABuf_fstat(int fd, struct stat *status)
{
	return fstat(fd, status);
}

static inline int CDMABuf_fcntl(int fd, int command, int argument)
{
	return fcntl(fd, command, argument);
}

static inline long CDMABuf_sendmsg(int socket, const struct msghdr *message, int flags)
{
	return sendmsg(socket, message, flags);
}

static inline long CDMABuf_recvmsg(int socket, struct msghdr *message, int flags)
{
	return recvmsg(socket, message, flags);
}

static inline int CDMABuf_close(int fd)
{
	return close(fd);
}
#endif

static inline unsigned long CDMABuf_DMA_BUF_IOCTL_EXPORT_SYNC_FILE(void) { return DMA_BUF_IOCTL_EXPORT_SYNC_FILE; }
static inline unsigned long CDMABuf_DMA_BUF_IOCTL_IMPORT_SYNC_FILE(void) { return DMA_BUF_IOCTL_IMPORT_SYNC_FILE; }
/* statfs f_type of every dma-buf fd */
static inline long CDMABuf_DMA_BUF_MAGIC(void) { return DMA_BUF_MAGIC; }

/* DMA heaps: /dev/dma_heap/<name> */
static inline unsigned long CDMABuf_DMA_HEAP_IOCTL_ALLOC(void) { return DMA_HEAP_IOCTL_ALLOC; }
static inline unsigned int CDMABuf_DMA_HEAP_VALID_FD_FLAGS(void) { return DMA_HEAP_VALID_FD_FLAGS; }
static inline unsigned long long CDMABuf_DMA_HEAP_VALID_HEAP_FLAGS(void) { return DMA_HEAP_VALID_HEAP_FLAGS; }

/* udmabuf: /dev/udmabuf turns memfd pages into a dma-buf */
static inline unsigned long CDMABuf_UDMABUF_CREATE(void) { return UDMABUF_CREATE; }
static inline unsigned long CDMABuf_UDMABUF_CREATE_LIST(void) { return UDMABUF_CREATE_LIST; }
static inline unsigned int CDMABuf_UDMABUF_FLAGS_CLOEXEC(void) { return UDMABUF_FLAGS_CLOEXEC; }
/** Bytes of a udmabuf_create_list header followed by `count` items. */
static inline unsigned long CDMABuf_udmabuf_create_list_size(unsigned int count)
{
	return sizeof(struct udmabuf_create_list) + count * sizeof(struct udmabuf_create_item);
}

/* sync_file: a fence as an fd */
static inline unsigned long CDMABuf_SYNC_IOC_MERGE(void) { return SYNC_IOC_MERGE; }
static inline unsigned long CDMABuf_SYNC_IOC_FILE_INFO(void) { return SYNC_IOC_FILE_INFO; }

/* sw_sync, the debug-only software timeline (CDMABufUAPI.h) */
static inline unsigned long CDMABuf_SW_SYNC_IOC_CREATE_FENCE(void) { return SW_SYNC_IOC_CREATE_FENCE; }
static inline unsigned long CDMABuf_SW_SYNC_IOC_INC(void) { return SW_SYNC_IOC_INC; }

/*
 * fd passing over a Unix socket (SCM_RIGHTS). The CMSG_* macros cannot be
 * imported, so the control buffer is built and walked here.
 */
/** The most fds one SCM_RIGHTS message carries (the kernel's SCM_MAX_FD). */
#define CDMABUF_SCM_MAX_FD 253
/** Bytes of control buffer that carry `count` fds. */
size_t CDMABuf_cmsg_space_for_fds(unsigned int count);
/**
 * sendmsg(2) of `length` bytes with `count` fds (at most CDMABUF_SCM_MAX_FD)
 * as one SCM_RIGHTS message (none if `count` is 0), with MSG_NOSIGNAL added to
 * `flags`: a dead peer is EPIPE, not SIGPIPE. Returns sendmsg's result.
 */
long CDMABuf_send_with_fds(int socket, const void *bytes, size_t length, const int *fds, unsigned int count,
			   int flags);
/**
 * recvmsg(2) into `bytes` with room for `room` fds in the control buffer and
 * MSG_CMSG_CLOEXEC added to `flags`. Every fd that arrived in any SCM_RIGHTS
 * message is stored in `fds` (at most `capacity`; more are closed and counted
 * in *dropped), their number in *received; *truncated and *control_truncated
 * say MSG_TRUNC and MSG_CTRUNC. Returns recvmsg's result. On failure no fd
 * arrived. The flags and the control buffer are settled here, so that a
 * message is one call from Swift (it was up to six).
 */
long CDMABuf_receive_with_fds(int socket, void *bytes, size_t length, unsigned int room, int *fds,
			      unsigned int capacity, unsigned int *received, unsigned int *dropped, bool *truncated,
			      bool *control_truncated, int flags);
/** accept4(2) without the peer's address. */
int CDMABuf_accept4(int socket, int flags);
/** POLLRDHUP: the peer shut down its writing half (or closed). */
short CDMABuf_POLLRDHUP(void);
int CDMABuf_MSG_DONTWAIT(void);
int CDMABuf_SOCK_SEQPACKET(void);
int CDMABuf_SOCK_CLOEXEC(void);
/* V4L2: only what dma-buf streaming needs (DMABufV4L2). The structs
 * (v4l2_capability, v4l2_format, v4l2_buffer, ...) come straight from
 * <linux/videodev2.h>; its enums' values are returned here as plain numbers. */
static inline unsigned long CDMABuf_VIDIOC_QUERYCAP(void) { return VIDIOC_QUERYCAP; }
static inline unsigned long CDMABuf_VIDIOC_ENUM_FMT(void) { return VIDIOC_ENUM_FMT; }
static inline unsigned long CDMABuf_VIDIOC_G_FMT(void) { return VIDIOC_G_FMT; }
static inline unsigned long CDMABuf_VIDIOC_S_FMT(void) { return VIDIOC_S_FMT; }
static inline unsigned long CDMABuf_VIDIOC_REQBUFS(void) { return VIDIOC_REQBUFS; }
static inline unsigned long CDMABuf_VIDIOC_QUERYBUF(void) { return VIDIOC_QUERYBUF; }
static inline unsigned long CDMABuf_VIDIOC_QBUF(void) { return VIDIOC_QBUF; }
static inline unsigned long CDMABuf_VIDIOC_DQBUF(void) { return VIDIOC_DQBUF; }
static inline unsigned long CDMABuf_VIDIOC_EXPBUF(void) { return VIDIOC_EXPBUF; }
static inline unsigned long CDMABuf_VIDIOC_STREAMON(void) { return VIDIOC_STREAMON; }
static inline unsigned long CDMABuf_VIDIOC_STREAMOFF(void) { return VIDIOC_STREAMOFF; }
static inline unsigned long CDMABuf_VIDIOC_QUERYCTRL(void) { return VIDIOC_QUERYCTRL; }
static inline unsigned long CDMABuf_VIDIOC_S_CTRL(void) { return VIDIOC_S_CTRL; }
static inline unsigned long CDMABuf_VIDIOC_G_CTRL(void) { return VIDIOC_G_CTRL; }
static inline unsigned int CDMABuf_V4L2_CAP_VIDEO_CAPTURE(void) { return V4L2_CAP_VIDEO_CAPTURE; }
static inline unsigned int CDMABuf_V4L2_CAP_VIDEO_OUTPUT(void) { return V4L2_CAP_VIDEO_OUTPUT; }
static inline unsigned int CDMABuf_V4L2_CAP_STREAMING(void) { return V4L2_CAP_STREAMING; }
static inline unsigned int CDMABuf_V4L2_CAP_DEVICE_CAPS(void) { return V4L2_CAP_DEVICE_CAPS; }
static inline unsigned int CDMABuf_V4L2_BUF_TYPE_VIDEO_CAPTURE(void) { return V4L2_BUF_TYPE_VIDEO_CAPTURE; }
static inline unsigned int CDMABuf_V4L2_MEMORY_MMAP(void) { return V4L2_MEMORY_MMAP; }
static inline unsigned int CDMABuf_V4L2_MEMORY_DMABUF(void) { return V4L2_MEMORY_DMABUF; }
static inline unsigned int CDMABuf_V4L2_FIELD_NONE(void) { return V4L2_FIELD_NONE; }
static inline unsigned int CDMABuf_V4L2_BUF_FLAG_ERROR(void) { return V4L2_BUF_FLAG_ERROR; }
static inline unsigned int CDMABuf_V4L2_BUF_FLAG_TIMESTAMP_MASK(void) { return V4L2_BUF_FLAG_TIMESTAMP_MASK; }
static inline unsigned int CDMABuf_V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC(void) { return V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC; }
static inline unsigned int CDMABuf_V4L2_CTRL_FLAG_NEXT_CTRL(void) { return V4L2_CTRL_FLAG_NEXT_CTRL; }
static inline unsigned int CDMABuf_V4L2_CTRL_FLAG_DISABLED(void) { return V4L2_CTRL_FLAG_DISABLED; }
static inline unsigned int CDMABuf_V4L2_CTRL_TYPE_CTRL_CLASS(void) { return V4L2_CTRL_TYPE_CTRL_CLASS; }
static inline unsigned int CDMABuf_V4L2_PIX_FMT_YUYV(void) { return V4L2_PIX_FMT_YUYV; }
static inline unsigned int CDMABuf_V4L2_PIX_FMT_RGB24(void) { return V4L2_PIX_FMT_RGB24; }

/* memfd and its seals (udmabuf wants F_SEAL_SHRINK and refuses the write
 * seals): glibc defines them under _GNU_SOURCE only, so CDMABuf.c returns them. */
/** O_PATH (stat a node one may not open). */
int CDMABuf_O_PATH(void);
unsigned int CDMABuf_MFD_CLOEXEC(void);
unsigned int CDMABuf_MFD_ALLOW_SEALING(void);
int CDMABuf_F_ADD_SEALS(void);
int CDMABuf_F_GET_SEALS(void);
int CDMABuf_F_SEAL_SEAL(void);
int CDMABuf_F_SEAL_SHRINK(void);
int CDMABuf_F_SEAL_GROW(void);
int CDMABuf_F_SEAL_WRITE(void);
int CDMABuf_F_SEAL_FUTURE_WRITE(void);
/* statfs f_type of memfds: shmem, or hugetlbfs for MFD_HUGETLB */
static inline long CDMABuf_TMPFS_MAGIC(void) { return TMPFS_MAGIC; }
static inline long CDMABuf_HUGETLBFS_MAGIC(void) { return HUGETLBFS_MAGIC; }

/* libc functions Swift's Glibc module hides behind _GNU_SOURCE (CDMABuf.c) */
/** The symbolic name of an errno value ("ENOENT"), or NULL if unknown. */
const char *CDMABuf_errno_name(int errnum);
/** memfd_create(2). */
int CDMABuf_memfd_create(const char *name, unsigned int flags);

#endif /* __linux__ */

#endif /* CDMABUF_H */
