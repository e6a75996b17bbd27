/* SPDX-License-Identifier: MIT */
/*
 * sw_sync: a software fence timeline for testing, at
 * /sys/kernel/debug/sync/sw_sync on kernels built with CONFIG_SW_SYNC (our
 * debug kernel). Its ioctls are not part of any installed uapi header: the
 * kernel defines them in drivers/dma-buf/sw_sync.c, and its selftests repeat
 * them in tools/testing/selftests/sync/sw_sync.h. They are typed once here, as
 * the kernel has them, and nowhere else.
 */
#ifndef CDMABUF_SW_SYNC_H
#define CDMABUF_SW_SYNC_H

#include <linux/ioctl.h>
#include <linux/types.h>

struct sw_sync_create_fence_data {
	__u32 value;
	char name[32];
	__s32 fence; /* fd of the new sync_file, out */
};

#define SW_SYNC_IOC_MAGIC 'W'
#define SW_SYNC_IOC_CREATE_FENCE _IOWR(SW_SYNC_IOC_MAGIC, 0, struct sw_sync_create_fence_data)
#define SW_SYNC_IOC_INC _IOW(SW_SYNC_IOC_MAGIC, 1, __u32)

#endif /* CDMABUF_SW_SYNC_H */
