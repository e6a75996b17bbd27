/* SPDX-License-Identifier: GPL-2.0 */
/* vgem as a dma-buf importer for the tests: find it, import, re-export. */
#ifndef DMABUF_TESTS_VGEM_H
#define DMABUF_TESTS_VGEM_H

#include <glob.h>

#include <drm/drm.h>
#include <drm/vgem_drm.h>

#include "harness.h"

/* The DRM card whose driver is "vgem", or -1 when there is none. */
static inline int vgem_open(void)
{
	glob_t g;
	size_t i;
	int fd = -1;

	if (glob("/dev/dri/card*", 0, NULL, &g))
		return -1;
	for (i = 0; i < g.gl_pathc && fd < 0; i++) {
		struct drm_version v;
		char name[16] = "";

		fd = open(g.gl_pathv[i], O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		memset(&v, 0, sizeof(v));
		v.name = name;
		v.name_len = sizeof(name) - 1;
		if (ioctl(fd, DRM_IOCTL_VERSION, &v) || v.name_len != 4 ||
		    memcmp(name, "vgem", 4)) {
			close(fd);
			fd = -1;
		}
	}
	globfree(&g);
	return fd;
}

#define must_vgem_open() ({						\
	int fd_ = vgem_open();						\
	CHECKF(fd_ >= 0, "%s", "no vgem card in /dev/dri (modprobe vgem)"); \
	fd_;								\
})

/* PRIME import of a dma-buf fd; returns the GEM handle, or 0 with errno. */
static inline __u32 vgem_import(int card, int buf_fd)
{
	struct drm_prime_handle h = { .fd = buf_fd };

	if (ioctl(card, DRM_IOCTL_PRIME_FD_TO_HANDLE, &h))
		return 0;
	return h.handle;
}

/* PRIME export of a GEM handle; returns the new fd or -1 with errno. */
static inline int vgem_export(int card, __u32 handle)
{
	struct drm_prime_handle h = {
		.handle = handle, .flags = DRM_CLOEXEC | DRM_RDWR, .fd = -1,
	};

	if (ioctl(card, DRM_IOCTL_PRIME_HANDLE_TO_FD, &h))
		return -1;
	return h.fd;
}

static inline int vgem_close(int card, __u32 handle)
{
	struct drm_gem_close c = { .handle = handle };

	return ioctl(card, DRM_IOCTL_GEM_CLOSE, &c);
}

#endif /* DMABUF_TESTS_VGEM_H */
