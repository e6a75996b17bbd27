// SPDX-License-Identifier: GPL-2.0
/*
 * vgem imports the module's buffers (dma_buf_attach + map_dma_buf) and
 * exports them back: the same dma-buf comes back, with the same bytes, and
 * the import keeps the buffer alive after our own fds and mappings are gone.
 * A vgem fence attached to the import is seen by poll() on our fd: importer
 * and exporter share one reservation object.
 */
#include <poll.h>

#include "vgem.h"

#define NPAGES	16

static int dev, card;

static ino_t ino_of(int fd)
{
	struct stat st;

	CHECK(fstat(fd, &st) == 0);
	return st.st_ino;
}

static void test_alloc_buffer(void)
{
	const size_t sz = NPAGES * PAGE;
	char *ours, *theirs, *win;
	__u32 handle, again;
	int fd, fd2, fd3;
	unsigned int k;

	SECTION("vgem imports an ALLOC buffer and exports the same dma-buf");
	fd = must_alloc(dev, sz, O_RDWR | O_CLOEXEC, "imported");
	ours = must_map(fd, sz, PROT_READ | PROT_WRITE, 0);
	for (k = 0; k < NPAGES; k++)
		fill_pattern(ours + k * PAGE, PAGE, 300 + k);

	handle = vgem_import(card, fd);
	CHECK(handle != 0);
	again = vgem_import(card, fd);
	CHECK_EQ(again, handle);	/* one GEM object per dma-buf */
	fd2 = vgem_export(card, handle);
	CHECK(fd2 >= 0);
	CHECK(fd2 != fd);
	CHECK_EQ(ino_of(fd2), ino_of(fd));
	CHECK_EQ(buf_size(fd2), sz);

	theirs = must_map(fd2, sz, PROT_READ | PROT_WRITE, 0);
	for (k = 0; k < NPAGES; k++)
		CHECKF(check_pattern(theirs + k * PAGE, PAGE, 300 + k) < 0,
		       "page %u through the re-exported fd", k);
	fill_pattern(theirs + 5 * PAGE, PAGE, 405);
	CHECK(check_pattern(ours + 5 * PAGE, PAGE, 405) < 0);
	win = must_map(fd2, 2 * PAGE, PROT_READ, 9 * PAGE);
	CHECK(check_pattern(win, PAGE, 309) < 0);
	CHECK(check_pattern(win + PAGE, PAGE, 310) < 0);
	CHECK(munmap(win, 2 * PAGE) == 0);
	CHECK(munmap(theirs, sz) == 0);
	CHECK(close(fd2) == 0);

	SECTION("the import alone keeps the buffer alive");
	CHECK(munmap(ours, sz) == 0);
	CHECK(close(fd) == 0);
	fd3 = vgem_export(card, handle);
	CHECK(fd3 >= 0);
	theirs = must_map(fd3, sz, PROT_READ, 0);
	CHECK(check_pattern(theirs + 5 * PAGE, PAGE, 405) < 0);
	CHECK(check_pattern(theirs + 15 * PAGE, PAGE, 315) < 0);

	SECTION("GEM_CLOSE drops the import; our fd stays good");
	CHECK(vgem_close(card, handle) == 0);
	CHECK_ERR(vgem_close(card, handle), EINVAL);
	CHECK(check_pattern(theirs, PAGE, 300) < 0);
	CHECK(munmap(theirs, sz) == 0);
	/* Import again after the close: a new attachment of the same buffer. */
	handle = vgem_import(card, fd3);
	CHECK(handle != 0);
	fd2 = vgem_export(card, handle);
	CHECK_EQ(ino_of(fd2), ino_of(fd3));
	CHECK(vgem_close(card, handle) == 0);
	CHECK(close(fd2) == 0);
	CHECK(close(fd3) == 0);
}

