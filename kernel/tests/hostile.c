// SPDX-License-Identifier: GPL-2.0
/*
 * Hostile input for dmabuf_exporter: every ioctl and file operation gets bad
 * sizes, flags, pointers and fds, and each case asserts the documented
 * errno (docs/module.md) and that no fd leaked; IMPORT also that nothing
 * stayed attached to the module's device. Ends with a seeded random ioctl
 * fuzzer.
 *
 *   hostile [-S SEED] [-n ITERATIONS]
 */
#include <limits.h>
#include <stddef.h>

#include "harness.h"

#define KERNEL_ADDRESS ((void *)0xffffffff81000000UL)

/* Pages to aim bad pointers at: an inaccessible one, and a read-only one holding a valid ALLOC argument. */
static void *guard_page, *ro_page;

static void setup_pages(void)
{
	struct dmabuf_exporter_alloc alloc = { .size = PAGE, .fd_flags = O_RDWR };

	guard_page = unmapped_page();
	ro_page = readonly_page(&alloc, sizeof(alloc));
}

/* An address whose first bytes are mapped and whose rest is not. */
static void *straddling_pointer(size_t mapped)
{
	char *pages = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(pages != MAP_FAILED && mprotect(pages + PAGE, PAGE, PROT_NONE) == 0);
	return pages + PAGE - mapped;
}

static void test_pointers(int dev)
{
	int fds = count_fds();

	CHECK_ERR(ioctl(dev, DMABUF_EXPORTER_IOC_GET_SHARED_FD, NULL), EFAULT);
	CHECK_ERR(ioctl(dev, DMABUF_EXPORTER_IOC_GET_SHARED_FD, guard_page), EFAULT);
	CHECK_ERR(ioctl(dev, DMABUF_EXPORTER_IOC_GET_SHARED_FD, KERNEL_ADDRESS), EFAULT);
	CHECK_ERR(ioctl(dev, DMABUF_EXPORTER_IOC_GET_SHARED_FD, ro_page), EFAULT);
	CHECK_ERR(ioctl(dev, DMABUF_EXPORTER_IOC_ALLOC, NULL), EFAULT);
	CHECK_ERR(ioctl(dev, DMABUF_EXPORTER_IOC_ALLOC, guard_page), EFAULT);
	CHECK_ERR(ioctl(dev, DMABUF_EXPORTER_IOC_ALLOC, KERNEL_ADDRESS), EFAULT);
	/* Readable but not writable: the buffer is made, the fd can't be returned. */
	CHECK_ERR(ioctl(dev, DMABUF_EXPORTER_IOC_ALLOC, ro_page), EFAULT);
	/* The argument straddling into an unmapped page. */
	CHECK_ERR(ioctl(dev, DMABUF_EXPORTER_IOC_ALLOC, straddling_pointer(8)), EFAULT);
	CHECK(count_fds() == fds);

	/* An unaligned but valid argument works. */
	{
		char storage[sizeof(struct dmabuf_exporter_alloc) + 1];
		struct dmabuf_exporter_alloc alloc = { .size = PAGE, .fd_flags = O_RDWR };
		int fd;

		memcpy(storage + 1, &alloc, sizeof(alloc));
		CHECK(ioctl(dev, DMABUF_EXPORTER_IOC_ALLOC, storage + 1) == 0);
		memcpy(&fd, storage + 1 + offsetof(struct dmabuf_exporter_alloc, fd), sizeof(fd));
		CHECK(lseek(fd, 0, SEEK_END) == PAGE);
		close(fd);
	}
}

/* ALLOC with a raw name field, NUL or not; returns the fd or -1. */
static int alloc_raw(int dev, uint64_t size, uint32_t flags, const char *name, size_t name_len)
{
	struct dmabuf_exporter_alloc alloc = { .size = size, .fd_flags = flags };

	memcpy(alloc.name, name, name_len);
	if (ioctl(dev, DMABUF_EXPORTER_IOC_ALLOC, &alloc))
		return -1;
	return alloc.fd;
}

