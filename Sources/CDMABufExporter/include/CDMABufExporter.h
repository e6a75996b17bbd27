/* SPDX-License-Identifier: MIT */
/*
 * The dmabuf_exporter module's uapi, from its one definition in the module's
 * tree, by relative path: no copy and no symlink, which an archive of the
 * package could drop. Ioctl numbers as functions, as in CDMABuf.h.
 */
#ifndef CDMABUF_EXPORTER_H
#define CDMABUF_EXPORTER_H

#ifdef __linux__
#include "../../../kernel/include/uapi/linux/dmabuf_exporter.h"

static inline unsigned long CDMABufExporter_DMABUF_EXPORTER_IOC_GET_SHARED_FD(void)
{
	return DMABUF_EXPORTER_IOC_GET_SHARED_FD;
}

static inline unsigned long CDMABufExporter_DMABUF_EXPORTER_IOC_ALLOC(void)
{
	return DMABUF_EXPORTER_IOC_ALLOC;
}

static inline unsigned long CDMABufExporter_DMABUF_EXPORTER_IOC_IMPORT(void)
{
	return DMABUF_EXPORTER_IOC_IMPORT;
}
#endif /* __linux__ */

#endif /* CDMABUF_EXPORTER_H */
