/* SPDX-License-Identifier: MIT */
/*
 * The kernel uapi the Swift code needs, through the C preprocessor. Swift
 * cannot import function-like macros such as _IOWR, so every ioctl number is
 * re-exported here as a function with the macro's own name, prefixed
 * CDMABuf_. Structs come straight from the uapi headers. Nothing here is
 * typed by hand.
 */
#ifndef CDMABUF_H
#define CDMABUF_H

#include <fcntl.h>
#include <linux/dma-buf.h>
#include <linux/memfd.h>
#include <linux/dmabuf_exporter.h>

/* DRM (libdrm-dev ships the kernel's DRM uapi as <libdrm/drm.h>). */
#if __has_include(<libdrm/drm.h>)
#include <libdrm/drm.h>
#elif __has_include(<drm/drm.h>)
#include <drm/drm.h>
#else
#error "DRM uapi headers not found: install libdrm-dev"
#endif

/* dma-buf core */
static inline unsigned long CDMABuf_DMA_BUF_IOCTL_SYNC(void) { return DMA_BUF_IOCTL_SYNC; }
static inline unsigned long CDMABuf_DMA_BUF_SET_NAME(void) { return DMA_BUF_SET_NAME; }
static inline unsigned long long CDMABuf_DMA_BUF_SYNC_READ(void) { return DMA_BUF_SYNC_READ; }
static inline unsigned long long CDMABuf_DMA_BUF_SYNC_WRITE(void) { return DMA_BUF_SYNC_WRITE; }
static inline unsigned long long CDMABuf_DMA_BUF_SYNC_START(void) { return DMA_BUF_SYNC_START; }
static inline unsigned long long CDMABuf_DMA_BUF_SYNC_END(void) { return DMA_BUF_SYNC_END; }
static inline unsigned long long CDMABuf_DMA_BUF_SYNC_VALID_FLAGS_MASK(void) { return DMA_BUF_SYNC_VALID_FLAGS_MASK; }

/* the dmabuf_exporter module */
static inline unsigned long CDMABuf_DMABUF_EXPORTER_IOC_GET_SHARED_FD(void) { return DMABUF_EXPORTER_IOC_GET_SHARED_FD; }
static inline unsigned long CDMABuf_DMABUF_EXPORTER_IOC_ALLOC(void) { return DMABUF_EXPORTER_IOC_ALLOC; }

/* DRM, for importing from and exporting to DRM devices such as vgem */
static inline unsigned long CDMABuf_DRM_IOCTL_VERSION(void) { return DRM_IOCTL_VERSION; }
static inline unsigned long CDMABuf_DRM_IOCTL_GEM_CLOSE(void) { return DRM_IOCTL_GEM_CLOSE; }
static inline unsigned long CDMABuf_DRM_IOCTL_MODE_CREATE_DUMB(void) { return DRM_IOCTL_MODE_CREATE_DUMB; }
static inline unsigned long CDMABuf_DRM_IOCTL_PRIME_HANDLE_TO_FD(void) { return DRM_IOCTL_PRIME_HANDLE_TO_FD; }
static inline unsigned int CDMABuf_DRM_CLOEXEC(void) { return DRM_CLOEXEC; }
static inline unsigned int CDMABuf_DRM_RDWR(void) { return DRM_RDWR; }

/* glibc functions Swift's Glibc module hides behind _GNU_SOURCE (CDMABuf.c) */
/** The symbolic name of an errno value ("ENOENT"), or NULL if unknown. */
const char *CDMABuf_errno_name(int errnum);
/** memfd_create(2). */
int CDMABuf_memfd_create(const char *name, unsigned int flags);

#endif /* CDMABUF_H */
