// SPDX-License-Identifier: GPL-2.0
/*
 * DMABUF_EXPORTER_IOC_ALLOC: sizes, argument validation (reserved input must
 * be zero), errnos, zero-filled memory, fd flags and access modes, and the
 * four byte quotas, also under concurrent requests. Every failing call is
 * checked not to leave an fd (or a quota charge) behind.
 *
 *   alloc [TEST...]
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "harness.h"

static int dev;

/* ALLOC must fail with @err and leave the fd table as it was. */
#define CHECK_ALLOC_FAILS(size, flags, name, err) do {			\
	int n_ = count_fds();						\
	CHECK_ERR(try_alloc(dev, (size), (flags), (name)), (err));	\
	CHECK_EQ(count_fds(), n_);					\
} while (0)

static void test_sizes(void)
{
	static const struct { unsigned long long size, want; } cases[] = {
		{ 1, PAGE },
		{ PAGE - 1, PAGE },
		{ PAGE, PAGE },
		{ PAGE + 1, 2 * PAGE },
		{ 1 * MiB + 1, 1 * MiB + PAGE },
		{ 64 * MiB, 64 * MiB },
	};
	unsigned int i;

	SECTION("sizes round up to pages");
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		unsigned long long sz = cases[i].want, off;
		int fd = must_alloc(dev, cases[i].size, O_RDWR | O_CLOEXEC, NULL);
		uint64_t *p;

		CHECK_EQ(buf_size(fd), sz);
		p = must_map(fd, sz, PROT_READ | PROT_WRITE, 0);
		/* Fresh memory is zero: every 512th byte of big buffers. */
		if (sz <= 4 * MiB)
			CHECKF(check_zero(p, sz) < 0, "size %llu not zero at %lld",
			       sz, check_zero(p, sz));
		else
			for (off = 0; off < sz / 8; off += 64)
				CHECKF(!p[off], "size %llu not zero at %llu", sz, off * 8);
		/* First and last page are writable and read back. */
		fill_pattern((char *)p + sz - PAGE, PAGE, i + 100);
		CHECK(check_pattern((char *)p + sz - PAGE, PAGE, i + 100) < 0);
		if (sz > PAGE) {
			fill_pattern(p, PAGE, i);
			CHECK(check_pattern(p, PAGE, i) < 0);
			CHECK(check_pattern((char *)p + sz - PAGE, PAGE, i + 100) < 0);
		}
		CHECK(munmap(p, sz) == 0);
		CHECK(close(fd) == 0);
	}
}

static void test_bad_sizes(void)
{
	SECTION("size 0: EINVAL; too large: EFBIG");
	CHECK_ALLOC_FAILS(0, O_RDWR, NULL, EINVAL);
	CHECK_ALLOC_FAILS(~0ULL, O_RDWR, NULL, EFBIG);
	CHECK_ALLOC_FAILS(~0ULL - PAGE + 2, O_RDWR, NULL, EFBIG); /* rounding wraps */
	CHECK_ALLOC_FAILS(1ULL << 62, O_RDWR, NULL, EFBIG);
	CHECK_ALLOC_FAILS(1ULL << 63, O_RDWR, NULL, EFBIG);
	CHECK_ALLOC_FAILS(param_get("max_buffer_bytes") + 1, O_RDWR, NULL, EFBIG);

	/* A dma-buf is a file: no larger than MAX_LFS_FILESIZE, whatever the limit. */
	SECTION("larger than MAX_LFS_FILESIZE: EFBIG, with max_buffer_bytes unlimited");
	param_save("max_buffer_bytes");
	param_set("max_buffer_bytes", ~0ULL);
	CHECK_ALLOC_FAILS((1ULL << 63), O_RDWR, NULL, EFBIG);
	CHECK_ALLOC_FAILS(~0ULL, O_RDWR, NULL, EFBIG);
	param_reset("max_buffer_bytes");
}

/* Pages the kernel has allocated since boot, in every zone (/proc/vmstat pgalloc_*). */
static unsigned long long pages_allocated(void)
{
	FILE *f = fopen("/proc/vmstat", "re");
	unsigned long long value, sum = 0;
	char name[64];

	CHECKF(f != NULL, "%s", "/proc/vmstat");
	while (fscanf(f, "%63s %llu", name, &value) == 2)
		if (!strncmp(name, "pgalloc_", 8))
			sum += value;
	fclose(f);
	return sum;
}

