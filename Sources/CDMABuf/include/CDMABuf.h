/* SPDX-License-Identifier: MIT */
/*
 * The kernel uapi the core DMABuf target needs, through the C preprocessor:
 * linux-libc-dev headers only. Swift cannot import function-like macros such
 * as _IOWR, so every ioctl number is re-exported here as a function with the
 * macro's own name, prefixed CDMABuf_. Structs come straight from the uapi
 * headers. Nothing here is typed by hand.
 */
#ifndef CDMABUF_H
#define CDMABUF_H

#include <fcntl.h>
#include <linux/dma-buf.h>
#include <linux/magic.h>
#include <linux/memfd.h>
#include <sys/vfs.h>

/* dma-buf core */
static inline unsigned long CDMABuf_DMA_BUF_IOCTL_SYNC(void) { return DMA_BUF_IOCTL_SYNC; }
static inline unsigned long CDMABuf_DMA_BUF_SET_NAME(void) { return DMA_BUF_SET_NAME; }
static inline unsigned long long CDMABuf_DMA_BUF_SYNC_READ(void) { return DMA_BUF_SYNC_READ; }
static inline unsigned long long CDMABuf_DMA_BUF_SYNC_WRITE(void) { return DMA_BUF_SYNC_WRITE; }
static inline unsigned long long CDMABuf_DMA_BUF_SYNC_START(void) { return DMA_BUF_SYNC_START; }
static inline unsigned long long CDMABuf_DMA_BUF_SYNC_END(void) { return DMA_BUF_SYNC_END; }
static inline unsigned long long CDMABuf_DMA_BUF_SYNC_VALID_FLAGS_MASK(void) { return DMA_BUF_SYNC_VALID_FLAGS_MASK; }
/* statfs f_type of every dma-buf fd */
static inline long CDMABuf_DMA_BUF_MAGIC(void) { return DMA_BUF_MAGIC; }

/* glibc functions Swift's Glibc module hides behind _GNU_SOURCE (CDMABuf.c) */
/** The symbolic name of an errno value ("ENOENT"), or NULL if unknown. */
const char *CDMABuf_errno_name(int errnum);
/** memfd_create(2). */
int CDMABuf_memfd_create(const char *name, unsigned int flags);

#endif /* CDMABUF_H */
