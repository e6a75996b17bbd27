// SPDX-License-Identifier: GPL-2.0
/*
 * Generic dma-buf behaviour of the module's buffers: size, fdinfo, inodes,
 * mmap bounds and offsets, faults, mprotect, mremap, madvise, pinning
 * (vmsplice, O_DIRECT, io_uring fixed buffers), DMA_BUF_IOCTL_SYNC, sharing with a forked child,
 * DMA_BUF_SET_NAME, poll and sync-file export, /proc/PID/mem (ptrace); and the device itself: a
 * reader stuck in a page fault holds nobody up, and threads sharing one fd
 * move its position in turn.
 *
 *   generic [TEST...]
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <linux/dma-heap.h>
#include <linux/io_uring.h>
#include <linux/loop.h>
#include <linux/userfaultfd.h>

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
	CHECK_EQ(mode, O_RDONLY);
	CHECK_ERR(mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, s1, 0), EACCES);
	m1 = must_map(s1, PAGE, PROT_READ, 0);
	CHECK_ERR(mprotect(m1, PAGE, PROT_READ | PROT_WRITE), EACCES);
	n = pread(dev, text, sizeof(text), 0);
	CHECK(n >= 0);
	CHECK(!memcmp(m1, text, n));
	CHECK(munmap(m1, PAGE) == 0);
	CHECK(close(s1) == 0);
	CHECK(close(rdev) == 0);

	SECTION("no shared fd through a write-only open of the device");
	rdev = open(DEV_PATH, O_WRONLY | O_CLOEXEC);
	CHECK(rdev >= 0);
	s1 = -1;
	CHECK_ERR(ioctl(rdev, DMABUF_EXPORTER_IOC_GET_SHARED_FD, &s1), EACCES);
	CHECK_EQ(s1, -1);
	CHECK(close(rdev) == 0);
}

static void test_mmap(void)
{
	const size_t sz = NPAGES * PAGE;
	char *full, *p, *q;
	unsigned int k;
	int fd;

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

	SECTION("mremap cannot grow a mapping (VM_DONTEXPAND): EFAULT");
	p = must_map(fd, 2 * PAGE, PROT_READ | PROT_WRITE, sz - 2 * PAGE);
	q = p;
	CHECK_ERR(mremap(p, 2 * PAGE, 3 * PAGE, MREMAP_MAYMOVE), EFAULT);
	CHECK_ERR(mremap(p, 2 * PAGE, 3 * PAGE, 0), EFAULT);
	CHECK(check_pattern(q + PAGE, PAGE, 1007) < 0);
	CHECK(munmap(p, 2 * PAGE) == 0);

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
	/* 4 page tables, 5 if the mapping is not 2 MiB-aligned; a little slack. */
	CHECKF(faults <= 5 + 2, "%ld faults for 8 MiB in windows of up to 512 pages", faults);
	CHECK(munmap((void *)p, sz) == 0);
	CHECK(close(fd) == 0);
}

