/* SPDX-License-Identifier: MIT */
/*
 * The core's uapi that installed headers may lack, typed once here as the
 * kernel has it, each block behind #ifndef so that headers that have it win.
 * kernel/tests/uapi-check compares every number, size and offset here with
 * the kernel's headers.
 */
#ifndef CDMABUF_UAPI_H
#define CDMABUF_UAPI_H

#include <linux/ioctl.h>
#include <linux/types.h>

/*
 * dma-buf's sync_file export and import (Linux 6.0, include/uapi/linux/
 * dma-buf.h): linux-libc-dev before 6.0 (Ubuntu 22.04 has 5.15) lacks them.
 * Where the running kernel lacks them too, the ioctls fail with ENOTTY.
 */
#ifndef DMA_BUF_IOCTL_EXPORT_SYNC_FILE
#ifndef DMA_BUF_BASE
#define DMA_BUF_BASE 'b'
#endif
struct dma_buf_export_sync_file {
	__u32 flags;
	__s32 fd;
};

struct dma_buf_import_sync_file {
	__u32 flags;
	__s32 fd;
};

#define DMA_BUF_IOCTL_EXPORT_SYNC_FILE _IOWR(DMA_BUF_BASE, 2, struct dma_buf_export_sync_file)
#define DMA_BUF_IOCTL_IMPORT_SYNC_FILE _IOW(DMA_BUF_BASE, 3, struct dma_buf_import_sync_file)
#endif /* DMA_BUF_IOCTL_EXPORT_SYNC_FILE */

/*
 * sw_sync: a software fence timeline for testing, at
 * /sys/kernel/debug/sync/sw_sync on kernels built with CONFIG_SW_SYNC (our
 * debug kernel). No installed uapi header has its ioctls: the kernel defines
 * them in drivers/dma-buf/sw_sync.c, and its selftests repeat them in
 * tools/testing/selftests/sync/sw_sync.h.
 */
#ifndef SW_SYNC_IOC_CREATE_FENCE
struct sw_sync_create_fence_data {
	__u32 value;
	char name[32];
	__s32 fence; /* fd of the new sync_file, out */
};

#define SW_SYNC_IOC_MAGIC 'W'
#define SW_SYNC_IOC_CREATE_FENCE _IOWR(SW_SYNC_IOC_MAGIC, 0, struct sw_sync_create_fence_data)
#define SW_SYNC_IOC_INC _IOW(SW_SYNC_IOC_MAGIC, 1, __u32)
#endif /* SW_SYNC_IOC_CREATE_FENCE */

#endif /* CDMABUF_UAPI_H */