static void test_shared_buffer(void)
{
	char *ours, *theirs, text[DMABUF_EXPORTER_SHARED_SIZE + 1];
	int fd, fd2;
	ssize_t n;
	__u32 handle;

	SECTION("vgem imports the shared buffer");
	CHECK(ioctl(dev, DMABUF_EXPORTER_IOC_GET_SHARED_FD, &fd) == 0);
	handle = vgem_import(card, fd);
	CHECK(handle != 0);
	fd2 = vgem_export(card, handle);
	CHECK(fd2 >= 0);
	CHECK_EQ(ino_of(fd2), ino_of(fd));
	ours = must_map(fd, PAGE, PROT_READ | PROT_WRITE, 0);
	theirs = must_map(fd2, PAGE, PROT_READ, 0);
	CHECK(!memcmp(ours, theirs, PAGE));
	/* The device's read() shows the same text. */
	n = pread(dev, text, sizeof(text) - 1, 0);
	CHECK(n >= 0);
	CHECK_EQ(n, strnlen(theirs, PAGE));
	CHECK(!memcmp(text, theirs, n));
	/* A byte past the text, so the device text is untouched. */
	ours[PAGE - 2] = 'V';
	CHECK_EQ(theirs[PAGE - 2], 'V');
	ours[PAGE - 2] = '\0';
	CHECK(munmap(theirs, PAGE) == 0);
	CHECK(munmap(ours, PAGE) == 0);
	CHECK(vgem_close(card, handle) == 0);
	CHECK(close(fd2) == 0);
	CHECK(close(fd) == 0);
}

static void test_fence(void)
{
	struct drm_vgem_fence_attach attach;
	struct drm_vgem_fence_signal sig;
	struct pollfd pfd;
	__u32 handle;
	int fd;

	SECTION("a vgem write fence on the import blocks our fd until signalled");
	fd = must_alloc(dev, PAGE, O_RDWR | O_CLOEXEC, NULL);
	handle = vgem_import(card, fd);
	CHECK(handle != 0);
	memset(&attach, 0, sizeof(attach));
	attach.handle = handle;
	attach.flags = VGEM_FENCE_WRITE;
	CHECK(ioctl(card, DRM_IOCTL_VGEM_FENCE_ATTACH, &attach) == 0);

	pfd.fd = fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	CHECK_EQ(poll(&pfd, 1, 0), 0);	/* a writer is pending */

	memset(&sig, 0, sizeof(sig));
	sig.fence = attach.out_fence;
	CHECK(ioctl(card, DRM_IOCTL_VGEM_FENCE_SIGNAL, &sig) == 0);
	CHECK_EQ(poll(&pfd, 1, 1000), 1);
	CHECK(pfd.revents & POLLIN);
	CHECK(sync_buf(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ) == 0);
	CHECK(sync_buf(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ) == 0);
	CHECK(vgem_close(card, handle) == 0);
	CHECK(close(fd) == 0);
}

/*
 * Large buffers are built from 2 MiB runs. The importer must still get
 * segments no longer than its device takes (vgem: 64 KiB); the debug
 * kernel's DMA-API checks report any that are longer.
 */
static void test_large_buffer(void)
{
	const size_t sz = 8 * MiB;
	__u32 handle;
	char *map;
	int fd;

	SECTION("vgem imports an 8 MiB buffer within its segment limit");
	fd = must_alloc(dev, sz, O_RDWR | O_CLOEXEC, "large");
	map = must_map(fd, sz, PROT_READ | PROT_WRITE, 0);
	fill_pattern(map, sz, 77);
	handle = vgem_import(card, fd);
	CHECK(handle != 0);
	CHECK(check_pattern(map, sz, 77) < 0);
	CHECK(vgem_close(card, handle) == 0);
	CHECK(munmap(map, sz) == 0);
	CHECK(close(fd) == 0);
}

int main(int argc, char **argv)
{
	int fds_before;

	(void)argc;
	harness_init(argv[0]);
	fds_before = count_fds();
	dev = dev_open();
	card = must_vgem_open();

	test_alloc_buffer();
	test_shared_buffer();
	test_large_buffer();
	test_fence();

	CHECK(close(card) == 0);
	CHECK(close(dev) == 0);
	CHECK_EQ(count_fds(), fds_before);
	printf("%s: OK\n", harness_prog);
	return 0;
}