/*
 * SIGKILL ends a large ALLOC early: the module checks for a fatal signal
 * after every run of pages. A child is killed once the kernel has allocated
 * a sixteenth of an ALLOC of max_buffer_bytes since it started, and in all
 * the kernel must have allocated less than half of it: a module that
 * finished the allocation before noticing would have allocated all of it.
 * The child's open file (shared with the parent) gets the charge back.
 */
static void test_killed_during_alloc(void)
{
	unsigned long long size = param_get("max_buffer_bytes"), pages = size / PAGE, before, allocated;
	double deadline = now_sec() + 60;
	int fd, ready[2], status;
	pid_t pid;
	char c;

	SECTION("SIGKILL during a large ALLOC ends it early, with nothing charged");
	param_save("max_file_bytes");
	param_set("max_file_bytes", size);
	CHECK(pipe(ready) == 0);
	before = pages_allocated();
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		CHECK(write(ready[1], "", 1) == 1);
		try_alloc(dev, size, O_RDWR | O_CLOEXEC, NULL);
		_exit(0);	/* not exit(): its atexit handler would restore the parameters */
	}
	CHECK(read(ready[0], &c, 1) == 1);
	while (pages_allocated() - before < pages / 16) {
		CHECKF(waitpid(pid, &status, WNOHANG) == 0 && now_sec() < deadline,
		       "the child's ALLOC of %llu MiB allocated no sixteenth of it", size / MiB);
		sleep_ms(1);	/* a poll interval, not what is checked */
	}
	CHECK(kill(pid, SIGKILL) == 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	allocated = pages_allocated() - before;
	printf("%s: killed during an ALLOC of %llu pages, the kernel had allocated %llu in all\n",
	       harness_prog, pages, allocated);
	CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	       "the child was not killed in its ALLOC (status %#x)", status);
	CHECKF(allocated < pages / 2, "%llu of the ALLOC's %llu pages allocated: it went on after SIGKILL",
	       allocated, pages);
	CHECK(close(ready[0]) == 0);
	CHECK(close(ready[1]) == 0);
	fd = must_alloc(dev, size, O_RDWR | O_CLOEXEC, NULL);
	CHECK(close(fd) == 0);
	param_reset("max_file_bytes");
}

static void test_bad_flags(void)
{
	static const unsigned int bad[] = {
		O_WRONLY, O_RDWR | O_WRONLY, O_WRONLY | O_CLOEXEC,
		O_RDWR | O_NONBLOCK, O_RDONLY | O_NONBLOCK,
		O_RDWR | O_APPEND, O_RDWR | O_CREAT, O_RDWR | O_TRUNC,
		O_RDWR | O_SYNC, O_RDWR | 0100000 /* kernel O_LARGEFILE */,
		O_RDWR | O_CLOEXEC | O_NONBLOCK, 0x80000000u, O_RDWR | 0x40000000u,
		0xffffffffu, 0x4,
	};
	unsigned int i;

	SECTION("unknown fd_flags: EINVAL");
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		int n = count_fds();

		errno = 0;
		CHECKF(try_alloc(dev, PAGE, bad[i], NULL) == -1 && errno == EINVAL,
		       "fd_flags %#x", bad[i]);
		CHECK_EQ(count_fds(), n);
	}
}

