/* SPDX-License-Identifier: MIT */
/*
 * libpng's simplified API (png_image, libpng 1.6), for `dmabuf capture --save`
 * and `dmabuf display`.
 * It reports errors through png_image.message instead of longjmp, which Swift
 * cannot cross. The macros Swift does not import come back as functions.
 */
#ifndef CPNG_H
#define CPNG_H

#include <png.h>

static inline unsigned int CPNG_PNG_IMAGE_VERSION(void) { return PNG_IMAGE_VERSION; }
static inline unsigned int CPNG_PNG_FORMAT_RGB(void) { return PNG_FORMAT_RGB; }
static inline unsigned int CPNG_PNG_FORMAT_BGRA(void) { return PNG_FORMAT_BGRA; }
static inline unsigned int CPNG_PNG_IMAGE_FAILED(png_imagep image) { return PNG_IMAGE_FAILED(*image); }

#endif /* CPNG_H */
