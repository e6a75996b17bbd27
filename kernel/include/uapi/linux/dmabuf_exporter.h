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

/*
 * Bytes of the device's one shared buffer that read(), write() and lseek()
 * reach, and its initial text. The buffer itself, as a dma-buf, is one page.
 */
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
 * How DMABUF_EXPORTER_IOC_IMPORT read the buffer (its @read_via). Only
 * VIA_VMAP is returned now: an exporter without vmap gets EOPNOTSUPP.
 */
#define DMABUF_EXPORTER_IMPORT_VIA_VMAP	1	/* dma_buf_vmap() */
#define DMABUF_EXPORTER_IMPORT_VIA_DMA	2	/* no longer returned */

/**
 * struct dmabuf_exporter_import - argument of DMABUF_EXPORTER_IOC_IMPORT
 * @fd:		in: the dma-buf to import, from any exporter
 * @flags:	in: must be 0 (room for future import flags)
 * @offset:	in: first byte to read; must be below the buffer's size
 * @length:	in: bytes to read from @offset; 0 reads to the end. The range
 *		must lie within the buffer
 * @size:	out: the buffer's size in bytes
 * @crc32c:	out: CRC-32C (Castagnoli; "123456789" gives 0xe3069283) of
 *		the range, as the kernel read it
 * @nents:	out: DMA segments in the module's own mapping of the buffer
 *		(the importer's sg_table, after DMA mapping)
 * @exp_name:	out: the exporter's name (dma_buf->exp_name), NUL-terminated
 *		and cut to 31 bytes; the bytes after the NUL are 0
 * @read_via:	out: DMABUF_EXPORTER_IMPORT_VIA_VMAP
 * @reserved0:	must be 0
 * @reserved:	must be 0
 *
 * Out fields are ignored on input and written only on success.
 */
struct dmabuf_exporter_import {
	__s32 fd;
	__u32 flags;
	__u64 offset;
	__u64 length;
	__u64 size;
	__u32 crc32c;
	__u32 nents;
	char exp_name[DMABUF_EXPORTER_NAME_LEN];
	__u32 read_via;
	__u32 reserved0;
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
#define DMABUF_EXPORTER_IOC_IMPORT \
	_IOWR(DMABUF_EXPORTER_IOC_MAGIC, 0x02, struct dmabuf_exporter_import)

#endif /* _UAPI_LINUX_DMABUF_EXPORTER_H */
