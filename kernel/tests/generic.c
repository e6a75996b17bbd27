// SPDX-License-Identifier: GPL-2.0
/*
 * Generic dma-buf behaviour of the module's buffers: size, fdinfo, inodes,
 * mmap bounds and offsets, DMA_BUF_IOCTL_SYNC, sharing with a forked child,
 * DMA_BUF_SET_NAME, poll and sync-file export.
 */
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "harness.h"

#define NPAGES	8

static int dev;

static void check_fdinfo(int fd, unsigned long long size, const char *name)
{
	char v[128];

	CHECK(fdinfo_get(fd, "size", v, sizeof(v)) == 0);
	CHECKF(strtoull(v, NULL, 10) == size, "fdinfo size %s, want %llu", v, size);
	CHECK(fdinfo_get(fd, "exp_name", v, sizeof(v)) == 0);
	CHECKF(!strcmp(v, "dmabuf_exporter"), "fdinfo exp_name \"%s\"", v);
	if (name) {
		CHECK(fdinfo_get(fd, "name", v, sizeof(v)) == 0);
		CHECKF(!strcmp(v, name), "fdinfo name \"%s\", want \"%s\"", v, name);
	}
}

static void test_identity(void)
{
	struct stat st1, st2, st3;
	char *m1, *m2, text[DMABUF_EXPORTER_SHARED_SIZE];
	int fd1, fd2, fd3, s1, s2, rdev, mode;
	ssize_t n;

	SECTION("size, fdinfo and inodes");
	fd1 = must_alloc(dev, 5 * PAGE - 100, O_RDWR | O_CLOEXEC, "generic-test");
	CHECK_EQ(buf_size(fd1), 5 * PAGE);
	check_fdinfo(fd1, 5 * PAGE, "generic-test");
	fd2 = must_alloc(dev, PAGE, O_RDONLY | O_CLOEXEC,
			 "0123456789012345678901234567890");
	check_fdinfo(fd2, PAGE, "0123456789012345678901234567890");
	fd3 = dup(fd1);
	CHECK(fd3 >= 0);
	CHECK(fstat(fd1, &st1) == 0);
	CHECK(fstat(fd2, &st2) == 0);
	CHECK(fstat(fd3, &st3) == 0);
	CHECK(st1.st_ino != st2.st_ino);
	CHECK(st1.st_ino == st3.st_ino);
	CHECK(close(fd3) == 0);
	CHECK(close(fd2) == 0);
	CHECK(close(fd1) == 0);

	SECTION("shared buffer: a new dma-buf per call over the same memory");
	CHECK(ioctl(dev, DMABUF_EXPORTER_IOC_GET_SHARED_FD, &s1) == 0);
	CHECK(ioctl(dev, DMABUF_EXPORTER_IOC_GET_SHARED_FD, &s2) == 0);
	CHECK(fcntl(s1, F_GETFD) & FD_CLOEXEC);
	CHECK_EQ(fcntl(s1, F_GETFL) & O_ACCMODE, O_RDWR);
	check_fdinfo(s1, DMABUF_EXPORTER_SHARED_SIZE, NULL);
	CHECK_EQ(buf_size(s1), DMABUF_EXPORTER_SHARED_SIZE);
	CHECK(fstat(s1, &st1) == 0);
	CHECK(fstat(s2, &st2) == 0);
	CHECK(st1.st_ino != st2.st_ino);
	m1 = must_map(s1, PAGE, PROT_READ | PROT_WRITE, 0);
	m2 = must_map(s2, PAGE, PROT_READ | PROT_WRITE, 0);
	CHECK(m1 != m2);
	m1[PAGE - 1] = 'X';
	CHECK_EQ(m2[PAGE - 1], 'X');
	m2[PAGE - 1] = 'Y';
	CHECK_EQ(m1[PAGE - 1], 'Y');
	m1[PAGE - 1] = '\0';
	CHECK(munmap(m1, PAGE) == 0);
	CHECK(munmap(m2, PAGE) == 0);
	CHECK(close(s1) == 0);
	CHECK(close(s2) == 0);

	SECTION("shared buffer through a read-only open of the device");
	rdev = open(DEV_PATH, O_RDONLY | O_CLOEXEC);
	CHECK(rdev >= 0);
	CHECK(ioctl(rdev, DMABUF_EXPORTER_IOC_GET_SHARED_FD, &s1) == 0);
	mode = fcntl(s1, F_GETFL) & O_ACCMODE;
	printf("%s: shared fd from an O_RDONLY open is %s\n", harness_prog,
	       mode == O_RDONLY ? "O_RDONLY" : mode == O_RDWR ? "O_RDWR" : "?");
	CHECK(mode == O_RDONLY || mode == O_RDWR);
	if (mode == O_RDONLY)
		CHECK_ERR(mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, s1, 0),
			  EACCES);
	m1 = must_map(s1, PAGE, PROT_READ, 0);
	n = pread(dev, text, sizeof(text), 0);
	CHECK(n >= 0);
	CHECK(!memcmp(m1, text, n));
	CHECK(munmap(m1, PAGE) == 0);
	CHECK(close(s1) == 0);
	CHECK(close(rdev) == 0);
}

