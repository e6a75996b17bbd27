/* SPDX-License-Identifier: MIT */
/*
 * The few DRM and vgem uapi definitions the DRM target uses, typed once here
 * as the kernel has them (include/uapi/drm/drm.h, drm_mode.h, vgem_drm.h).
 * linux-libc-dev on Debian and Ubuntu ships no drm/ headers, and libdrm-dev
 * no vgem_drm.h; depending on libdrm would also link libdrm.so into every
 * program for five structs. Each block stands behind the kernel header's own
 * include guard, so a file that includes that header first uses its
 * definitions. kernel/tests/uapi-check compares every number, size and
 * offset here with the kernel's headers.
 */
#ifndef CDMABUF_DRM_UAPI_H
#define CDMABUF_DRM_UAPI_H

#include <fcntl.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#ifndef _DRM_H_
#define DRM_IOCTL_BASE 'd'
#define DRM_IOW(nr, type) _IOW(DRM_IOCTL_BASE, nr, type)
#define DRM_IOWR(nr, type) _IOWR(DRM_IOCTL_BASE, nr, type)
#define DRM_COMMAND_BASE 0x40

struct drm_version {
	int version_major;
	int version_minor;
	int version_patchlevel;
	__kernel_size_t name_len;
	char *name;
	__kernel_size_t date_len;
	char *date;
	__kernel_size_t desc_len;
	char *desc;
};

struct drm_gem_close {
	__u32 handle;
	__u32 pad;
};

#define DRM_RDWR O_RDWR
#define DRM_CLOEXEC O_CLOEXEC
struct drm_prime_handle {
	__u32 handle;
	__u32 flags;
	__s32 fd;
};

#define DRM_IOCTL_VERSION DRM_IOWR(0x00, struct drm_version)
#define DRM_IOCTL_GEM_CLOSE DRM_IOW(0x09, struct drm_gem_close)
#define DRM_IOCTL_PRIME_HANDLE_TO_FD DRM_IOWR(0x2d, struct drm_prime_handle)
#define DRM_IOCTL_PRIME_FD_TO_HANDLE DRM_IOWR(0x2e, struct drm_prime_handle)
#endif /* _DRM_H_ */

#ifndef _DRM_MODE_H
struct drm_mode_create_dumb {
	__u32 height;
	__u32 width;
	__u32 bpp;
	__u32 flags;
	__u32 handle;
	__u32 pitch;
	__u64 size;
};
#endif /* _DRM_MODE_H */
#ifndef DRM_IOCTL_MODE_CREATE_DUMB
#define DRM_IOCTL_MODE_CREATE_DUMB DRM_IOWR(0xB2, struct drm_mode_create_dumb)
#endif

#ifndef _UAPI_VGEM_DRM_H_
#define DRM_VGEM_FENCE_ATTACH 0x1
#define DRM_VGEM_FENCE_SIGNAL 0x2
#define DRM_IOCTL_VGEM_FENCE_ATTACH DRM_IOWR(DRM_COMMAND_BASE + DRM_VGEM_FENCE_ATTACH, struct drm_vgem_fence_attach)
#define DRM_IOCTL_VGEM_FENCE_SIGNAL DRM_IOW(DRM_COMMAND_BASE + DRM_VGEM_FENCE_SIGNAL, struct drm_vgem_fence_signal)

struct drm_vgem_fence_attach {
	__u32 handle;
	__u32 flags;
#define VGEM_FENCE_WRITE 0x1
	__u32 out_fence;
	__u32 pad;
};

struct drm_vgem_fence_signal {
	__u32 fence;
	__u32 flags;
};
#endif /* _UAPI_VGEM_DRM_H_ */

#endif /* CDMABUF_DRM_UAPI_H */
