/* SPDX-License-Identifier: MIT */
/*
 * The kernel's DRM uapi (CDMABufDRMUAPI.h: what DRMDevice uses of drm.h,
 * drm_mode.h and vgem_drm.h). Ioctl numbers as functions, as in CDMABuf.h.
 * Empty where the kernel is not Linux, so that a package that also builds
 * elsewhere can depend on this one.
 */
#ifndef CDMABUF_DRM_H
#define CDMABUF_DRM_H

#ifdef __linux__
#include "CDMABufDRMUAPI.h"

static inline unsigned long CDMABufDRM_DRM_IOCTL_VERSION(void) { return DRM_IOCTL_VERSION; }
static inline unsigned long CDMABufDRM_DRM_IOCTL_GEM_CLOSE(void) { return DRM_IOCTL_GEM_CLOSE; }
static inline unsigned long CDMABufDRM_DRM_IOCTL_MODE_CREATE_DUMB(void) { return DRM_IOCTL_MODE_CREATE_DUMB; }
static inline unsigned long CDMABufDRM_DRM_IOCTL_PRIME_HANDLE_TO_FD(void) { return DRM_IOCTL_PRIME_HANDLE_TO_FD; }
static inline unsigned long CDMABufDRM_DRM_IOCTL_PRIME_FD_TO_HANDLE(void) { return DRM_IOCTL_PRIME_FD_TO_HANDLE; }
static inline unsigned int CDMABufDRM_DRM_CLOEXEC(void) { return DRM_CLOEXEC; }
static inline unsigned int CDMABufDRM_DRM_RDWR(void) { return DRM_RDWR; }

/*
 * vgem's fences (DRM_IOCTL_VGEM_FENCE_ATTACH/SIGNAL), in CDMABufDRM.c. Both
 * return the ioctl's result, -1 with errno.
 */
/** Attaches an unsignalled fence to GEM object `handle`, exclusive if `write`. */
int CDMABufDRM_vgem_fence_attach(int fd, unsigned int handle, int write, unsigned int *fence);
/** Signals a fence vgem_fence_attach made. */
int CDMABufDRM_vgem_fence_signal(int fd, unsigned int fence);
#endif /* __linux__ */

#endif /* CDMABUF_DRM_H */