static void test_mmap(void)
{
	const size_t sz = NPAGES * PAGE;
	char *full, *p, *q;
	unsigned int k;
	int fd, status;
	pid_t pid;

	SECTION("mmap honours page offsets");
	fd = must_alloc(dev, sz, O_RDWR | O_CLOEXEC, NULL);
	full = must_map(fd, sz, PROT_READ | PROT_WRITE, 0);
	for (k = 0; k < NPAGES; k++)
		fill_pattern(full + k * PAGE, PAGE, 1000 + k);
	CHECK(munmap(full, sz) == 0);

	for (k = 0; k < NPAGES; k++) {
		p = must_map(fd, PAGE, PROT_READ, k * PAGE);
		CHECKF(check_pattern(p, PAGE, 1000 + k) < 0,
		       "page %u mapped at offset %lu shows other data", k, k * PAGE);
		CHECK(munmap(p, PAGE) == 0);
	}
	/* A window in the middle, read from its far end first. */
	p = must_map(fd, 3 * PAGE, PROT_READ | PROT_WRITE, 2 * PAGE);
	for (k = 3; k-- > 0;)
		CHECKF(check_pattern(p + k * PAGE, PAGE, 1002 + k) < 0,
		       "window page %u", k);
	/* Writes through the window land in the right page of the buffer. */
	full = must_map(fd, sz, PROT_READ | PROT_WRITE, 0);
	fill_pattern(p + PAGE, PAGE, 2003);
	CHECK(check_pattern(full + 3 * PAGE, PAGE, 2003) < 0);
	CHECK(check_pattern(full + 2 * PAGE, PAGE, 1002) < 0);
	CHECK(check_pattern(full + 4 * PAGE, PAGE, 1004) < 0);
	/* Punch a hole in the window; the rest stays mapped and right. */
	CHECK(munmap(p + PAGE, PAGE) == 0);
	CHECK(check_pattern(p, PAGE, 1002) < 0);
	CHECK(check_pattern(p + 2 * PAGE, PAGE, 1004) < 0);
	CHECK(munmap(p, PAGE) == 0);
	CHECK(munmap(p + 2 * PAGE, PAGE) == 0);
	/* MAP_SHARED_VALIDATE is MAP_SHARED with flag checking. */
	p = mmap(NULL, PAGE, PROT_READ, MAP_SHARED_VALIDATE, fd, 7 * PAGE);
	CHECK(p != MAP_FAILED);
	CHECK(check_pattern(p, PAGE, 1007) < 0);
	CHECK(munmap(p, PAGE) == 0);

	SECTION("mmap beyond the buffer or private: EINVAL");
	CHECK_ERR(mmap(NULL, sz + PAGE, PROT_READ, MAP_SHARED, fd, 0), EINVAL);
	CHECK_ERR(mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, sz), EINVAL);
	CHECK_ERR(mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, fd, sz - PAGE), EINVAL);
	CHECK_ERR(mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 100 * PAGE), EINVAL);
	CHECK_ERR(mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 1LL << 40), EINVAL);
	CHECK_ERR(mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0), EINVAL);
	CHECK_ERR(mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0), EINVAL);

	SECTION("mremap cannot expose memory past the end");
	p = must_map(fd, 2 * PAGE, PROT_READ | PROT_WRITE, sz - 2 * PAGE);
	q = mremap(p, 2 * PAGE, 3 * PAGE, MREMAP_MAYMOVE);
	if (q == MAP_FAILED) {
		printf("%s: growing mremap refused (errno %d), fine\n",
		       harness_prog, errno);
		CHECK(check_pattern(p + PAGE, PAGE, 1007) < 0);
		CHECK(munmap(p, 2 * PAGE) == 0);
	} else {
		CHECK(check_pattern(q + PAGE, PAGE, 1007) < 0);
		pid = fork();
		CHECK(pid >= 0);
		if (!pid) {
			volatile char c = q[2 * PAGE];

			(void)c;
			_exit(0);
		}
		CHECK(waitpid(pid, &status, 0) == pid);
		CHECKF(WIFSIGNALED(status) &&
		       (WTERMSIG(status) == SIGBUS || WTERMSIG(status) == SIGSEGV),
		       "touching a page past the buffer: status %#x", status);
		CHECK(munmap(q, 3 * PAGE) == 0);
	}

	CHECK(munmap(full, sz) == 0);
	CHECK(close(fd) == 0);
}