static void test_alloc_arguments(int dev)
{
	char long_name[DMABUF_EXPORTER_NAME_LEN];
	int fds = count_fds(), fd;

	CHECK_ERR(alloc_raw(dev, 0, O_RDWR, "", 1), EINVAL);
	CHECK_ERR(alloc_raw(dev, UINT64_MAX, O_RDWR, "", 1), EFBIG);
	CHECK_ERR(alloc_raw(dev, UINT64_MAX - PAGE + 2, O_RDWR, "", 1), EFBIG);
	CHECK_ERR(alloc_raw(dev, 1ULL << 63, O_RDWR, "", 1), EFBIG);
	CHECK_ERR(alloc_raw(dev, (256ULL << 20) + 1, O_RDWR, "", 1), EFBIG);

	/* Every flag bit other than the access mode and O_CLOEXEC is refused. */
	for (int bit = 0; bit < 32; bit++) {
		uint32_t flag = 1U << bit;

		if (flag == O_CLOEXEC || flag == O_RDWR)
			continue;
		CHECK_ERR(alloc_raw(dev, PAGE, O_RDWR | flag, "", 1), EINVAL);
	}
	CHECK_ERR(alloc_raw(dev, PAGE, O_WRONLY, "", 1), EINVAL);
	CHECK_ERR(alloc_raw(dev, PAGE, O_ACCMODE, "", 1), EINVAL);

	memset(long_name, 'x', sizeof(long_name));
	CHECK_ERR(alloc_raw(dev, PAGE, O_RDWR, long_name, sizeof(long_name)), EINVAL);
	/* Bytes after the name's NUL must be zero. */
	CHECK_ERR(alloc_raw(dev, PAGE, O_RDWR, "a\0b", 3), EINVAL);
	CHECK_ERR(alloc_raw(dev, PAGE, O_RDWR, "\0\0\0x", 4), EINVAL);
	long_name[sizeof(long_name) - 1] = '\0';
	fd = alloc_raw(dev, PAGE, O_RDWR, long_name, sizeof(long_name));
	CHECK(fd >= 0);
	close(fd);
	CHECK(count_fds() == fds);

	/* Unaligned sizes round up to whole pages. */
	for (uint64_t size = 1; size <= 3 * PAGE; size += 1021) {
		fd = alloc_raw(dev, size, O_RDONLY, "", 1);
		CHECK(fd >= 0 && lseek(fd, 0, SEEK_END) == (off_t)((size + PAGE - 1) & ~(uint64_t)(PAGE - 1)));
		close(fd);
	}
}

/* IMPORT with every field given; returns what the ioctl returns. */
static int import_raw(int dev, const struct dmabuf_exporter_import *in,
		      struct dmabuf_exporter_import *out)
{
	*out = *in;
	return ioctl(dev, DMABUF_EXPORTER_IOC_IMPORT, out);
}