static void test_names(void)
{
	struct dmabuf_exporter_alloc a;
	int n = count_fds(), fd;

	SECTION("name must be NUL-terminated within 32 bytes");
	memset(&a, 0, sizeof(a));
	a.size = PAGE;
	a.fd_flags = O_RDWR;
	memset(a.name, 'N', sizeof(a.name));
	CHECK_ERR(ioctl(dev, DMABUF_EXPORTER_IOC_ALLOC, &a), EINVAL);
	CHECK_EQ(count_fds(), n);

	a.name[sizeof(a.name) - 1] = '\0';	/* 31 characters: fine */
	CHECK(ioctl(dev, DMABUF_EXPORTER_IOC_ALLOC, &a) == 0);
	CHECK(a.fd >= 0);
	CHECK(close(a.fd) == 0);

	/* Bytes after the NUL must be zero, so the field can grow a meaning. */
	memset(a.name, 'x', sizeof(a.name));
	a.name[0] = '\0';
	CHECK_ERR(ioctl(dev, DMABUF_EXPORTER_IOC_ALLOC, &a), EINVAL);
	memset(a.name, 0, sizeof(a.name));
	strcpy(a.name, "tail");
	a.name[sizeof(a.name) - 1] = 'x';
	CHECK_ERR(ioctl(dev, DMABUF_EXPORTER_IOC_ALLOC, &a), EINVAL);
	a.name[sizeof(a.name) - 1] = '\0';
	a.fd = -1;
	CHECK(ioctl(dev, DMABUF_EXPORTER_IOC_ALLOC, &a) == 0);
	CHECK(close(a.fd) == 0);
	CHECK_EQ(count_fds(), n);

	fd = must_alloc(dev, PAGE, O_RDWR, "short");
	CHECK(close(fd) == 0);
	CHECK_EQ(count_fds(), n);
}

static void test_reserved_input(void)
{
	static const int bad_fds[] = { 1, 2, 3, 1000, -2, 0x7fffffff, (int)0x80000000 };
	struct dmabuf_exporter_alloc a;
	unsigned int i, bit;
	int n = count_fds();

	SECTION("flags, reserved and an input fd other than 0 or -1: EINVAL");
	memset(&a, 0, sizeof(a));
	a.size = PAGE;
	a.fd_flags = O_RDWR | O_CLOEXEC;
	for (bit = 0; bit < 64; bit++) {
		a.flags = 1ULL << bit;
		CHECKF(ioctl(dev, DMABUF_EXPORTER_IOC_ALLOC, &a) == -1 && errno == EINVAL,
		       "flags %#llx", (unsigned long long)a.flags);
	}
	a.flags = 0;
	for (i = 0; i < ARRAY_SIZE(a.reserved); i++) {
		for (bit = 0; bit < 64; bit += 7) {
			a.reserved[i] = 1ULL << bit;
			CHECKF(ioctl(dev, DMABUF_EXPORTER_IOC_ALLOC, &a) == -1 && errno == EINVAL,
			       "reserved[%u] %#llx", i, (unsigned long long)a.reserved[i]);
		}
		a.reserved[i] = 0;
	}
	for (i = 0; i < ARRAY_SIZE(bad_fds); i++) {
		a.fd = bad_fds[i];
		CHECKF(ioctl(dev, DMABUF_EXPORTER_IOC_ALLOC, &a) == -1 && errno == EINVAL,
		       "input fd %d", bad_fds[i]);
		CHECK_EQ(a.fd, bad_fds[i]);	/* left alone on failure */
	}
	CHECK_EQ(count_fds(), n);

	SECTION("an input fd of 0 or -1 is fine and replaced by the new fd");
	a.fd = 0;
	CHECK(ioctl(dev, DMABUF_EXPORTER_IOC_ALLOC, &a) == 0);
	CHECK(a.fd > 0);
	CHECK(close(a.fd) == 0);
	a.fd = -1;
	CHECK(ioctl(dev, DMABUF_EXPORTER_IOC_ALLOC, &a) == 0);
	CHECK(a.fd >= 0);
	CHECK(close(a.fd) == 0);
	CHECK_EQ(count_fds(), n);
}