static long minor_faults(void)
{
	struct rusage ru;

	CHECK(getrusage(RUSAGE_SELF, &ru) == 0);
	return ru.ru_minflt;
}

static void test_fault_window(void)
{
	const size_t sz = 8 * MiB;
	volatile const char *p;
	long before, faults;
	unsigned long sum = 0;
	size_t off;
	int fd;

	SECTION("a sequential pass takes one fault per 2 MiB window");
	fd = must_alloc(dev, sz, O_RDWR | O_CLOEXEC, NULL);
	p = must_map(fd, sz, PROT_READ | PROT_WRITE, 0);
	before = minor_faults();
	for (off = 0; off < sz; off += PAGE)
		sum += p[off];
	faults = minor_faults() - before;
	printf("%s: %ld faults reading %zu MiB\n", harness_prog, faults, sz >> 20);
	CHECK_EQ(sum, 0);
	/* 4 windows; a little slack for faults outside the buffer. */
	CHECKF(faults <= 4 + 2, "%ld faults for 4 windows of 512 pages", faults);
	CHECK(munmap((void *)p, sz) == 0);
	CHECK(close(fd) == 0);
}

static void test_sync(void)
{
	static const unsigned long long good[] = {
		DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ,
		DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE,
		DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW,
		DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ,
		DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE,
		DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW,
	};
	static const unsigned long long bad[] = {
		0x100, DMA_BUF_SYNC_START, DMA_BUF_SYNC_END,
		DMA_BUF_SYNC_RW | 0x8, DMA_BUF_SYNC_RW | (1ULL << 63), ~0ULL,
	};
	unsigned int i;
	char *p;
	int fd;

	SECTION("DMA_BUF_IOCTL_SYNC");
	fd = must_alloc(dev, 4 * PAGE, O_RDWR | O_CLOEXEC, NULL);
	p = must_map(fd, 4 * PAGE, PROT_READ | PROT_WRITE, 0);
	for (i = 0; i < ARRAY_SIZE(good); i++)
		CHECKF(sync_buf(fd, good[i]) == 0, "flags %#llx", good[i]);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		errno = 0;
		CHECKF(sync_buf(fd, bad[i]) == -1 && errno == EINVAL,
		       "flags %#llx", bad[i]);
	}
	/* A bracketed CPU write reads back. */
	CHECK(sync_buf(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE) == 0);
	fill_pattern(p, 4 * PAGE, 77);
	CHECK(sync_buf(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE) == 0);
	CHECK(sync_buf(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ) == 0);
	CHECK(check_pattern(p, 4 * PAGE, 77) < 0);
	CHECK(sync_buf(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ) == 0);
	CHECK_ERR(ioctl(fd, DMA_BUF_IOCTL_SYNC, null_ptr), EFAULT);
	CHECK(munmap(p, 4 * PAGE) == 0);
	CHECK(close(fd) == 0);

	/* The shared buffer too. */
	CHECK(ioctl(dev, DMABUF_EXPORTER_IOC_GET_SHARED_FD, &fd) == 0);
	CHECK(sync_buf(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW) == 0);
	CHECK(sync_buf(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW) == 0);
	CHECK(close(fd) == 0);
}

