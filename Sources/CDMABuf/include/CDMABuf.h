/* SPDX-License-Identifier: MIT */
/*
 * The kernel uapi the core DMABuf target needs, through the C preprocessor:
 * linux-libc-dev headers only. Swift cannot import function-like macros such
 * as _IOWR, so every ioctl number is re-exported here as a function with the
 * macro's own name, prefixed CDMABuf_. Structs come straight from the uapi
 * headers. Nothing here is typed by hand.
 */
#ifndef CDMABUF_H
#define CDMABUF_H

#include <fcntl.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/magic.h>
#include <linux/memfd.h>
#include <linux/sync_file.h>
#include <linux/udmabuf.h>
#include <linux/videodev2.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>

#include "CDMABufSWSync.h"

/* dma-buf core */
static inline unsigned long CDMABuf_DMA_BUF_IOCTL_SYNC(void) { return DMA_BUF_IOCTL_SYNC; }
static inline unsigned long CDMABuf_DMA_BUF_SET_NAME(void) { return DMA_BUF_SET_NAME; }
static inline unsigned long long CDMABuf_DMA_BUF_SYNC_READ(void) { return DMA_BUF_SYNC_READ; }
static inline unsigned long long CDMABuf_DMA_BUF_SYNC_WRITE(void) { return DMA_BUF_SYNC_WRITE; }
static inline unsigned long long CDMABuf_DMA_BUF_SYNC_START(void) { return DMA_BUF_SYNC_START; }
static inline unsigned long long CDMABuf_DMA_BUF_SYNC_END(void) { return DMA_BUF_SYNC_END; }
static inline unsigned long long CDMABuf_DMA_BUF_SYNC_VALID_FLAGS_MASK(void) { return DMA_BUF_SYNC_VALID_FLAGS_MASK; }

/*
 * ioctl() with a pointer argument, inline: Swift reaches ioctl() directly, not
 * through the Glibc overlay's wrapper (a SYNC pair, the whole of CPU access,
 * is two of these).
 */
static inline int CDMABuf_ioctl(int fd, unsigned long request, void *arg)
{
	return ioctl(fd, request, arg);
}
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

/* sw_sync, the debug-only software timeline (CDMABufSWSync.h) */
static inline unsigned long CDMABuf_SW_SYNC_IOC_CREATE_FENCE(void) { return SW_SYNC_IOC_CREATE_FENCE; }
static inline unsigned long CDMABuf_SW_SYNC_IOC_INC(void) { return SW_SYNC_IOC_INC; }

/*
 * fd passing over a Unix socket (SCM_RIGHTS). The CMSG_* macros cannot be
 * imported, so the control buffer is built and walked here.
 */
/** Bytes of control buffer that carry `count` fds. */
size_t CDMABuf_cmsg_space_for_fds(unsigned int count);
/**
 * sendmsg(2) of `length` bytes with `count` fds as one SCM_RIGHTS message
 * (none if `count` is 0). `control` must hold CDMABuf_cmsg_space_for_fds(count)
 * bytes. Returns sendmsg's result.
 */
long CDMABuf_send_with_fds(int socket, const void *bytes, size_t length, const int *fds, unsigned int count,
			   void *control, int flags);
/**
 * recvmsg(2) into `bytes` with a control buffer of `control_length` bytes.
 * Every fd that arrived in any SCM_RIGHTS message is stored in `fds` (at most
 * `capacity`; more are closed and counted in *dropped), their number in
 * *received; *message_flags gets msg_flags (MSG_TRUNC, MSG_CTRUNC). Returns
 * recvmsg's result. On failure no fd arrived.
 */
long CDMABuf_receive_with_fds(int socket, void *bytes, size_t length, void *control, size_t control_length, int *fds,
			      unsigned int capacity, unsigned int *received, unsigned int *dropped, int *message_flags,
			      int flags);
/** accept4(2) without the peer's address. */
int CDMABuf_accept4(int socket, int flags);
/** POLLRDHUP: the peer shut down its writing half (or closed). */
short CDMABuf_POLLRDHUP(void);
int CDMABuf_MSG_CMSG_CLOEXEC(void);
int CDMABuf_MSG_NOSIGNAL(void);
int CDMABuf_MSG_DONTWAIT(void);
int CDMABuf_MSG_TRUNC(void);
int CDMABuf_MSG_CTRUNC(void);
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

/* glibc functions Swift's Glibc module hides behind _GNU_SOURCE (CDMABuf.c) */
/** The symbolic name of an errno value ("ENOENT"), or NULL if unknown. */
const char *CDMABuf_errno_name(int errnum);
/** memfd_create(2). */
int CDMABuf_memfd_create(const char *name, unsigned int flags);
/** fcntl(fd, cmd, arg) with an int argument (F_ADD_SEALS, F_GET_SEALS). */
int CDMABuf_fcntl_int(int fd, int cmd, int arg);

#endif /* CDMABUF_H */