static void test_efault(void)
{
	struct dmabuf_exporter_alloc a = { .size = 1 * MiB, .fd_flags = O_RDWR };
	void *ro = readonly_page(&a, sizeof(a));
	int n = count_fds(), i, fd, shared, dev2;

	SECTION("bad argument pointers: EFAULT, nothing installed or charged");
	CHECK_ERR(ioctl(dev, DMABUF_EXPORTER_IOC_ALLOC, null_ptr), EFAULT);
	CHECK_ERR(ioctl(dev, DMABUF_EXPORTER_IOC_ALLOC, unmapped_page()), EFAULT);
	CHECK_ERR(ioctl(dev, DMABUF_EXPORTER_IOC_GET_SHARED_FD, null_ptr), EFAULT);
	CHECK_ERR(ioctl(dev, DMABUF_EXPORTER_IOC_GET_SHARED_FD, unmapped_page()), EFAULT);
	CHECK_EQ(count_fds(), n);

	/*
	 * A read-only page: the request reads fine, the buffer gets made, and
	 * only storing the fd fails. The fd must not be installed, and the
	 * buffer must be gone with its charge: with a 1 MiB per-file quota a
	 * leak would make the final ALLOC fail with EDQUOT.
	 */
	param_save("max_file_bytes");
	param_set("max_file_bytes", 1 * MiB);
	dev2 = dev_open();
	n = count_fds();
	for (i = 0; i < 4; i++) {
		CHECK_ERR(ioctl(dev2, DMABUF_EXPORTER_IOC_ALLOC, ro), EFAULT);
		CHECK_ERR(ioctl(dev2, DMABUF_EXPORTER_IOC_GET_SHARED_FD, ro), EFAULT);
		CHECK_EQ(count_fds(), n);
	}
	fd = must_alloc(dev2, 1 * MiB, O_RDWR, NULL);
	CHECK(close(fd) == 0);
	CHECK(close(dev2) == 0);
	param_reset("max_file_bytes");
	CHECK(munmap(ro, PAGE) == 0);

	/* The good path of GET_SHARED_FD still works. */
	CHECK(ioctl(dev, DMABUF_EXPORTER_IOC_GET_SHARED_FD, &shared) == 0);
	CHECK_EQ(buf_size(shared), DMABUF_EXPORTER_SHARED_SIZE);
	CHECK(close(shared) == 0);
}

static void test_emfile(void)
{
	struct rlimit old, lim;
	int dev2, fd, lowest, i, n;

	SECTION("no free fd: EMFILE, nothing charged");
	param_save("max_file_bytes");
	param_set("max_file_bytes", 1 * MiB);
	dev2 = dev_open();
	lowest = fcntl(0, F_DUPFD_CLOEXEC, 0);
	CHECK(lowest >= 0);
	CHECK(close(lowest) == 0);
	n = count_fds();	/* needs an fd itself: before the limit */
	CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
	lim = old;
	lim.rlim_cur = lowest;
	CHECK(setrlimit(RLIMIT_NOFILE, &lim) == 0);
	for (i = 0; i < 4; i++) {
		CHECK_ERR(try_alloc(dev2, 1 * MiB, O_RDWR, NULL), EMFILE);
		CHECK_ERR(ioctl(dev2, DMABUF_EXPORTER_IOC_GET_SHARED_FD, &fd), EMFILE);
	}
	CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
	CHECK_EQ(count_fds(), n);
	fd = must_alloc(dev2, 1 * MiB, O_RDWR, NULL);
	CHECK(close(fd) == 0);
	CHECK(close(dev2) == 0);
	param_reset("max_file_bytes");
}

static void test_unknown_ioctls(void)
{
	struct dmabuf_exporter_alloc a = { .size = PAGE, .fd_flags = O_RDWR };
	unsigned long cmds[] = {
		0,
		_IO(DMABUF_EXPORTER_IOC_MAGIC, 0x7f),
		_IOWR(DMABUF_EXPORTER_IOC_MAGIC, 0x02, struct dmabuf_exporter_alloc),
		/* ALLOC's number with the wrong size or direction */
		_IOWR(DMABUF_EXPORTER_IOC_MAGIC, 0x01, __u64),
		_IOW(DMABUF_EXPORTER_IOC_MAGIC, 0x01, struct dmabuf_exporter_alloc),
		_IOR('a', 2, int),
		_IOW('a', 1, int),
		DMA_BUF_IOCTL_SYNC,
	};
	unsigned int i;
	int n = count_fds();

	SECTION("unknown ioctls: ENOTTY");
	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		errno = 0;
		CHECKF(ioctl(dev, cmds[i], &a) == -1 && errno == ENOTTY,
		       "ioctl %#lx", cmds[i]);
	}
	CHECK_EQ(count_fds(), n);
}

static int cmdline_has(const char *word)
{
	char buf[4096];
	FILE *f = fopen("/proc/cmdline", "re");
	int found = 0;

	if (f) {
		if (fgets(buf, sizeof(buf), f))
			found = strstr(buf, word) != NULL;
		fclose(f);
	}
	return found;
}

