// SPDX-License-Identifier: GPL-2.0
/*
 * The uapi the Swift shims type by hand equals the kernel's: each number, size
 * and offset of uapi-check.h, from the kernel's headers here and from the
 * shims in uapi-check-shims.c. Runs anywhere; needs no device.
 */
#include <fcntl.h>
#include <stdio.h>

#include <drm/drm.h>
#include <drm/drm_mode.h>
#include <drm/vgem_drm.h>
#include <linux/dma-buf.h>

#include "uapi-check.h"

static const unsigned long long uapi_kernel[] = { UAPI_FACTS(UAPI_VALUE) };
static const char *const uapi_names[] = { UAPI_FACTS(UAPI_NAME) };

int main(void)
{
	size_t i, count = sizeof(uapi_kernel) / sizeof(uapi_kernel[0]);
	int failed = 0;

	for (i = 0; i < count; i++) {
		if (uapi_shims[i] == uapi_kernel[i])
			continue;
		printf("FAIL: %s is %#llx in the shims, %#llx in the kernel's headers\n", uapi_names[i],
		       uapi_shims[i], uapi_kernel[i]);
		failed = 1;
	}
	if (!failed)
		printf("OK: %zu numbers, sizes and offsets of the shims' uapi match the kernel's headers\n", count);
	return failed;
}
