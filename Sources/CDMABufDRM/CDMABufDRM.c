/* SPDX-License-Identifier: MIT */
#ifdef __linux__
#include <string.h>
#include <sys/ioctl.h>

#include "CDMABufDRM.h"

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
#endif /* __linux__ */