static void test_zeroing(void)
{
	static const unsigned long long sizes[] = {
		PAGE, 2 * PAGE, 15 * PAGE, 64 * KiB, 256 * KiB, 1 * MiB,
	};
	int fds[ARRAY_SIZE(sizes)];
	void *maps[ARRAY_SIZE(sizes)];
	unsigned int round, i;

	SECTION("new buffers are zero after others were dirtied and freed");
	/*
	 * This can only fail where the kernel does not zero pages itself.
	 * Debian's kernels zero them on allocation (INIT_ON_ALLOC_DEFAULT_ON),
	 * but page_poison=1, which vm-run gives the stock kernels, takes
	 * precedence ("mem auto-init: ... heap alloc:off, heap free:off"):
	 * freed pages keep their poison there. The debug kernel boots with
	 * init_on_alloc=0 init_on_free=0. A module without __GFP_ZERO fails
	 * here on both.
	 */
	if (cmdline_has("page_poison=1") ||
	    (cmdline_has("init_on_alloc=0") && cmdline_has("init_on_free=0")))
		printf("%s: the kernel does not zero pages itself here: zeroing is the module's\n",
		       harness_prog);
	else
		printf("%s: note: this kernel may zero pages itself (init_on_alloc or\n"
		       "%s: init_on_free); boot with page_poison=1 to check the module's zeroing\n",
		       harness_prog, harness_prog);
	for (round = 0; round < 10; round++) {
		for (i = 0; i < ARRAY_SIZE(sizes); i++) {
			unsigned long long sz = sizes[(i + round) % ARRAY_SIZE(sizes)];
			long long bad;

			fds[i] = must_alloc(dev, sz, O_RDWR | O_CLOEXEC, NULL);
			maps[i] = must_map(fds[i], sz, PROT_READ | PROT_WRITE, 0);
			bad = check_zero(maps[i], sz);
			CHECKF(bad < 0, "round %u: %llu-byte buffer not zero at %lld",
			       round, sz, bad);
			fill_pattern(maps[i], sz, round * 100 + i);
		}
		for (i = 0; i < ARRAY_SIZE(sizes); i++) {
			unsigned long long sz = sizes[(i + round) % ARRAY_SIZE(sizes)];

			CHECK(check_pattern(maps[i], sz, round * 100 + i) < 0);
			CHECK(munmap(maps[i], sz) == 0);
			CHECK(close(fds[i]) == 0);
		}
	}
}

static void test_fd_flags(void)
{
	static const struct { unsigned int flags; int cloexec, accmode; } cases[] = {
		{ O_RDWR, 0, O_RDWR },
		{ O_RDWR | O_CLOEXEC, 1, O_RDWR },
		{ O_RDONLY, 0, O_RDONLY },
		{ O_RDONLY | O_CLOEXEC, 1, O_RDONLY },
	};
	unsigned int i;
	char *p;
	int fd;

	SECTION("fd_flags: O_CLOEXEC and the access mode are honoured");
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		fd = must_alloc(dev, 2 * PAGE, cases[i].flags, NULL);
		CHECKF(!!(fcntl(fd, F_GETFD) & FD_CLOEXEC) == cases[i].cloexec,
		       "flags %#x", cases[i].flags);
		CHECKF((fcntl(fd, F_GETFL) & O_ACCMODE) == cases[i].accmode,
		       "flags %#x: F_GETFL %#x", cases[i].flags, fcntl(fd, F_GETFL));
		CHECK(close(fd) == 0);
	}

	SECTION("O_RDONLY buffer: no writable shared mapping");
	fd = must_alloc(dev, 2 * PAGE, O_RDONLY | O_CLOEXEC, NULL);
	CHECK_ERR(mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), EACCES);
	CHECK_ERR(mmap(NULL, 2 * PAGE, PROT_WRITE, MAP_SHARED, fd, 0), EACCES);
	p = must_map(fd, 2 * PAGE, PROT_READ, 0);
	CHECK(check_zero(p, 2 * PAGE) < 0);
	CHECK_ERR(mprotect(p, 2 * PAGE, PROT_READ | PROT_WRITE), EACCES);
	CHECK(check_zero(p, 2 * PAGE) < 0);
	CHECK(munmap(p, 2 * PAGE) == 0);
	CHECK(close(fd) == 0);
}