static void test_import_arguments(int dev)
{
	const uint64_t size = 8 * PAGE;
	struct dmabuf_exporter_import in, out;
	int fd = alloc_raw(dev, size, O_RDWR, "", 1), fds, pipes[2], memfd, dir, closed;
	long refcnt = module_refcnt();
	void *ro;

	CHECK(fd >= 0);
	fds = count_fds();
	memset(&in, 0, sizeof(in));
	in.fd = fd;
	CHECK(import_raw(dev, &in, &out) == 0 && out.size == size);

	/* Bad pointers; a read-only argument is read, imported, and cannot be answered. */
	CHECK_ERR(ioctl(dev, DMABUF_EXPORTER_IOC_IMPORT, NULL), EFAULT);
	CHECK_ERR(ioctl(dev, DMABUF_EXPORTER_IOC_IMPORT, guard_page), EFAULT);
	CHECK_ERR(ioctl(dev, DMABUF_EXPORTER_IOC_IMPORT, KERNEL_ADDRESS), EFAULT);
	CHECK_ERR(ioctl(dev, DMABUF_EXPORTER_IOC_IMPORT, straddling_pointer(8)), EFAULT);
	CHECK_ERR(ioctl(dev, DMABUF_EXPORTER_IOC_IMPORT,
			straddling_pointer(offsetof(struct dmabuf_exporter_import, size))), EFAULT);
	ro = readonly_page(&in, sizeof(in));
	CHECK_ERR(ioctl(dev, DMABUF_EXPORTER_IOC_IMPORT, ro), EFAULT);
	munmap(ro, PAGE);

	/* An unaligned but valid argument works. */
	{
		char storage[sizeof(struct dmabuf_exporter_import) + 1];
		struct dmabuf_exporter_import got;

		memcpy(storage + 1, &in, sizeof(in));
		CHECK(ioctl(dev, DMABUF_EXPORTER_IOC_IMPORT, storage + 1) == 0);
		memcpy(&got, storage + 1, sizeof(got));
		CHECK(got.size == size && got.crc32c == out.crc32c && got.fd == fd);
	}

	/* fds: closed or never open (EBADF), not a dma-buf (EINVAL). */
	CHECK(pipe(pipes) == 0);
	memfd = memfd_create("hostile", MFD_CLOEXEC);
	dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	closed = dup(fd);
	close(closed);
	{
		static const int bad_fds[] = { -1, -2, INT_MIN, INT_MAX, 1 << 20 };

		for (size_t i = 0; i < ARRAY_SIZE(bad_fds); i++) {
			in.fd = bad_fds[i];
			CHECK_ERR(import_raw(dev, &in, &out), EBADF);
		}
	}
	in.fd = closed;
	CHECK_ERR(import_raw(dev, &in, &out), EBADF);
	in.fd = pipes[0];
	CHECK_ERR(import_raw(dev, &in, &out), EINVAL);
	in.fd = memfd;
	CHECK_ERR(import_raw(dev, &in, &out), EINVAL);
	in.fd = dir;
	CHECK_ERR(import_raw(dev, &in, &out), EINVAL);
	in.fd = dev;
	CHECK_ERR(import_raw(dev, &in, &out), EINVAL);
	close(pipes[0]);
	close(pipes[1]);
	close(memfd);
	close(dir);
	in.fd = fd;

	/* Every flag bit, and every reserved byte, is refused. */
	for (int bit = 0; bit < 32; bit++) {
		in.flags = 1U << bit;
		CHECK_ERR(import_raw(dev, &in, &out), EINVAL);
	}
	in.flags = 0;
	in.reserved0 = 1;
	CHECK_ERR(import_raw(dev, &in, &out), EINVAL);
	in.reserved0 = 0;
	for (size_t b = 0; b < sizeof(in.reserved); b++) {
		((unsigned char *)in.reserved)[b] = 0x80;
		CHECK_ERR(import_raw(dev, &in, &out), EINVAL);
		((unsigned char *)in.reserved)[b] = 0;
	}

	/* Ranges: inside the buffer, or EINVAL. */
	{
		static const struct { uint64_t offset, length; int ok; } ranges[] = {
			{ 0, 0, 1 }, { 0, 8 * PAGE, 1 }, { 8 * PAGE - 1, 0, 1 }, { 8 * PAGE - 1, 1, 1 },
			{ 5, 1, 1 }, { PAGE, 7 * PAGE, 1 },
			{ 8 * PAGE, 0, 0 }, { 8 * PAGE, 1, 0 }, { 8 * PAGE - 1, 2, 0 },
			{ 0, 8 * PAGE + 1, 0 }, { 1, 8 * PAGE, 0 }, { 1, UINT64_MAX, 0 },
			{ UINT64_MAX, 0, 0 }, { UINT64_MAX, 2, 0 }, { 0, UINT64_MAX, 0 },
			{ 1ULL << 63, 1ULL << 63, 0 }, { 8 * PAGE + 1, UINT64_MAX - 8 * PAGE, 0 },
		};

		for (size_t i = 0; i < ARRAY_SIZE(ranges); i++) {
			in.offset = ranges[i].offset;
			in.length = ranges[i].length;
			if (ranges[i].ok)
				CHECKF(import_raw(dev, &in, &out) == 0, "range %zu", i);
			else
				CHECK_ERR(import_raw(dev, &in, &out), EINVAL);
		}
		in.offset = 0;
		in.length = 0;
	}

	/* Out fields are ignored on input, and the in fields come back unchanged. */
	memset(&in.size, 0xa5, offsetof(struct dmabuf_exporter_import, reserved0) -
	       offsetof(struct dmabuf_exporter_import, size));
	CHECK(import_raw(dev, &in, &out) == 0);
	CHECK(out.fd == fd && out.flags == 0 && out.offset == 0 && out.length == 0);
	CHECK(out.size == size && out.read_via == DMABUF_EXPORTER_IMPORT_VIA_VMAP);
	CHECK(out.exp_name[sizeof(out.exp_name) - 1] == 0 && !strcmp(out.exp_name, "dmabuf_exporter"));

	/* A failed import changes nothing in the argument. */
	in.flags = 1;
	out = in;
	CHECK_ERR(ioctl(dev, DMABUF_EXPORTER_IOC_IMPORT, &out), EINVAL);
	CHECK(!memcmp(&out, &in, sizeof(in)));

	CHECK(count_fds() == fds);
	CHECK_EQ(our_attachments(), 0);
	CHECK_EQ(module_refcnt(), refcnt);
	close(fd);
}

