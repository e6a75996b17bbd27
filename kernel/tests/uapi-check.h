/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the Swift shims type by hand (Sources/CDMABuf/include/CDMABufUAPI.h,
 * Sources/CDMABufDRM/include/CDMABufDRMUAPI.h): every ioctl number, size and
 * offset, once as the shims define them (uapi-check-shims.c, which includes
 * nothing else, so that each fallback block is compiled) and once as the
 * kernel's headers do (uapi-check.c). sw_sync has no installed header to
 * compare with.
 */
#ifndef DMABUF_TESTS_UAPI_CHECK_H
#define DMABUF_TESTS_UAPI_CHECK_H

#include <stddef.h>

#define UAPI_FACTS(X)                                                  \
	X(DMA_BUF_IOCTL_EXPORT_SYNC_FILE)                              \
	X(DMA_BUF_IOCTL_IMPORT_SYNC_FILE)                              \
	X(sizeof(struct dma_buf_export_sync_file))                     \
	X(offsetof(struct dma_buf_export_sync_file, fd))               \
	X(sizeof(struct dma_buf_import_sync_file))                     \
	X(offsetof(struct dma_buf_import_sync_file, fd))               \
	X(DRM_IOCTL_VERSION)                                           \
	X(sizeof(struct drm_version))                                  \
	X(offsetof(struct drm_version, name_len))                      \
	X(offsetof(struct drm_version, name))                          \
	X(offsetof(struct drm_version, desc))                          \
	X(DRM_IOCTL_GEM_CLOSE)                                         \
	X(sizeof(struct drm_gem_close))                                \
	X(DRM_IOCTL_PRIME_HANDLE_TO_FD)                                \
	X(DRM_IOCTL_PRIME_FD_TO_HANDLE)                                \
	X(sizeof(struct drm_prime_handle))                             \
	X(offsetof(struct drm_prime_handle, fd))                       \
	X(DRM_CLOEXEC)                                                 \
	X(DRM_RDWR)                                                    \
	X(DRM_IOCTL_MODE_CREATE_DUMB)                                  \
	X(sizeof(struct drm_mode_create_dumb))                         \
	X(offsetof(struct drm_mode_create_dumb, handle))               \
	X(offsetof(struct drm_mode_create_dumb, pitch))                \
	X(offsetof(struct drm_mode_create_dumb, size))                 \
	X(DRM_IOCTL_VGEM_FENCE_ATTACH)                                 \
	X(DRM_IOCTL_VGEM_FENCE_SIGNAL)                                 \
	X(VGEM_FENCE_WRITE)                                            \
	X(sizeof(struct drm_vgem_fence_attach))                        \
	X(offsetof(struct drm_vgem_fence_attach, out_fence))           \
	X(sizeof(struct drm_vgem_fence_signal))

#define UAPI_VALUE(fact) (unsigned long long)(fact),
#define UAPI_NAME(fact) #fact,

extern const unsigned long long uapi_shims[];

#endif /* DMABUF_TESTS_UAPI_CHECK_H */
