/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>

#include "CDMABuf.h"

const char *CDMABuf_errno_name(int errnum)
{
	return strerrorname_np(errnum);
}

int CDMABuf_memfd_create(const char *name, unsigned int flags)
{
	return memfd_create(name, flags);
}