static void test_unknown_ioctls(int dev)
{
	static const unsigned long commands[] = {
		0, 1, 0xffffffff,
		_IOR('a', 1, long), _IOW('a', 1, int), _IO('a', 1), _IOR('a', 2, int),
		_IOWR(DMABUF_EXPORTER_IOC_MAGIC, 0x01, int),
		_IOWR(DMABUF_EXPORTER_IOC_MAGIC, 0x02, struct dmabuf_exporter_alloc),
		_IOR(DMABUF_EXPORTER_IOC_MAGIC, 0x01, struct dmabuf_exporter_alloc),
		_IOW(DMABUF_EXPORTER_IOC_MAGIC, 0x02, struct dmabuf_exporter_import),
		_IOWR(DMABUF_EXPORTER_IOC_MAGIC, 0x02, struct dmabuf_exporter_import[2]),
		_IOWR(DMABUF_EXPORTER_IOC_MAGIC, 0x03, struct dmabuf_exporter_import),
		DMA_BUF_IOCTL_SYNC, DMA_BUF_SET_NAME_B,
	};
	char scratch[256] = { 0 };

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		CHECK_ERR(ioctl(dev, commands[i], scratch), ENOTTY);
}

static void test_fds(int dev)
{
	struct dma_buf_sync sync = { .flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ };
	int fd = alloc_raw(dev, PAGE, O_RDWR, "", 1), pipes[2], memfd;

	/* Module ioctls on a dma-buf, dma-buf ioctls on other kinds of fd. */
	CHECK_ERR(ioctl(fd, DMABUF_EXPORTER_IOC_ALLOC, &sync), ENOTTY);
	CHECK(pipe(pipes) == 0);
	CHECK_ERR(ioctl(pipes[0], DMA_BUF_IOCTL_SYNC, &sync), ENOTTY);
	CHECK_ERR(ioctl(pipes[0], DMABUF_EXPORTER_IOC_ALLOC, &sync), ENOTTY);
	memfd = memfd_create("hostile", MFD_CLOEXEC);
	CHECK_ERR(ioctl(memfd, DMA_BUF_IOCTL_SYNC, &sync), ENOTTY);
	close(pipes[0]);
	close(pipes[1]);
	close(memfd);

	/* Closed fds. */
	CHECK_ERR(ioctl(pipes[0], DMA_BUF_IOCTL_SYNC, &sync), EBADF);
	CHECK_ERR(mmap(NULL, PAGE, PROT_READ, MAP_SHARED, pipes[0], 0) == MAP_FAILED ? -1 : 0, EBADF);

	/* SYNC argument and flags, mmap ranges. */
	CHECK_ERR(ioctl(fd, DMA_BUF_IOCTL_SYNC, NULL), EFAULT);
	CHECK_ERR(ioctl(fd, DMA_BUF_IOCTL_SYNC, KERNEL_ADDRESS), EFAULT);
	sync.flags = ~0ULL;
	CHECK_ERR(ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync), EINVAL);
	sync.flags = DMA_BUF_SYNC_START;
	CHECK_ERR(ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync), EINVAL);
	CHECK_ERR(mmap(NULL, 0, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED ? -1 : 0, EINVAL);
	CHECK_ERR(mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 1) == MAP_FAILED ? -1 : 0, EINVAL);
	CHECK_ERR(mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, PAGE) == MAP_FAILED ? -1 : 0, EINVAL);
	CHECK_ERR(mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED ? -1 : 0, EINVAL);
	CHECK_ERR(mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, (off_t)1 << 60) == MAP_FAILED ? -1 : 0, EINVAL);
	CHECK_ERR(mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED ? -1 : 0, EINVAL);
	close(fd);
}