static void test_quotas(void)
{
	int a, b, fd1, fd2, fd3, fd4;
	void *p;

	SECTION("max_buffer_bytes: EFBIG");
	param_save("max_buffer_bytes");
	param_save("max_file_bytes");
	param_save("max_total_bytes");
	param_set("max_buffer_bytes", 1 * MiB);
	fd1 = must_alloc(dev, 1 * MiB, O_RDWR, NULL);
	fd2 = must_alloc(dev, 1 * MiB - 1, O_RDWR, NULL);
	CHECK_ALLOC_FAILS(1 * MiB + 1, O_RDWR, NULL, EFBIG);
	CHECK_ALLOC_FAILS(2 * MiB, O_RDWR, NULL, EFBIG);
	CHECK(close(fd1) == 0);
	CHECK(close(fd2) == 0);
	param_reset("max_buffer_bytes");
	fd1 = must_alloc(dev, 2 * MiB, O_RDWR, NULL);
	CHECK(close(fd1) == 0);

	SECTION("max_file_bytes: EDQUOT per open file");
	param_set("max_file_bytes", 1 * MiB);
	a = dev_open();
	b = dev_open();
	fd1 = must_alloc(a, 512 * KiB, O_RDWR, NULL);
	fd2 = must_alloc(a, 512 * KiB, O_RDWR, NULL);
	CHECK_ERR(try_alloc(a, 1, O_RDWR, NULL), EDQUOT);
	CHECK_ERR(try_alloc(a, 2 * PAGE, O_RDWR, NULL), EDQUOT);
	/* Another open file has its own quota. */
	fd3 = must_alloc(b, 1 * MiB, O_RDWR, NULL);
	CHECK_ERR(try_alloc(b, PAGE, O_RDWR, NULL), EDQUOT);
	CHECK(close(fd3) == 0);
	/* The charge lives as long as the buffer: a mapping keeps it. */
	p = must_map(fd1, 512 * KiB, PROT_READ | PROT_WRITE, 0);
	CHECK(close(fd1) == 0);
	CHECK_ERR(try_alloc(a, PAGE, O_RDWR, NULL), EDQUOT);
	CHECK(munmap(p, 512 * KiB) == 0);
	fd1 = must_alloc(a, 512 * KiB, O_RDWR, NULL);
	CHECK_ERR(try_alloc(a, PAGE, O_RDWR, NULL), EDQUOT);
	/* A dup is the same buffer, not a new charge. */
	fd4 = dup(fd1);
	CHECK(fd4 >= 0);
	CHECK(close(fd1) == 0);
	CHECK_ERR(try_alloc(a, PAGE, O_RDWR, NULL), EDQUOT);
	CHECK(close(fd4) == 0);
	fd1 = must_alloc(a, 4 * PAGE, O_RDWR, NULL);
	CHECK(close(fd1) == 0);
	CHECK(close(fd2) == 0);
	CHECK(close(a) == 0);
	CHECK(close(b) == 0);
	param_reset("max_file_bytes");

	SECTION("max_total_bytes: ENOSPC across open files");
	param_set("max_total_bytes", 2 * MiB);
	a = dev_open();
	b = dev_open();
	fd1 = must_alloc(a, 1 * MiB, O_RDWR, NULL);
	/* Charges outlive the open file that made them. */
	CHECK(close(a) == 0);
	fd2 = must_alloc(b, 1 * MiB, O_RDWR, NULL);
	CHECK_ALLOC_FAILS(1, O_RDWR, NULL, ENOSPC);
	CHECK_ERR(try_alloc(b, PAGE, O_RDWR, NULL), ENOSPC);
	CHECK(close(fd1) == 0);	/* frees a buffer whose open file is gone */
	fd1 = must_alloc(b, 1 * MiB, O_RDWR, NULL);
	CHECK_ERR(try_alloc(b, PAGE, O_RDWR, NULL), ENOSPC);
	CHECK(close(fd1) == 0);
	CHECK(close(fd2) == 0);
	/* Everything was given back: the whole limit is free again. */
	fd1 = must_alloc(b, 2 * MiB, O_RDWR, NULL);
	CHECK(close(fd1) == 0);
	CHECK(close(b) == 0);
	param_reset("max_total_bytes");
}