static void test_fork(void)
{
	const size_t sz = 4 * PAGE;
	int fd, status;
	char *p;
	pid_t pid;

	SECTION("a forked child shares the buffer");
	fd = must_alloc(dev, sz, O_RDWR | O_CLOEXEC, NULL);
	p = must_map(fd, sz, PROT_READ | PROT_WRITE, 0);
	fill_pattern(p, sz, 6);
	pid = fork();
	CHECK(pid >= 0);
	if (!pid) {
		char *q;

		/* Sees the parent's data, writes through the inherited map. */
		if (check_pattern(p, sz, 6) >= 0)
			_exit(10);
		fill_pattern(p, 2 * PAGE, 7);
		/* And through a mapping of its own of the inherited fd. */
		q = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
			 fd, 2 * PAGE);
		if (q == MAP_FAILED)
			_exit(11);
		fill_pattern(q, 2 * PAGE, 8);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	       "child status %#x (10: did not see the parent's data, 11: mmap)",
	       status);
	CHECK(check_pattern(p, 2 * PAGE, 7) < 0);
	CHECK(check_pattern(p + 2 * PAGE, 2 * PAGE, 8) < 0);
	CHECK(munmap(p, sz) == 0);
	/* A fresh mapping in the parent sees the same. */
	p = must_map(fd, sz, PROT_READ, 0);
	CHECK(check_pattern(p, 2 * PAGE, 7) < 0);
	CHECK(check_pattern(p + 2 * PAGE, 2 * PAGE, 8) < 0);
	CHECK(munmap(p, sz) == 0);
	CHECK(close(fd) == 0);
}

static void test_set_name(void)
{
	char longname[DMA_BUF_NAME_LEN + 8];
	int fd;

	SECTION("DMA_BUF_SET_NAME");
	fd = must_alloc(dev, PAGE, O_RDWR | O_CLOEXEC, "before");
	check_fdinfo(fd, PAGE, "before");
	CHECK(ioctl(fd, DMA_BUF_SET_NAME_B, "after") == 0);
	check_fdinfo(fd, PAGE, "after");
	CHECK(ioctl(fd, DMA_BUF_SET_NAME, "again") == 0);
	check_fdinfo(fd, PAGE, "again");
	memset(longname, 'L', sizeof(longname));
	longname[sizeof(longname) - 1] = '\0';
	CHECK_ERR(ioctl(fd, DMA_BUF_SET_NAME_B, longname), EINVAL);
	check_fdinfo(fd, PAGE, "again");
	CHECK(close(fd) == 0);
	/* A buffer allocated without a name can be named. */
	fd = must_alloc(dev, PAGE, O_RDWR | O_CLOEXEC, NULL);
	CHECK(ioctl(fd, DMA_BUF_SET_NAME_B, "late") == 0);
	check_fdinfo(fd, PAGE, "late");
	CHECK(close(fd) == 0);
}

static void test_poll_and_sync_file(void)
{
	struct dma_buf_export_sync_file ex = { .flags = DMA_BUF_SYNC_RW, .fd = -1 };
	struct pollfd pfd;
	int fd;

	SECTION("poll and sync-file export on an idle buffer");
	fd = must_alloc(dev, PAGE, O_RDWR | O_CLOEXEC, NULL);
	pfd.fd = fd;
	pfd.events = POLLIN | POLLOUT;
	pfd.revents = 0;
	CHECK(poll(&pfd, 1, 0) == 1);
	CHECK_EQ(pfd.revents & (POLLIN | POLLOUT), POLLIN | POLLOUT);
	CHECK(ioctl(fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex) == 0);
	CHECK(ex.fd >= 0);
	pfd.fd = ex.fd;
	pfd.events = POLLIN;
	CHECK(poll(&pfd, 1, 0) == 1);	/* nothing pending: signalled */
	CHECK(close(ex.fd) == 0);
	CHECK(close(fd) == 0);
}

int main(int argc, char **argv)
{
	int fds_before;

	(void)argc;
	harness_init(argv[0]);
	fds_before = count_fds();
	dev = dev_open();

	test_identity();
	test_mmap();
	test_fault_window();
	test_sync();
	test_fork();
	test_set_name();
	test_poll_and_sync_file();

	CHECK(close(dev) == 0);
	CHECK_EQ(count_fds(), fds_before);
	printf("%s: OK\n", harness_prog);
	return 0;
}