/* @len bytes of address space, 2 MiB-aligned, reserved PROT_NONE. */
static char *reserve_aligned(size_t len)
{
	char *p = mmap(NULL, len + 2 * MiB, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *aligned;

	CHECK(p != MAP_FAILED);
	aligned = (char *)(((uintptr_t)p + 2 * MiB - 1) & ~(uintptr_t)(2 * MiB - 1));
	if (aligned > p)
		CHECK(munmap(p, aligned - p) == 0);
	CHECK(munmap(aligned + len, p + len + 2 * MiB - aligned - len) == 0);
	return aligned;
}

static void test_fault_window_boundaries(void)
{
	const size_t sz = 4 * MiB;
	char *base, *p;
	long before, faults;
	size_t off;
	int fd, k;

	SECTION("a window stops at the page table's end, and maps backwards too");
	fd = must_alloc(dev, sz, O_RDWR | O_CLOEXEC, NULL);
	p = must_map(fd, sz, PROT_READ | PROT_WRITE, 0);
	fill_pattern(p, sz, 55);
	CHECK(munmap(p, sz) == 0);
	/* 3 pages before a 2 MiB boundary, the rest after it. */
	base = reserve_aligned(8 * MiB);
	p = mmap(base + 2 * MiB - 3 * PAGE, sz, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
	CHECK(p == base + 2 * MiB - 3 * PAGE);
	before = minor_faults();
	for (k = 2; k >= 0; k--)	/* the first window, backwards: one fault */
		CHECKF(((volatile uint64_t *)p)[k * PAGE / 8] ==
		       pattern_word(55, k * PAGE / 8), "page %d", k);
	faults = minor_faults() - before;
	CHECKF(faults == 1, "%ld faults for the 3 pages before the boundary", faults);
	before = minor_faults();
	for (off = 3 * PAGE; off < sz; off += PAGE)
		CHECKF(((volatile uint64_t *)p)[off / 8] == pattern_word(55, off / 8),
		       "offset %zu", off);
	faults = minor_faults() - before;
	/* 2 MiB, then the last 2 MiB - 3 pages. */
	CHECKF(faults <= 2, "%ld faults for the rest", faults);
	CHECK(check_pattern(p, sz, 55) < 0);
	CHECK(munmap(p, sz) == 0);
	CHECK(close(fd) == 0);
}

static void test_first_fault_window(void)
{
	const size_t sz = 2 * MiB;
	volatile const char *p;
	long before;
	char *base;
	int fd;

	SECTION("a mapping's first fault maps 64 KiB, the next the rest of its page table");
	fd = must_alloc(dev, sz, O_RDWR | O_CLOEXEC, NULL);
	base = reserve_aligned(sz);
	p = mmap(base, sz, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
	CHECK(p == base);
	before = minor_faults();
	(void)p[0];
	CHECKF(minor_faults() - before == 1, "first page: %ld faults", minor_faults() - before);
	before = minor_faults();
	(void)p[64 * KiB - PAGE];
	CHECKF(minor_faults() - before == 0, "last page of the first 64 KiB: %ld faults",
	       minor_faults() - before);
	(void)p[64 * KiB];
	CHECKF(minor_faults() - before == 1, "the page after it: %ld faults", minor_faults() - before);
	before = minor_faults();
	(void)p[sz - PAGE];
	CHECKF(minor_faults() - before == 0, "last page: %ld faults", minor_faults() - before);
	CHECK(munmap(base, sz) == 0);
	CHECK(close(fd) == 0);
}

struct toucher {
	const char *map;
	size_t len, start;
	long long bad;
};

static void *touch_all(void *arg)
{
	struct toucher *t = arg;
	size_t i, off;

	t->bad = -1;
	for (i = 0; i < t->len; i += PAGE) {
		off = (t->start + i) % t->len;
		if (((const volatile uint64_t *)t->map)[off / 8] != pattern_word(66, off / 8)) {
			t->bad = off;
			break;
		}
	}
	return NULL;
}

static void test_concurrent_faults(void)
{
	const size_t sz = 4 * MiB;
	struct toucher t[4];
	pthread_t tids[4];
	unsigned int round, i;
	char *p;
	int fd;

	SECTION("threads faulting the same windows at once see the right pages");
	fd = must_alloc(dev, sz, O_RDWR | O_CLOEXEC, NULL);
	p = must_map(fd, sz, PROT_READ | PROT_WRITE, 0);
	fill_pattern(p, sz, 66);
	CHECK(munmap(p, sz) == 0);
	for (round = 0; round < 20; round++) {
		p = must_map(fd, sz, PROT_READ, 0);
		for (i = 0; i < ARRAY_SIZE(t); i++) {
			t[i] = (struct toucher){ p, sz, (round * 7 + i * 129) * PAGE % sz, -1 };
			CHECK(pthread_create(&tids[i], NULL, touch_all, &t[i]) == 0);
		}
		for (i = 0; i < ARRAY_SIZE(t); i++) {
			CHECK(pthread_join(tids[i], NULL) == 0);
			CHECKF(t[i].bad < 0, "round %u thread %u: wrong data at %lld",
			       round, i, t[i].bad);
		}
		CHECK(munmap(p, sz) == 0);
	}
	CHECK(close(fd) == 0);
}

/* Run @fn(@arg) in a child; returns the signal that killed it, or 0. */
static int child_signal(void (*fn)(void *), void *arg)
{
	int status;
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (!pid) {
		fn(arg);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

static void write_first_byte(void *p)
{
	*(volatile char *)p = 1;
}

static void test_mprotect_mremap_madvise(void)
{
	const size_t sz = 8 * PAGE;
	char *p, *q, *target;
	int fd;

	SECTION("mprotect: a read-only view faults on write, a writable one writes");
	fd = must_alloc(dev, sz, O_RDWR | O_CLOEXEC, NULL);
	p = must_map(fd, sz, PROT_READ, 0);
	CHECK_EQ(child_signal(write_first_byte, p), SIGSEGV);
	CHECK(mprotect(p, sz, PROT_READ | PROT_WRITE) == 0);
	fill_pattern(p, sz, 88);
	CHECK(mprotect(p, sz, PROT_READ) == 0);
	CHECK_EQ(child_signal(write_first_byte, p + PAGE), SIGSEGV);
	CHECK(check_pattern(p, sz, 88) < 0);
	CHECK(mprotect(p, sz, PROT_NONE) == 0);
	CHECK_EQ(child_signal(write_first_byte, p), SIGSEGV);
	CHECK(mprotect(p, sz, PROT_READ) == 0);
	CHECK(check_pattern(p, sz, 88) < 0);

	SECTION("mremap moves a mapping, mapped pages and unmapped ones alike");
	target = reserve_aligned(2 * MiB);
	q = mremap(p, sz, sz, MREMAP_MAYMOVE | MREMAP_FIXED, target + PAGE);
	CHECK(q == target + PAGE);
	CHECK(check_pattern(q, sz, 88) < 0);
	CHECK(munmap(q, sz) == 0);
	p = must_map(fd, sz, PROT_READ, 0);	/* nothing faulted yet */
	q = mremap(p, sz, sz, MREMAP_MAYMOVE | MREMAP_FIXED, target + 5 * PAGE);
	CHECK(q == target + 5 * PAGE);
	CHECK(check_pattern(q, sz, 88) < 0);

	SECTION("MADV_DONTNEED is refused on a PFN mapping (EINVAL); the data stays");
	CHECK_ERR(madvise(q, sz, MADV_DONTNEED), EINVAL);
	CHECK(check_pattern(q, sz, 88) < 0);
	/* Unmapping part of it and mapping it again faults it back in. */
	CHECK(munmap(q + 2 * PAGE, 2 * PAGE) == 0);
	CHECK(mmap(q + 2 * PAGE, 2 * PAGE, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 2 * PAGE) ==
	      q + 2 * PAGE);
	CHECK(check_pattern(q, sz, 88) < 0);
	CHECK(munmap(q, sz) == 0);
	CHECK(close(fd) == 0);
}

/* ---- pinning: get_user_pages() must not get the pages ---- */

/* vmsplice of @p into a pipe: 0, or the errno. */
static int try_vmsplice(void *p)
{
	struct iovec iov = { .iov_base = p, .iov_len = PAGE };
	int pipes[2], err = 0;

	CHECK(pipe2(pipes, O_CLOEXEC) == 0);
	if (vmsplice(pipes[1], &iov, 1, 0) < 0)
		err = errno;
	CHECK(close(pipes[0]) == 0);
	CHECK(close(pipes[1]) == 0);
	return err;
}

/*
 * A loop device over a file of 1 MiB opened with O_DIRECT, so that a read
 * pins its destination pages; -1 if this guest cannot make one.
 */
static int open_direct_device(void)
{
	char path[64], file[] = "/tmp/generic-direct-XXXXXX";
	struct loop_config config;
	int ctl, backing, loopfd, n, fd;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0 && system("modprobe loop 2>/dev/null") == 0)
		ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -1;
	backing = mkostemp(file, O_CLOEXEC);
	CHECK(backing >= 0);
	CHECK(unlink(file) == 0);
	CHECK(ftruncate(backing, 1 * MiB) == 0);
	n = ioctl(ctl, LOOP_CTL_GET_FREE);
	CHECK(n >= 0);
	CHECK(close(ctl) == 0);
	snprintf(path, sizeof(path), "/dev/loop%d", n);
	loopfd = open(path, O_RDWR | O_CLOEXEC);
	CHECKF(loopfd >= 0, "open %s", path);
	memset(&config, 0, sizeof(config));
	config.fd = backing;
	config.info.lo_flags = LO_FLAGS_AUTOCLEAR;
	CHECK(ioctl(loopfd, LOOP_CONFIGURE, &config) == 0);
	CHECK(close(backing) == 0);
	fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	CHECKF(fd >= 0, "open %s O_DIRECT", path);
	CHECK(close(loopfd) == 0);
	return fd;
}

/* O_DIRECT read into @p: 0, or the errno. */
static int try_direct_read(int direct, void *p)
{
	return pread(direct, p, PAGE, 0) == (ssize_t)PAGE ? 0 : errno;
}

/* Registering @p as an io_uring fixed buffer: 0, or the errno. */
static int try_fixed_buffer(void *p)
{
	struct io_uring_params params;
	struct iovec iov = { .iov_base = p, .iov_len = PAGE };
	int ring, err = 0;

	memset(&params, 0, sizeof(params));
	ring = syscall(SYS_io_uring_setup, 1, &params);
	CHECKF(ring >= 0, "%s", "io_uring_setup");
	if (syscall(SYS_io_uring_register, ring, IORING_REGISTER_BUFFERS, &iov, 1))
		err = errno;
	CHECK(close(ring) == 0);
	return err;
}

/* A page of the system DMA heap (6.12), mapped; NULL where there is none. */
static void *system_heap_page(int *fd)
{
	struct dma_heap_allocation_data data = {
		.len = PAGE, .fd_flags = O_RDWR | O_CLOEXEC,
	};
	int heap = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);

	if (heap < 0)
		return NULL;
	CHECK(ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &data) == 0);
	CHECK(close(heap) == 0);
	*fd = data.fd;
	return must_map(data.fd, PAGE, PROT_READ | PROT_WRITE, 0);
}

static void test_no_pinning(void)
{
	int fd, heap_fd = -1, direct, err, heap_err;
	void *anon, *ours, *heap;

	SECTION("vmsplice, io_uring and O_DIRECT cannot pin the pages (like the system heap's)");
	anon = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(anon != MAP_FAILED);
	memset(anon, 1, PAGE);
	fd = must_alloc(dev, PAGE, O_RDWR | O_CLOEXEC, NULL);
	ours = must_map(fd, PAGE, PROT_READ | PROT_WRITE, 0);
	memset(ours, 2, PAGE);
	heap = system_heap_page(&heap_fd);

	/* The control: anonymous memory can be pinned. */
	CHECK_EQ(try_vmsplice(anon), 0);
	err = try_vmsplice(ours);
	printf("%s: vmsplice of our mapping: %s\n", harness_prog, strerror(err));
	CHECK_EQ(err, EFAULT);
	if (heap) {
		heap_err = try_vmsplice(heap);
		printf("%s: vmsplice of a system-heap mapping: %s\n", harness_prog,
		       strerror(heap_err));
		CHECK_EQ(err, heap_err);
	}

	CHECK_EQ(try_fixed_buffer(anon), 0);
	err = try_fixed_buffer(ours);
	printf("%s: io_uring fixed buffer of our mapping: %s\n", harness_prog, strerror(err));
	CHECK_EQ(err, EFAULT);
	if (heap)
		CHECK_EQ(try_fixed_buffer(heap), err);

	direct = open_direct_device();
	if (direct < 0) {
		printf("%s: no loop device in this guest: O_DIRECT not checked\n", harness_prog);
	} else {
		CHECK_EQ(try_direct_read(direct, anon), 0);
		err = try_direct_read(direct, ours);
		printf("%s: O_DIRECT read into our mapping: %s\n", harness_prog, strerror(err));
		CHECK_EQ(err, EFAULT);
		if (heap) {
			heap_err = try_direct_read(direct, heap);
			printf("%s: O_DIRECT read into a system-heap mapping: %s\n",
			       harness_prog, strerror(heap_err));
			CHECK_EQ(err, heap_err);
		}
		CHECK(close(direct) == 0);
	}
	/* The failed attempts changed nothing. */
	CHECK(((char *)ours)[0] == 2 && ((char *)ours)[PAGE - 1] == 2);
	if (heap) {
		CHECK(munmap(heap, PAGE) == 0);
		CHECK(close(heap_fd) == 0);
	}
	CHECK(munmap(ours, PAGE) == 0);
	CHECK(close(fd) == 0);
	CHECK(munmap(anon, PAGE) == 0);
}

/* ---- the device: a reader stuck in a page fault holds nobody up ---- */

struct stuck_reader {
	char *page;
	ssize_t result;
};

static void *read_into(void *arg)
{
	struct stuck_reader *r = arg;

	r->result = pread(dev, r->page, PAGE, 0);
	return NULL;
}

/* Wait up to @ms for @pid; true if it exited with status 0 in time. */
static int exited_within(pid_t pid, unsigned int ms, int *done)
{
	double deadline = now_sec() + ms / 1e3;
	int status;

	*done = 0;
	while (now_sec() < deadline) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		CHECK(r >= 0);
		if (r == pid) {
			*done = 1;
			return WIFEXITED(status) && WEXITSTATUS(status) == 0;
		}
		sleep_ms(10);
	}
	return 0;
}

static void write_a_byte(void)
{
	int d = dev_open();

	_exit(pwrite(d, "", 1, PAGE - 1) == 1 ? 0 : 1);
}

static void take_and_release_shared(void)
{
	int d = dev_open(), fd;

	if (ioctl(d, DMABUF_EXPORTER_IOC_GET_SHARED_FD, &fd))
		_exit(1);
	_exit(close(fd) || close(d) ? 1 : 0);
}

static void test_reader_holds_nobody(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;
	struct uffdio_zeropage zero;
	struct stuck_reader r;
	struct uffd_msg msg;
	struct pollfd pfd;
	pthread_t reader;
	int uffd, writer_ok, writer_done, releaser_ok, releaser_done;
	pid_t writer, releaser;

	SECTION("a read() stuck in a page fault holds up no write() and no release");
	uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0 && errno == ENOSYS) {
		/* The debug kernel's minimal config has no CONFIG_USERFAULTFD. */
		printf("%s: SKIP: this kernel has no userfaultfd\n", harness_prog);
		return;
	}
	CHECKF(uffd >= 0, "%s", "userfaultfd");
	CHECK(ioctl(uffd, UFFDIO_API, &api) == 0);
	r.page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(r.page != MAP_FAILED);
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uintptr_t)r.page;
	reg.range.len = PAGE;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	CHECK(ioctl(uffd, UFFDIO_REGISTER, &reg) == 0);

	CHECK(pthread_create(&reader, NULL, read_into, &r) == 0);
	/* The reader is in the fault once userfaultfd reports it. */
	pfd.fd = uffd;
	pfd.events = POLLIN;
	CHECKF(poll(&pfd, 1, 5000) == 1, "%s", "the reader did not fault on its page");
	CHECK(read(uffd, &msg, sizeof(msg)) == sizeof(msg));
	CHECK_EQ(msg.event, UFFD_EVENT_PAGEFAULT);

	writer = fork();
	CHECK(writer >= 0);
	if (!writer)
		write_a_byte();
	releaser = fork();
	CHECK(releaser >= 0);
	if (!releaser)
		take_and_release_shared();
	writer_ok = exited_within(writer, 1000, &writer_done);
	releaser_ok = exited_within(releaser, 1000, &releaser_done);

	/* Only now let the reader go. */
	memset(&zero, 0, sizeof(zero));
	zero.range.start = (uintptr_t)r.page;
	zero.range.len = PAGE;
	CHECK(ioctl(uffd, UFFDIO_ZEROPAGE, &zero) == 0);
	CHECK(pthread_join(reader, NULL) == 0);
	if (!writer_done)
		CHECK(waitpid(writer, NULL, 0) == writer);
	if (!releaser_done)
		CHECK(waitpid(releaser, NULL, 0) == releaser);
	CHECKF(writer_ok, "write() from another process: %s",
	       writer_done ? "failed" : "still blocked after 1 s");
	CHECKF(releaser_ok, "GET_SHARED_FD and close in another process: %s",
	       releaser_done ? "failed" : "still blocked after 1 s");
	CHECK(r.result > 0);
	CHECK(munmap(r.page, PAGE) == 0);
	CHECK(close(uffd) == 0);
}