/*
 * Another user's quota, seen from a child whose real uid is @uid (the
 * effective uid stays root, so it can open the 0600 device): it must be
 * able to allocate @room bytes and not a page more.
 */
static void check_other_user(uid_t uid, unsigned long long room)
{
	pid_t pid = fork();
	int status;

	CHECK(pid >= 0);
	if (pid == 0) {
		int d, fd;

		CHECK(setresuid(uid, 0, 0) == 0);
		d = dev_open();
		fd = must_alloc(d, room, O_RDWR, NULL);
		CHECK_ERR(try_alloc(d, PAGE, O_RDWR, NULL), EDQUOT);
		close(fd);
		close(d);
		_exit(0);	/* not exit(): its atexit handler would restore the parameters */
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "uid %u: status %#x", uid, status);
}

static void test_user_quota(void)
{
	int a, b, fd1, fd2, fd3;

	SECTION("max_user_bytes: EDQUOT across one user's open files, not another's");
	param_save("max_user_bytes");
	param_set("max_user_bytes", 1 * MiB);
	a = dev_open();
	b = dev_open();
	fd1 = must_alloc(a, 512 * KiB, O_RDWR, NULL);
	/* Reopening the device gives no fresh quota. */
	fd2 = must_alloc(b, 512 * KiB, O_RDWR, NULL);
	CHECK_ERR(try_alloc(a, PAGE, O_RDWR, NULL), EDQUOT);
	CHECK_ERR(try_alloc(b, PAGE, O_RDWR, NULL), EDQUOT);
	CHECK_ERR(ioctl(b, DMABUF_EXPORTER_IOC_GET_SHARED_FD, &fd3), EDQUOT);
	check_other_user(4242, 1 * MiB);
	/* A buffer gives its charge back to its user when freed. */
	CHECK(close(fd1) == 0);
	fd1 = must_alloc(b, 512 * KiB, O_RDWR, NULL);
	CHECK_ERR(try_alloc(a, PAGE, O_RDWR, NULL), EDQUOT);
	/* Charges outlive the open file that made them. */
	CHECK(close(b) == 0);
	CHECK_ERR(try_alloc(a, PAGE, O_RDWR, NULL), EDQUOT);
	CHECK(close(fd1) == 0);
	CHECK(close(fd2) == 0);
	fd1 = must_alloc(a, 1 * MiB, O_RDWR, NULL);
	CHECK(close(fd1) == 0);
	CHECK(close(a) == 0);
	param_reset("max_user_bytes");
}

static void test_shared_quota(void)
{
	int d, fd[3], extra;

	SECTION("each shared export costs a page of the open file's quota");
	param_save("max_file_bytes");
	param_set("max_file_bytes", 2 * PAGE);
	d = dev_open();
	CHECK(ioctl(d, DMABUF_EXPORTER_IOC_GET_SHARED_FD, &fd[0]) == 0);
	CHECK(ioctl(d, DMABUF_EXPORTER_IOC_GET_SHARED_FD, &fd[1]) == 0);
	CHECK_ERR(ioctl(d, DMABUF_EXPORTER_IOC_GET_SHARED_FD, &fd[2]), EDQUOT);
	CHECK_ERR(try_alloc(d, 1, O_RDWR, NULL), EDQUOT);
	CHECK(close(fd[0]) == 0);
	CHECK(ioctl(d, DMABUF_EXPORTER_IOC_GET_SHARED_FD, &fd[2]) == 0);
	/* Another open file has its own quota. */
	extra = dev_open();
	CHECK(ioctl(extra, DMABUF_EXPORTER_IOC_GET_SHARED_FD, &fd[0]) == 0);
	CHECK(close(fd[0]) == 0);
	CHECK(close(extra) == 0);
	CHECK(close(fd[1]) == 0);
	CHECK(close(fd[2]) == 0);
	CHECK(close(d) == 0);
	param_reset("max_file_bytes");
}

