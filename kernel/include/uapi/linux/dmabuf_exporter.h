/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * dmabuf_exporter: a misc device that exports page-backed kernel memory as
 * dma-bufs. This header is the one definition of its ABI.
 */
#ifndef _UAPI_LINUX_DMABUF_EXPORTER_H
#define _UAPI_LINUX_DMABUF_EXPORTER_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define DMABUF_EXPORTER_DEVICE_NAME	"dmabuf_exporter"

/* Size and initial text of the device's one shared buffer. */
#define DMABUF_EXPORTER_SHARED_SIZE	4096
#define DMABUF_EXPORTER_SHARED_TEXT	"Data inited by kernel!"

/* Longest dma-buf name, including the terminating NUL (DMA_BUF_NAME_LEN). */
#define DMABUF_EXPORTER_NAME_LEN	32

/**
 * struct dmabuf_exporter_alloc - argument of DMABUF_EXPORTER_IOC_ALLOC
 * @size:	in: bytes wanted, rounded up to whole pages; must not be 0
 * @fd_flags:	in: O_RDWR or O_RDONLY, optionally with O_CLOEXEC
 * @fd:		in: 0 or -1; out: the new dma-buf fd
 * @flags:	in: must be 0 (room for future allocation flags)
 * @name:	in: optional NUL-terminated name given to the dma-buf; the
 *		bytes after the NUL must be 0
 * @reserved:	must be 0
 */
struct dmabuf_exporter_alloc {
	__u64 size;
	__u32 fd_flags;
	__s32 fd;
	__u64 flags;
	char name[DMABUF_EXPORTER_NAME_LEN];
	__u64 reserved[4];
};

/*
 * The seed article's ioctl, kept for compatibility: a new fd for the shared
 * buffer. Its magic 'a' collides with other drivers, so new ioctls use
 * DMABUF_EXPORTER_IOC_MAGIC.
 */
#define DMABUF_EXPORTER_IOC_GET_SHARED_FD	_IOR('a', 1, int)

#define DMABUF_EXPORTER_IOC_MAGIC	0xD8
#define DMABUF_EXPORTER_IOC_ALLOC \
	_IOWR(DMABUF_EXPORTER_IOC_MAGIC, 0x01, struct dmabuf_exporter_alloc)

#endif /* _UAPI_LINUX_DMABUF_EXPORTER_H */