/* Restore the shared buffer's text so later tests see the module's state. */
static void reset_shared(int dev)
{
	static const char text[] = DMABUF_EXPORTER_SHARED_TEXT;

	CHECK(pwrite(dev, text, sizeof(text), 0) == sizeof(text));
}

static void test_read_write(int dev)
{
	static const size_t counts[] = { 0, 1, 7, 4095, 4096, 4097, 100000 };
	static const char text[] = DMABUF_EXPORTER_SHARED_TEXT;
	const size_t text_len = sizeof(text) - 1;
	char *buffer = malloc(100000), *expected = malloc(PAGE);

	reset_shared(dev);
	for (off_t offset = 0; offset <= (off_t)PAGE + 4; offset++) {
		for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
			size_t count = counts[i];
			size_t want = (size_t)offset < text_len ? text_len - offset : 0;
			ssize_t got;

			if (want > count)
				want = count;
			got = pread(dev, buffer, count, offset);
			CHECKF(got == (ssize_t)want &&
			       !memcmp(buffer, text + (offset < (off_t)text_len ? offset : 0), want),
			       "read %zu at %lld: got %zd, want %zu", count, (long long)offset, got, want);
		}
	}

	/* Writes: clipped at the end of the buffer, ENOSPC at or beyond it. */
	memset(buffer, 'w', 100000);
	for (off_t offset = 0; offset <= (off_t)PAGE + 4; offset += 1 + offset / 64) {
		for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
			size_t count = counts[i];
			ssize_t got = pwrite(dev, buffer, count, offset);

			if (offset >= (off_t)PAGE && count) {
				CHECK_ERR(got, ENOSPC);
				continue;
			}
			CHECKF(got == (ssize_t)(count < PAGE - offset ? count : PAGE - offset),
			       "write %zu at %lld: got %zd", count, (long long)offset, got);
		}
	}
	/* The last full write filled the page: reads stop at its end, never beyond. */
	CHECK(pwrite(dev, buffer, PAGE, 0) == PAGE);
	CHECK(pread(dev, buffer, 100000, 0) == PAGE);
	CHECK(pread(dev, buffer, 100000, PAGE - 1) == 1);

	/* A write puts a NUL after itself, so a short write reads back alone. */
	CHECK(pwrite(dev, "abc", 3, 0) == 3);
	memset(expected, 0, PAGE);
	CHECK(pread(dev, expected, PAGE, 0) == 3 && !strcmp(expected, "abc"));

	/* Bad buffers; a failed write changes nothing. */
	reset_shared(dev);
	CHECK_ERR(pwrite(dev, straddling_pointer(8), 16, 0), EFAULT);
	CHECK_ERR(pwrite(dev, straddling_pointer(PAGE - 1), PAGE, 0), EFAULT);
	CHECK_ERR(pwrite(dev, guard_page, 1, 3), EFAULT);
	memset(expected, 0, PAGE);
	CHECK(pread(dev, expected, PAGE, 0) == (ssize_t)text_len);
	CHECKF(!strcmp(expected, text), "the shared text after failed writes: \"%s\"", expected);
	CHECK_ERR(pread(dev, null_ptr, 16, 0), EFAULT);
	CHECK_ERR(pread(dev, ro_page, 16, 0), EFAULT);
	CHECK_ERR(pread(dev, KERNEL_ADDRESS, 16, 0), EFAULT);
	CHECK_ERR(pwrite(dev, null_ptr, 16, 0), EFAULT);
	CHECK_ERR(pwrite(dev, guard_page, 16, 0), EFAULT);
	CHECK_ERR(pwrite(dev, KERNEL_ADDRESS, 16, 0), EFAULT);
	CHECK_ERR(pread(dev, buffer, 16, -1), EINVAL);
	CHECK_ERR(pwrite(dev, buffer, 16, -1), EINVAL);

	/* Seeks stay within the shared buffer. */
	CHECK(lseek(dev, 0, SEEK_END) == PAGE);
	CHECK(lseek(dev, 10, SEEK_SET) == 10 && lseek(dev, 5, SEEK_CUR) == 15);
	CHECK_ERR(lseek(dev, PAGE + 1, SEEK_SET), EINVAL);
	CHECK_ERR(lseek(dev, -1, SEEK_SET), EINVAL);
	lseek(dev, 0, SEEK_SET);

	reset_shared(dev);
	free(buffer);
	free(expected);
}