static void test_default_total(void)
{
	unsigned long long half = mem_total_bytes() / 2;

	SECTION("max_total_bytes 0 (the default) means half of RAM");
	param_save("max_total_bytes");
	param_save("max_buffer_bytes");
	param_save("max_file_bytes");
	param_save("max_user_bytes");
	param_set("max_total_bytes", 0);
	param_set("max_buffer_bytes", 4 * half);
	param_set("max_file_bytes", 4 * half);
	param_set("max_user_bytes", 4 * half);
	CHECK_ALLOC_FAILS(half + PAGE, O_RDWR, NULL, ENOSPC);
	CHECK_ALLOC_FAILS(2 * half, O_RDWR, NULL, ENOSPC);
	param_reset("max_total_bytes");
	param_reset("max_buffer_bytes");
	param_reset("max_file_bytes");
	param_reset("max_user_bytes");
}

struct racer {
	int dev;
	unsigned long long size;
	atomic_int *stop;
	long attempts, failures;
	int last_errno;
};

static void *race_allocs(void *arg)
{
	struct racer *r = arg;
	int fd;

	while (!atomic_load(r->stop)) {
		r->attempts++;
		fd = try_alloc(r->dev, r->size, O_RDWR | O_CLOEXEC, NULL);
		if (fd < 0) {
			r->failures++;
			r->last_errno = errno;
		} else {
			close(fd);
		}
	}
	return NULL;
}

/*
 * A request that cannot fit must not make a concurrent one that fits fail,
 * for either quota.
 */
static void test_charge_race(void)
{
	static const struct { const char *param; int err; } quotas[] = {
		{ "max_total_bytes", ENOSPC }, { "max_file_bytes", EDQUOT },
	};
	atomic_int stop;
	struct racer fits, too_big;
	pthread_t t1, t2;
	unsigned int q;
	double end;

	for (q = 0; q < ARRAY_SIZE(quotas); q++) {
		SECTION(q ? "concurrent charges: EDQUOT only for what does not fit"
			  : "concurrent charges: ENOSPC only for what does not fit");
		param_save(quotas[q].param);
		param_set(quotas[q].param, 2 * PAGE);
		atomic_store(&stop, 0);
		fits = (struct racer){ .dev = dev, .size = PAGE, .stop = &stop };
		too_big = (struct racer){ .dev = dev, .size = 2 * PAGE + 1, .stop = &stop };
		CHECK(pthread_create(&t1, NULL, race_allocs, &fits) == 0);
		CHECK(pthread_create(&t2, NULL, race_allocs, &too_big) == 0);
		end = now_sec() + 1.5;
		while (now_sec() < end)
			sleep_ms(50);
		atomic_store(&stop, 1);
		CHECK(pthread_join(t1, NULL) == 0);
		CHECK(pthread_join(t2, NULL) == 0);
		printf("%s: %ld requests that fit, %ld that do not\n", harness_prog,
		       fits.attempts, too_big.attempts);
		CHECKF(!fits.failures, "%ld of %ld requests that fit failed (last errno %d)",
		       fits.failures, fits.attempts, fits.last_errno);
		CHECKF(too_big.failures == too_big.attempts && too_big.last_errno == quotas[q].err,
		       "%ld of %ld too large requests failed, last errno %d",
		       too_big.failures, too_big.attempts, too_big.last_errno);
		param_reset(quotas[q].param);
	}
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
	HARNESS_TEST(test_sizes),
	HARNESS_TEST(test_bad_sizes),
	HARNESS_TEST(test_bad_flags),
	HARNESS_TEST(test_names),
	HARNESS_TEST(test_reserved_input),
	HARNESS_TEST(test_efault),
	HARNESS_TEST(test_emfile),
	HARNESS_TEST(test_unknown_ioctls),
	HARNESS_TEST(test_zeroing),
	HARNESS_TEST(test_fd_flags),
	HARNESS_TEST(test_quotas),
	HARNESS_TEST(test_user_quota),
	HARNESS_TEST(test_shared_quota),
	HARNESS_TEST(test_default_total),
	HARNESS_TEST(test_charge_race),
	HARNESS_TEST(test_killed_during_alloc),
};

int main(int argc, char **argv)
{
	return harness_main(argc, argv, setup, teardown, tests, ARRAY_SIZE(tests));
}
