/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>

#include "CDMABufDRM.h"

/*
 * vgem's uapi is in the kernel headers (include/uapi/drm/vgem_drm.h), not in
 * libdrm; Package.swift puts the newest installed one on this file's include
 * path. Its own #include "drm.h" is then a no-op: libdrm's drm.h, included
 * above, has the same include guard and the same content.
 */
#if __has_include(<drm/vgem_drm.h>)
#include <drm/vgem_drm.h>
#else
#error "vgem_drm.h not found under /usr/src/linux-headers-*/include/uapi: install linux-headers-amd64"
#endif

int CDMABufDRM_vgem_fence_attach(int fd, unsigned int handle, int write, unsigned int *fence)
{
	struct drm_vgem_fence_attach attach;
	int result;

	memset(&attach, 0, sizeof(attach));
	attach.handle = handle;
	attach.flags = write ? VGEM_FENCE_WRITE : 0;
	result = ioctl(fd, DRM_IOCTL_VGEM_FENCE_ATTACH, &attach);
	if (result == 0)
		*fence = attach.out_fence;
	return result;
}

int CDMABufDRM_vgem_fence_signal(int fd, unsigned int fence)
{
	struct drm_vgem_fence_signal signal;

	memset(&signal, 0, sizeof(signal));
	signal.fence = fence;
	return ioctl(fd, DRM_IOCTL_VGEM_FENCE_SIGNAL, &signal);
}