static uint64_t xorshift(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/*
 * The errnos docs/module.md gives @cmd for what the fuzzer sends it: a device
 * opened O_RDWR, no signals, IMPORT only of the module's own buffer or of
 * fds that are not dma-bufs. Made-up commands get ENOTTY, nothing else.
 */
static int errno_documented(unsigned long cmd, int err)
{
	switch (cmd) {
	case DMABUF_EXPORTER_IOC_GET_SHARED_FD:
		return err == EFAULT || err == EDQUOT || err == ENOSPC || err == ENOMEM;
	case DMABUF_EXPORTER_IOC_ALLOC:
		return err == EFAULT || err == EINVAL || err == EFBIG || err == EDQUOT ||
		       err == ENOSPC || err == ENOMEM;
	case DMABUF_EXPORTER_IOC_IMPORT:
		return err == EFAULT || err == EBADF || err == EINVAL || err == ENOMEM;
	default:
		return err == ENOTTY;
	}
}

/* A returned fd must be one of the module's dma-bufs, of @size bytes, opened @fd_flags. */
static void check_returned_fd(int fd, long long size, int fd_flags, const char *what)
{
	char exp_name[64];

	CHECKF(fdinfo_get(fd, "exp_name", exp_name, sizeof(exp_name)) == 0 &&
	       !strcmp(exp_name, DMABUF_EXPORTER_DEVICE_NAME),
	       "%s returned fd %d, which is no dma-buf of the module", what, fd);
	CHECKF(buf_size(fd) == size, "%s returned a dma-buf of %lld bytes, asked for %lld",
	       what, buf_size(fd), size);
	CHECKF((fcntl(fd, F_GETFL) & O_ACCMODE) == (fd_flags & O_ACCMODE) &&
	       !(fcntl(fd, F_GETFD) & FD_CLOEXEC) == !(fd_flags & O_CLOEXEC),
	       "%s returned an fd opened %#x, asked for %#x", what, fcntl(fd, F_GETFL), fd_flags);
	close(fd);
}

/* What a successful IMPORT of the fuzzer's zero-filled @size-byte target must say. */
static void check_import(const struct dmabuf_exporter_import *in,
			 const struct dmabuf_exporter_import *out, long long size)
{
	static const unsigned char zeros[PAGE];
	uint64_t left = in->length ? in->length : size - in->offset;
	uint32_t crc = ~0U;

	for (; left; left -= left < PAGE ? left : PAGE)
		crc = crc32c_update(crc, zeros, left < PAGE ? left : PAGE);
	CHECKF(out->size == (uint64_t)size && out->crc32c == ~crc &&
	       !strcmp(out->exp_name, DMABUF_EXPORTER_DEVICE_NAME),
	       "IMPORT offset %llu length %llu: size %llu, crc32c %#x, exporter '%.32s'; expected %lld, %#x, '%s'",
	       (unsigned long long)in->offset, (unsigned long long)in->length,
	       (unsigned long long)out->size, out->crc32c, out->exp_name, size, ~crc,
	       DMABUF_EXPORTER_DEVICE_NAME);
}

/*
 * Random ioctls: real and made-up commands with random arguments. Only each
 * command's documented errnos may come back; every success is checked and
 * its fd closed again. The arguments are plausible often enough that a
 * module refusing everything fails: at least 1 in MIN_SUCCESS_RATE calls
 * succeed, and 1 in MIN_IMPORT_RATE are IMPORTs (seed 1 measured about 1 in
 * 12 and 1 in 120 over 20000 iterations on stock 6.1).
 */
#define MIN_SUCCESS_RATE 30
#define MIN_IMPORT_RATE 300
static void fuzz(int dev, uint64_t seed, long iterations)
{
	uint64_t state = seed ? seed : 1;
	int target = alloc_raw(dev, 8 * PAGE, O_RDWR, "", 1), closed = dup(target), pipes[2];
	int fds, import_fds[5];
	long successes = 0, imports = 0;

	/* IMPORT's fds: a dma-buf, a pipe, the device, a closed fd, stdin. */
	close(closed);
	CHECK(pipe(pipes) == 0);
	import_fds[0] = target;
	import_fds[1] = pipes[0];
	import_fds[2] = dev;
	import_fds[3] = closed;
	import_fds[4] = 0;
	fds = count_fds();

	for (long i = 0; i < iterations; i++) {
		union fuzz_arg {
			struct dmabuf_exporter_alloc alloc;
			struct dmabuf_exporter_import import;
			int fd;
			unsigned char bytes[sizeof(struct dmabuf_exporter_import)];
		} arg, sent;
		unsigned long cmd;
		void *pointer = &arg;
		uint64_t r = xorshift(&state);

		for (size_t b = 0; b < sizeof(arg); b += 8) {
			uint64_t word = xorshift(&state);

			memcpy(arg.bytes + b, &word, 8);
		}
		switch (r % 10) {
		case 8: case 9:
			cmd = DMABUF_EXPORTER_IOC_IMPORT;
			/* Mostly a real fd, zero flags and reserved fields, and small ranges. */
			if (r & 0x100)
				arg.import.fd = import_fds[(r >> 20) % 5 ? 0 : (r >> 24) % 5];
			if (r & 0x200) {
				arg.import.flags = 0;
				arg.import.reserved0 = 0;
				memset(arg.import.reserved, 0, sizeof(arg.import.reserved));
			}
			if (r & 0x400) {
				arg.import.offset = (r >> 28) % (10 * PAGE);
				arg.import.length = (r & 0x800) ? 0 : (r >> 44) % (10 * PAGE);
			}
			break;
		case 0: case 1: case 2:
			cmd = DMABUF_EXPORTER_IOC_ALLOC;
			/* Mostly plausible sizes and flags, so the success path is walked too. */
			if (r & 0x100)
				arg.alloc.size = (r >> 20) % (8 * PAGE);
			if (r & 0x200)
				arg.alloc.fd_flags = (r & 0x400) ? O_RDWR | O_CLOEXEC : O_RDONLY;
			if (r & 0x800) {
				size_t at = (r >> 12) % DMABUF_EXPORTER_NAME_LEN;

				memset(arg.alloc.name + at, 0, DMABUF_EXPORTER_NAME_LEN - at);
			}
			if (r & 0x1000) {
				arg.alloc.flags = 0;
				memset(arg.alloc.reserved, 0, sizeof(arg.alloc.reserved));
				arg.alloc.fd = (r & 0x2000) ? -1 : 0;
			}
			break;
		case 3:
			cmd = DMABUF_EXPORTER_IOC_GET_SHARED_FD;
			break;
		default:
			cmd = _IOC((r >> 8) & 3, (r >> 16) & 0xff, (r >> 24) & 0xff, (r >> 32) & 0x3f);
			/* The VFS answers these types itself, for every file. */
			if (strchr("TXf", _IOC_TYPE(cmd)) || _IOC_TYPE(cmd) == 0x94 ||
			    _IOC_TYPE(cmd) == 0x15 ||
			    cmd == DMABUF_EXPORTER_IOC_ALLOC || cmd == DMABUF_EXPORTER_IOC_GET_SHARED_FD ||
			    cmd == DMABUF_EXPORTER_IOC_IMPORT)
				continue;
			break;
		}
		switch ((r >> 40) % 8) {
		case 0: pointer = NULL; break;
		case 1: pointer = guard_page; break;
		case 2: pointer = KERNEL_ADDRESS; break;
		default: break;
		}

		sent = arg;
		if (ioctl(dev, cmd, pointer) == 0) {
			successes++;
			if (cmd == DMABUF_EXPORTER_IOC_ALLOC) {
				check_returned_fd(arg.alloc.fd,
						  (sent.alloc.size + PAGE - 1) / PAGE * PAGE,
						  sent.alloc.fd_flags, "ALLOC");
			} else if (cmd == DMABUF_EXPORTER_IOC_GET_SHARED_FD) {
				check_returned_fd(arg.fd, PAGE, O_RDWR | O_CLOEXEC, "GET_SHARED_FD");
			} else if (cmd == DMABUF_EXPORTER_IOC_IMPORT) {
				CHECKF(sent.import.fd == target, "IMPORT of fd %d succeeded", sent.import.fd);
				check_import(&sent.import, &arg.import, 8 * PAGE);
				imports++;
			} else {
				harness_fail(__FILE__, __LINE__, 0, "fuzzer seed %llu iteration %ld: the made-up cmd %#lx succeeded",
					     (unsigned long long)seed, i, cmd);
			}
			continue;
		}
		CHECKF(errno_documented(cmd, errno), "fuzzer seed %llu iteration %ld: cmd %#lx: an undocumented errno",
		       (unsigned long long)seed, i, cmd);
	}
	CHECK(count_fds() == fds);
	CHECK_EQ(our_attachments(), 0);
	CHECKF(successes >= iterations / MIN_SUCCESS_RATE && imports >= iterations / MIN_IMPORT_RATE,
	       "fuzzer seed %llu: %ld of %ld calls succeeded, %ld of them IMPORTs; a working module passes at least 1 in %d and 1 in %d",
	       (unsigned long long)seed, successes, iterations, imports, MIN_SUCCESS_RATE, MIN_IMPORT_RATE);
	close(target);
	close(pipes[0]);
	close(pipes[1]);
	printf("hostile: fuzzer seed %llu: %ld iterations, %ld succeeded (%ld imports)\n",
	       (unsigned long long)seed, iterations, successes, imports);
}

int main(int argc, char **argv)
{
	uint64_t seed = 1;
	long iterations = 20000;
	int opt, dev;

	while ((opt = getopt(argc, argv, "S:n:")) != -1) {
		switch (opt) {
		case 'S': seed = strtoull(optarg, NULL, 0); break;
		case 'n': iterations = strtol(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: %s [-S SEED] [-n ITERATIONS]\n", argv[0]);
			return 2;
		}
	}
	harness_init(argv[0]);
	dev = dev_open();
	setup_pages();
	test_pointers(dev);
	test_alloc_arguments(dev);
	test_import_arguments(dev);
	test_unknown_ioctls(dev);
	test_fds(dev);
	test_read_write(dev);
	fuzz(dev, seed, iterations);
	close(dev);
	printf("hostile: every case gave its documented result\n");
	return 0;
}
