// SPDX-License-Identifier: GPL-2.0
/*
 * vgem imports the module's buffers (dma_buf_attach + map_dma_buf) and
 * exports them back: the same dma-buf comes back, with the same bytes, and
 * the import keeps the buffer alive after our own fds and mappings are gone.
 * A vgem fence attached to the import is seen by poll() on our fd: importer
 * and exporter share one reservation object; and read()/write() on the
 * device, and IMPORT, wait for fences on any import of the shared buffer,
 * interruptibly (a signal ends each wait with EINTR). Several
 * imports of the same memory share one DMA mapping (the debug kernel's
 * DMA-API checks report overlapping mappings).
 *
 *   importer [TEST...]
 */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>

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

static void test_shared_imports_at_once(void)
{
	char text[DMABUF_EXPORTER_SHARED_SIZE];
	int fd1, fd2, card2;
	__u32 h1, h2, h3, h4;
	char *m1, *m2;

	SECTION("two shared exports, and one imported twice, mapped by vgem at once");
	CHECK(ioctl(dev, DMABUF_EXPORTER_IOC_GET_SHARED_FD, &fd1) == 0);
	CHECK(ioctl(dev, DMABUF_EXPORTER_IOC_GET_SHARED_FD, &fd2) == 0);
	card2 = must_vgem_open();
	h1 = vgem_import(card, fd1);
	CHECK(h1 != 0);
	h2 = vgem_import(card, fd2);
	CHECK(h2 != 0);
	CHECK(h1 != h2);
	h3 = vgem_import(card2, fd1);	/* another attachment of the same dma-buf */
	CHECK(h3 != 0);
	m1 = must_map(fd1, PAGE, PROT_READ | PROT_WRITE, 0);
	m2 = must_map(fd2, PAGE, PROT_READ, 0);
	CHECK(sync_buf(fd1, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW) == 0);
	m1[PAGE - 2] = 'I';
	CHECK(sync_buf(fd1, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW) == 0);
	CHECK(sync_buf(fd2, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ) == 0);
	CHECK_EQ(m2[PAGE - 2], 'I');
	CHECK(sync_buf(fd2, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ) == 0);
	/* The device's own CPU access syncs all of them too. */
	CHECK(pread(dev, text, sizeof(text), 0) >= 0);
	CHECK(pwrite(dev, "", 1, PAGE - 2) == 1);
	CHECK_EQ(m2[PAGE - 2], '\0');
	/* An ALLOC buffer imported through two vgem files at once. */
	CHECK(close(fd2) == 0);
	fd2 = must_alloc(dev, 4 * PAGE, O_RDWR | O_CLOEXEC, NULL);
	h4 = vgem_import(card, fd2);
	CHECK(h4 != 0);
	CHECK(vgem_close(card, h2) == 0);
	h2 = vgem_import(card2, fd2);
	CHECK(h2 != 0);
	CHECK(sync_buf(fd2, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW) == 0);
	CHECK(sync_buf(fd2, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW) == 0);
	CHECK(vgem_close(card2, h2) == 0);
	CHECK(vgem_close(card, h4) == 0);
	CHECK(vgem_close(card2, h3) == 0);
	CHECK(vgem_close(card, h1) == 0);
	CHECK(munmap(m1, PAGE) == 0);
	CHECK(munmap(m2, PAGE) == 0);
	CHECK(close(card2) == 0);
	CHECK(close(fd2) == 0);
	CHECK(close(fd1) == 0);
}

enum device_op { DEVICE_READ, DEVICE_WRITE, DEVICE_IMPORT };

struct device_io {
	enum device_op op;
	int import_fd;		/* DEVICE_IMPORT: the dma-buf to IMPORT */
	ssize_t result;
	int err;
	double done_at;
	atomic_int tid;
};

static void *device_io(void *arg)
{
	struct device_io *io = arg;
	char text[DMABUF_EXPORTER_SHARED_SIZE];
	struct dmabuf_exporter_import import;

	atomic_store(&io->tid, (int)syscall(SYS_gettid));

	switch (io->op) {
	case DEVICE_READ:
		io->result = pread(dev, text, sizeof(text), 0);
		break;
	case DEVICE_WRITE:
		io->result = pwrite(dev, "", 1, PAGE - 1);
		break;
	case DEVICE_IMPORT:
		io->result = try_import(dev, io->import_fd, 0, 0, &import);
		break;
	}
	io->err = errno;
	io->done_at = now_sec();
	return NULL;
}

static void on_signal(int sig)
{
	(void)sig;
}

/*
 * Attach a vgem fence (@write: a write fence) to an import of a new shared
 * export; returns the fence, and the shared fd and handle to drop later.
 */
