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

/* KMS, for the display target. */
static inline unsigned long CDMABufDRM_DRM_IOCTL_GET_CAP(void) { return DRM_IOCTL_GET_CAP; }
static inline unsigned long CDMABufDRM_DRM_IOCTL_SET_CLIENT_CAP(void) { return DRM_IOCTL_SET_CLIENT_CAP; }
static inline unsigned long CDMABufDRM_DRM_IOCTL_MODE_GETRESOURCES(void) { return DRM_IOCTL_MODE_GETRESOURCES; }
static inline unsigned long CDMABufDRM_DRM_IOCTL_MODE_GETENCODER(void) { return DRM_IOCTL_MODE_GETENCODER; }
static inline unsigned long CDMABufDRM_DRM_IOCTL_MODE_GETCONNECTOR(void) { return DRM_IOCTL_MODE_GETCONNECTOR; }
static inline unsigned long CDMABufDRM_DRM_IOCTL_MODE_GETPROPERTY(void) { return DRM_IOCTL_MODE_GETPROPERTY; }
static inline unsigned long CDMABufDRM_DRM_IOCTL_MODE_GETPROPBLOB(void) { return DRM_IOCTL_MODE_GETPROPBLOB; }
static inline unsigned long CDMABufDRM_DRM_IOCTL_MODE_RMFB(void) { return DRM_IOCTL_MODE_RMFB; }
static inline unsigned long CDMABufDRM_DRM_IOCTL_MODE_GETPLANERESOURCES(void) { return DRM_IOCTL_MODE_GETPLANERESOURCES; }
static inline unsigned long CDMABufDRM_DRM_IOCTL_MODE_GETPLANE(void) { return DRM_IOCTL_MODE_GETPLANE; }
static inline unsigned long CDMABufDRM_DRM_IOCTL_MODE_ADDFB2(void) { return DRM_IOCTL_MODE_ADDFB2; }
static inline unsigned long CDMABufDRM_DRM_IOCTL_MODE_OBJ_GETPROPERTIES(void) { return DRM_IOCTL_MODE_OBJ_GETPROPERTIES; }
static inline unsigned long CDMABufDRM_DRM_IOCTL_MODE_ATOMIC(void) { return DRM_IOCTL_MODE_ATOMIC; }
static inline unsigned long CDMABufDRM_DRM_IOCTL_MODE_CREATEPROPBLOB(void) { return DRM_IOCTL_MODE_CREATEPROPBLOB; }
static inline unsigned long CDMABufDRM_DRM_IOCTL_MODE_DESTROYPROPBLOB(void) { return DRM_IOCTL_MODE_DESTROYPROPBLOB; }
static inline unsigned long long CDMABufDRM_DRM_CAP_ADDFB2_MODIFIERS(void) { return DRM_CAP_ADDFB2_MODIFIERS; }
static inline unsigned long long CDMABufDRM_DRM_CAP_CRTC_IN_VBLANK_EVENT(void) { return DRM_CAP_CRTC_IN_VBLANK_EVENT; }
static inline unsigned long long CDMABufDRM_DRM_CLIENT_CAP_UNIVERSAL_PLANES(void) { return DRM_CLIENT_CAP_UNIVERSAL_PLANES; }
static inline unsigned long long CDMABufDRM_DRM_CLIENT_CAP_ATOMIC(void) { return DRM_CLIENT_CAP_ATOMIC; }
static inline unsigned long long CDMABufDRM_DRM_CLIENT_CAP_WRITEBACK_CONNECTORS(void) { return DRM_CLIENT_CAP_WRITEBACK_CONNECTORS; }
static inline unsigned int CDMABufDRM_DRM_EVENT_FLIP_COMPLETE(void) { return DRM_EVENT_FLIP_COMPLETE; }
static inline unsigned int CDMABufDRM_DRM_MODE_TYPE_PREFERRED(void) { return DRM_MODE_TYPE_PREFERRED; }
static inline unsigned int CDMABufDRM_DRM_MODE_CONNECTOR_WRITEBACK(void) { return DRM_MODE_CONNECTOR_WRITEBACK; }
static inline unsigned int CDMABufDRM_DRM_MODE_OBJECT_CRTC(void) { return DRM_MODE_OBJECT_CRTC; }
static inline unsigned int CDMABufDRM_DRM_MODE_OBJECT_CONNECTOR(void) { return DRM_MODE_OBJECT_CONNECTOR; }
static inline unsigned int CDMABufDRM_DRM_MODE_OBJECT_PLANE(void) { return DRM_MODE_OBJECT_PLANE; }
static inline unsigned int CDMABufDRM_DRM_MODE_PROP_RANGE(void) { return DRM_MODE_PROP_RANGE; }
static inline unsigned int CDMABufDRM_DRM_MODE_PROP_ENUM(void) { return DRM_MODE_PROP_ENUM; }
static inline unsigned int CDMABufDRM_DRM_MODE_PROP_BLOB(void) { return DRM_MODE_PROP_BLOB; }
static inline unsigned int CDMABufDRM_DRM_MODE_PROP_BITMASK(void) { return DRM_MODE_PROP_BITMASK; }
static inline unsigned int CDMABufDRM_DRM_MODE_FB_MODIFIERS(void) { return DRM_MODE_FB_MODIFIERS; }
static inline unsigned int CDMABufDRM_DRM_MODE_PAGE_FLIP_EVENT(void) { return DRM_MODE_PAGE_FLIP_EVENT; }
static inline unsigned int CDMABufDRM_DRM_MODE_ATOMIC_TEST_ONLY(void) { return DRM_MODE_ATOMIC_TEST_ONLY; }
static inline unsigned int CDMABufDRM_DRM_MODE_ATOMIC_NONBLOCK(void) { return DRM_MODE_ATOMIC_NONBLOCK; }
static inline unsigned int CDMABufDRM_DRM_MODE_ATOMIC_ALLOW_MODESET(void) { return DRM_MODE_ATOMIC_ALLOW_MODESET; }
static inline unsigned int CDMABufDRM_FORMAT_BLOB_CURRENT(void) { return FORMAT_BLOB_CURRENT; }

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