/* ---- the device: one fd, several threads ---- */

static atomic_int pos_errors;

static void *write_bytes(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 1000; i++)
		if (write(dev, "p", 1) != 1)
			atomic_fetch_add(&pos_errors, 1);
	return NULL;
}

static void test_atomic_position(void)
{
	static const char text[] = DMABUF_EXPORTER_SHARED_TEXT;
	pthread_t tids[4];
	unsigned int round, i;
	off_t pos;

	SECTION("threads writing through one fd each advance its position");
	for (round = 0; round < 10; round++) {
		CHECK(lseek(dev, 0, SEEK_SET) == 0);
		for (i = 0; i < ARRAY_SIZE(tids); i++)
			CHECK(pthread_create(&tids[i], NULL, write_bytes, NULL) == 0);
		for (i = 0; i < ARRAY_SIZE(tids); i++)
			CHECK(pthread_join(tids[i], NULL) == 0);
		pos = lseek(dev, 0, SEEK_CUR);
		CHECKF(pos == 4000 && !atomic_load(&pos_errors),
		       "round %u: position %lld after 4 x 1000 one-byte writes, %d failed",
		       round, (long long)pos, atomic_load(&pos_errors));
	}
	CHECK(pwrite(dev, text, sizeof(text), 0) == sizeof(text));
	CHECK(lseek(dev, 0, SEEK_SET) == 0);
}