static __u32 fence_shared(int write, int *fd, __u32 *handle)
{
	struct drm_vgem_fence_attach attach;

	CHECK(ioctl(dev, DMABUF_EXPORTER_IOC_GET_SHARED_FD, fd) == 0);
	*handle = vgem_import(card, *fd);
	CHECK(*handle != 0);
	memset(&attach, 0, sizeof(attach));
	attach.handle = *handle;
	attach.flags = write ? VGEM_FENCE_WRITE : 0;
	CHECK(ioctl(card, DRM_IOCTL_VGEM_FENCE_ATTACH, &attach) == 0);
	return attach.out_fence;
}

static void signal_fence(__u32 fence)
{
	struct drm_vgem_fence_signal sig = { .fence = fence };

	CHECK(ioctl(card, DRM_IOCTL_VGEM_FENCE_SIGNAL, &sig) == 0);
}

static void test_device_waits_for_fences(void)
{
	static const struct { int fence_write, io_write; const char *what; } cases[] = {
		{ 1, 0, "read() waits for a device's write fence" },
		{ 0, 1, "write() waits for a device's read fence" },
		{ 1, 1, "write() waits for a device's write fence" },
	};
	/* Each blocked by a write fence on the shared buffer's import. */
	static const struct { enum device_op op; const char *what; } interrupted[] = {
		{ DEVICE_READ, "read()'s wait is interruptible: EINTR" },
		{ DEVICE_WRITE, "write()'s wait is interruptible: EINTR" },
		{ DEVICE_IMPORT, "IMPORT's wait is interruptible: EINTR" },
	};
	struct sigaction sa;
	struct device_io io;
	pthread_t t;
	unsigned int i;
	double signalled;
	__u32 fence, handle;
	int fd;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		SECTION(cases[i].what);
		fence = fence_shared(cases[i].fence_write, &fd, &handle);
		io = (struct device_io){ .op = cases[i].io_write ? DEVICE_WRITE : DEVICE_READ };
		CHECK(pthread_create(&t, NULL, device_io, &io) == 0);
		while (!atomic_load(&io.tid))
			sched_yield();
		wait_blocked_in(atomic_load(&io.tid), "fence");
		CHECKF(io.done_at == 0, "returned %zd before the fence was signalled", io.result);
		signalled = now_sec();
		signal_fence(fence);
		CHECK(pthread_join(t, NULL) == 0);
		CHECKF(io.result >= 0, "%s after the signal: errno %d", cases[i].what, io.err);
		CHECK(io.done_at >= signalled);
		CHECK(vgem_close(card, handle) == 0);
		CHECK(close(fd) == 0);
	}

	SECTION("a read fence does not hold up read()");
	fence = fence_shared(0, &fd, &handle);
	io = (struct device_io){ .op = DEVICE_READ };
	device_io(&io);
	CHECK(io.result >= 0);
	signal_fence(fence);
	CHECK(vgem_close(card, handle) == 0);
	CHECK(close(fd) == 0);

	/*
	 * The docs promise EINTR from all three waits. The signal comes once
	 * the call is seen blocked in the wait, and has no SA_RESTART.
	 */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	for (i = 0; i < ARRAY_SIZE(interrupted); i++) {
		SECTION(interrupted[i].what);
		fence = fence_shared(1, &fd, &handle);
		io = (struct device_io){ .op = interrupted[i].op, .import_fd = fd };
		CHECK(pthread_create(&t, NULL, device_io, &io) == 0);
		while (!atomic_load(&io.tid))
			sched_yield();
		wait_blocked_in(atomic_load(&io.tid), "fence");
		CHECK(pthread_kill(t, SIGUSR1) == 0);
		CHECK(pthread_join(t, NULL) == 0);
		CHECKF(io.result == -1 && io.err == EINTR, "%s returned %zd, errno %d",
		       interrupted[i].what, io.result, io.err);
		signal_fence(fence);
		CHECK(vgem_close(card, handle) == 0);
		CHECK(close(fd) == 0);
		/* An interrupted IMPORT leaves nothing attached. */
		CHECK_EQ(our_attachments(), 0);
	}
	sa.sa_handler = SIG_DFL;
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
}

static void setup(void)
{
	dev = dev_open();
	card = must_vgem_open();
}

static void teardown(void)
{
	CHECK(close(card) == 0);
	CHECK(close(dev) == 0);
}

static const struct harness_test tests[] = {
	HARNESS_TEST(test_alloc_buffer),
	HARNESS_TEST(test_shared_buffer),
	HARNESS_TEST(test_large_buffer),
	HARNESS_TEST(test_fence),
	HARNESS_TEST(test_shared_imports_at_once),
	HARNESS_TEST(test_device_waits_for_fences),
};

int main(int argc, char **argv)
{
	return harness_main(argc, argv, setup, teardown, tests, ARRAY_SIZE(tests));
}
