/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <fcntl.h>
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

int CDMABuf_fcntl_int(int fd, int cmd, int arg)
{
	return fcntl(fd, cmd, arg);
}

int CDMABuf_O_PATH(void) { return O_PATH; }
unsigned int CDMABuf_MFD_CLOEXEC(void) { return MFD_CLOEXEC; }
unsigned int CDMABuf_MFD_ALLOW_SEALING(void) { return MFD_ALLOW_SEALING; }
int CDMABuf_F_ADD_SEALS(void) { return F_ADD_SEALS; }
int CDMABuf_F_GET_SEALS(void) { return F_GET_SEALS; }
int CDMABuf_F_SEAL_SEAL(void) { return F_SEAL_SEAL; }
int CDMABuf_F_SEAL_SHRINK(void) { return F_SEAL_SHRINK; }
int CDMABuf_F_SEAL_GROW(void) { return F_SEAL_GROW; }
int CDMABuf_F_SEAL_WRITE(void) { return F_SEAL_WRITE; }
int CDMABuf_F_SEAL_FUTURE_WRITE(void) { return F_SEAL_FUTURE_WRITE; }