/*
 * What gdb and ptrace do: /proc/PID/mem reaches a VM_PFNMAP mapping only
 * through vm_operations_struct.access.
 */
static void test_proc_mem(void)
{
	const size_t sz = NPAGES * PAGE;
	int fd = must_alloc(dev, sz, O_RDWR | O_CLOEXEC, NULL), ro, mem;
	char *p = must_map(fd, sz, PROT_READ | PROT_WRITE, 0), *buf = malloc(sz), *q;

	SECTION("/proc/self/mem reads and writes a mapping, also across pages");
	CHECK(buf != NULL);
	mem = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	CHECK(mem >= 0);
	fill_pattern(p, sz, 21);
	CHECKF(pread(mem, buf, sz, (off_t)(uintptr_t)p) == (ssize_t)sz, "%s",
	       "pread of /proc/self/mem at the mapping");
	CHECK(!memcmp(buf, p, sz));
	CHECK(pread(mem, buf, 100, (off_t)(uintptr_t)(p + PAGE - 50)) == 100);
	CHECK(!memcmp(buf, p + PAGE - 50, 100));
	CHECK(pwrite(mem, "ptrace", 6, (off_t)(uintptr_t)(p + 2 * PAGE - 3)) == 6);
	CHECK(!memcmp(p + 2 * PAGE - 3, "ptrace", 6));
	/* The offset of a mapping counts: its first page is the buffer's third. */
	q = must_map(fd, PAGE, PROT_READ, 2 * PAGE);
	CHECK(pread(mem, buf, 8, (off_t)(uintptr_t)q) == 8);
	CHECK(!memcmp(buf, p + 2 * PAGE, 8));

	SECTION("... but does not write through a read-only mapping");
	CHECK_ERR(pwrite(mem, "x", 1, (off_t)(uintptr_t)q), EIO);
	CHECK(munmap(q, PAGE) == 0);
	ro = must_alloc(dev, PAGE, O_RDONLY | O_CLOEXEC, NULL);
	q = must_map(ro, PAGE, PROT_READ, 0);
	CHECK(pread(mem, buf, PAGE, (off_t)(uintptr_t)q) == PAGE);
	CHECK_EQ(check_zero(buf, PAGE), -1);
	CHECK_ERR(pwrite(mem, "x", 1, (off_t)(uintptr_t)q), EIO);
	CHECK(q[0] == 0);
	CHECK(munmap(q, PAGE) == 0);
	CHECK(close(ro) == 0);
	CHECK(close(mem) == 0);
	CHECK(munmap(p, sz) == 0);
	CHECK(close(fd) == 0);
	free(buf);
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

static void setup(void)
{
	dev = dev_open();
}

static void teardown(void)
{
	CHECK(close(dev) == 0);
}

static const struct harness_test tests[] = {
	HARNESS_TEST(test_identity),
	HARNESS_TEST(test_mmap),
	HARNESS_TEST(test_fault_window),
	HARNESS_TEST(test_fault_window_boundaries),
	HARNESS_TEST(test_first_fault_window),
	HARNESS_TEST(test_concurrent_faults),
	HARNESS_TEST(test_mprotect_mremap_madvise),
	HARNESS_TEST(test_no_pinning),
	HARNESS_TEST(test_reader_holds_nobody),
	HARNESS_TEST(test_atomic_position),
	HARNESS_TEST(test_proc_mem),
	HARNESS_TEST(test_sync),
	HARNESS_TEST(test_fork),
	HARNESS_TEST(test_set_name),
	HARNESS_TEST(test_poll_and_sync_file),
};

int main(int argc, char **argv)
{
	return harness_main(argc, argv, setup, teardown, tests, ARRAY_SIZE(tests));
}
