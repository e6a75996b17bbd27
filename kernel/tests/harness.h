/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tiny test harness for the dmabuf_exporter C tests: fail-fast CHECK macros
 * that report file:line, the expression and errno, plus helpers for the
 * device, buffers, mappings, module parameters and fd-leak accounting.
 *
 * Every helper is static inline so each test is a single translation unit.
 */
#ifndef DMABUF_TESTS_HARNESS_H
#define DMABUF_TESTS_HARNESS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/dma-buf.h>
#include <linux/dmabuf_exporter.h>

#define DEV_PATH	"/dev/" DMABUF_EXPORTER_DEVICE_NAME
#define PARAM_DIR	"/sys/module/dmabuf_exporter/parameters/"
#define PAGE		4096UL
#define KiB		1024ULL
#define MiB		(1024ULL * 1024)

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static const char *harness_prog = "test";

static inline void __attribute__((noreturn, format(printf, 4, 5)))
harness_fail(const char *file, int line, int err, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n;

	/* One write, so reports from several threads do not interleave. */
	n = snprintf(msg, sizeof(msg), "%s: FAIL %s:%d: ", harness_prog, file, line);
	va_start(ap, fmt);
	n += vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
	va_end(ap);
	if (err && n < (int)sizeof(msg))
		n += snprintf(msg + n, sizeof(msg) - n, " [errno %d: %s]",
			      err, strerror(err));
	if (n > (int)sizeof(msg) - 2)
		n = sizeof(msg) - 2;
	msg[n++] = '\n';
	fflush(stdout);
	if (write(STDERR_FILENO, msg, n) < 0)
		_exit(1);
	exit(1);
}

/*
 * Abort the test unless @expr holds; prints the expression and errno (the
 * errno left by the last failing call, so check right after the call).
 */
#define CHECK(expr) do {						\
	if (!(expr))							\
		harness_fail(__FILE__, __LINE__, errno,			\
			     "CHECK(%s)", #expr);			\
} while (0)

/* Like CHECK, with a printf-style explanation. */
#define CHECKF(expr, fmt, ...) do {					\
	if (!(expr))							\
		harness_fail(__FILE__, __LINE__, errno,			\
			     "CHECK(%s): " fmt, #expr, __VA_ARGS__);	\
} while (0)

/* Two integers must be equal; prints both values. */
#define CHECK_EQ(a, b) do {						\
	long long a_ = (long long)(a), b_ = (long long)(b);		\
	if (a_ != b_)							\
		harness_fail(__FILE__, __LINE__, 0,			\
			     "CHECK_EQ(%s, %s): %lld != %lld",		\
			     #a, #b, a_, b_);				\
} while (0)

/*
 * A call returning -1 (or MAP_FAILED) on error must fail with @err.
 * Evaluates @call exactly once.
 */
#define CHECK_ERR(call, err) do {					\
	long r_;							\
	int e_;								\
	errno = 0;							\
	r_ = (long)(call);						\
	e_ = errno;							\
	if (r_ != -1 || e_ != (err))					\
		harness_fail(__FILE__, __LINE__, 0,			\
			     "CHECK_ERR(%s, %s): returned %ld, errno %d (%s)", \
			     #call, #err, r_, e_, strerror(e_));	\
} while (0)

/* Like CHECK_ERR, accepting either of two errnos. */
#define CHECK_ERR2(call, err1, err2) do {				\
	long r_;							\
	int e_;								\
	errno = 0;							\
	r_ = (long)(call);						\
	e_ = errno;							\
	if (r_ != -1 || (e_ != (err1) && e_ != (err2)))			\
		harness_fail(__FILE__, __LINE__, 0,			\
			     "CHECK_ERR2(%s, %s|%s): returned %ld, errno %d (%s)", \
			     #call, #err1, #err2, r_, e_, strerror(e_)); \
} while (0)

static inline void harness_init(const char *argv0)
{
	const char *slash = strrchr(argv0, '/');

	harness_prog = slash ? slash + 1 : argv0;
	setvbuf(stdout, NULL, _IOLBF, 0);
}

#define SECTION(name)	printf("%s: -- %s\n", harness_prog, (name))

static inline double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * Whether task @tid (a thread of this process, or a child) sleeps in the
 * kernel in a function whose name contains @where, as /proc/TID/wchan names
 * it (dma_fence_default_wait for a fence wait); *@state gets its state
 * ('Z' when it has ended, '?' when it is gone).
 */
static inline int task_blocked_in(pid_t tid, const char *where, char *state)
{
	char path[64], stat[512], wchan[128] = "";
	FILE *f;
	char *end;

	*state = '?';
	snprintf(path, sizeof(path), "/proc/%d/stat", tid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fgets(stat, sizeof(stat), f) && (end = strrchr(stat, ')')) && end[1] == ' ')
		*state = end[2];
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/wchan", tid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (!fgets(wchan, sizeof(wchan), f))
		wchan[0] = '\0';
	fclose(f);
	return *state == 'S' && strstr(wchan, where);
}

/*
 * Wait until task @tid blocks in the kernel in @where (task_blocked_in()).
 * This, not a fixed sleep, shows that a call waits: a sleep passes on a
 * loaded machine even when nothing waits. Fails if the task ends or runs on
 * for 60 s without blocking there.
 */
static inline void wait_blocked_in(pid_t tid, const char *where)
{
	double deadline = now_sec() + 60;
	char state;

	while (!task_blocked_in(tid, where, &state)) {
		CHECKF(state != '?' && state != 'Z' && now_sec() < deadline,
		       "task %d never blocked in %s: state %c (it did not wait)", tid, where, state);
		sleep_ms(1);	/* a poll interval, not what is checked */
	}
}

/* ---- the machine ---- */

/* Write @text to the file at @path (sysfs, cgroupfs, tracefs), opened with O_WRONLY | @flags. */
static inline void write_text(const char *path, const char *text, int flags)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | flags);
	ssize_t n = strlen(text);

	CHECKF(fd >= 0, "open %s", path);
	CHECKF(write(fd, text, n) == n, "write '%s' to %s", text, path);
	close(fd);
}

static inline unsigned long long mem_total_bytes(void)
{
	char line[128];
	unsigned long long kib = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %llu kB", &kib) == 1)
			break;
	fclose(f);
	CHECK(kib > 0);
	return kib * 1024;
}

/* Whether the kernel was booted with swiotlb=force: every DMA mapping bounces. */
static inline int swiotlb_forced(void)
{
	char cmdline[4096] = "";
	FILE *f = fopen("/proc/cmdline", "re");

	CHECK(f != NULL);
	if (!fgets(cmdline, sizeof(cmdline), f))
		cmdline[0] = '\0';
	fclose(f);
	for (char *arg = strtok(cmdline, " \n"); arg; arg = strtok(NULL, " \n"))
		if (!strncmp(arg, "swiotlb=", 8) && strstr(arg + 8, "force"))
			return 1;
	return 0;
}

/* Number of open fds of this process (the directory's own fd excluded). */
static inline int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	CHECK(d != NULL);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

/* Open the device, failing with a clear message when it is not there. */
static inline int dev_open(void)
{
	int fd = open(DEV_PATH, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		harness_fail(__FILE__, __LINE__, errno,
			     "open %s (the tests run inside the VM: scripts/vm-run)",
			     DEV_PATH);
	return fd;
}

/* ALLOC; returns the dma-buf fd, or -1 with errno set. */
static inline int try_alloc(int dev, unsigned long long size, unsigned int flags,
			    const char *name)
{
	struct dmabuf_exporter_alloc a;

	memset(&a, 0, sizeof(a));
	a.size = size;
	a.fd_flags = flags;
	a.fd = -1;
	if (name)
		snprintf(a.name, sizeof(a.name), "%s", name);
	if (ioctl(dev, DMABUF_EXPORTER_IOC_ALLOC, &a) < 0)
		return -1;
	return a.fd;
}

#define must_alloc(dev, size, flags, name) ({				\
	int fd_ = try_alloc((dev), (size), (flags), (name));		\
	CHECKF(fd_ >= 0, "ALLOC size %llu flags %#x",			\
	       (unsigned long long)(size), (unsigned int)(flags));	\
	fd_;								\
})

#define must_map(fd, len, prot, off) ({					\
	void *p_ = mmap(NULL, (len), (prot), MAP_SHARED, (fd), (off));	\
	CHECKF(p_ != MAP_FAILED, "mmap len %zu off %lld",		\
	       (size_t)(len), (long long)(off));			\
	p_;								\
})

/* Size of a dma-buf as lseek(SEEK_END) reports it; leaves offset at 0. */
static inline long long buf_size(int fd)
{
	off_t end = lseek(fd, 0, SEEK_END);

	CHECK(end >= 0);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	return end;
}

static inline int sync_buf(int fd, unsigned long long flags)
{
	struct dma_buf_sync s = { .flags = flags };

	return ioctl(fd, DMA_BUF_IOCTL_SYNC, &s);
}

/* Deterministic pattern: word i of a buffer with @seed. Never zero. */
static inline uint64_t pattern_word(uint64_t seed, uint64_t i)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + i + 1;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 29;
	return x | 1;
}

static inline void fill_pattern(void *p, size_t len, uint64_t seed)
{
	uint64_t *w = p;
	size_t i;

	for (i = 0; i < len / 8; i++)
		w[i] = pattern_word(seed, i);
}

/* Byte offset of the first word that breaks the pattern, or -1. */
static inline long long check_pattern(const void *p, size_t len, uint64_t seed)
{
	const uint64_t *w = p;
	size_t i;

	for (i = 0; i < len / 8; i++)
		if (w[i] != pattern_word(seed, i))
			return (long long)i * 8;
	return -1;
}

/* Byte offset of the first non-zero byte, or -1. */
static inline long long check_zero(const void *p, size_t len)
{
	const uint64_t *w = p;
	size_t i;

	for (i = 0; i < len / 8; i++)
		if (w[i])
			return (long long)i * 8;
	return -1;
}

/* ---- bad user pointers ---- */

/* NULL the compiler cannot see through (keeps -Wnonnull quiet). */
static void *volatile null_ptr;

/*
 * An address that faults: a PROT_NONE page kept reserved, so that no later
 * mapping can land on it (an unmapped hole could be reused).
 */
static inline void *unmapped_page(void)
{
	void *p = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED);
	return p;
}

/* A read-only page holding a copy of @len bytes of @src (may be NULL). */
static inline void *readonly_page(const void *src, size_t len)
{
	void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(p != MAP_FAILED);
	if (src)
		memcpy(p, src, len);
	CHECK(mprotect(p, PAGE, PROT_READ) == 0);
	return p;
}

/* ---- passing fds over Unix sockets ---- */

/*
 * Send @len bytes of @data, with @fd attached (SCM_RIGHTS) unless it is
 * negative. Returns what sendmsg returns.
 */
static inline ssize_t send_with_fd(int sock, int fd, const void *data, size_t len, int flags)
{
	char control[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr hdr = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cmsg;

	if (fd >= 0) {
		hdr.msg_control = control;
		hdr.msg_controllen = sizeof(control);
		cmsg = CMSG_FIRSTHDR(&hdr);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}
	return sendmsg(sock, &hdr, flags | MSG_NOSIGNAL);
}

/*
 * Receive up to @len bytes into @data; *@received gets what recvmsg
 * returned. Returns the fd that came with them (close-on-exec), or -1.
 */
static inline int recv_with_fd(int sock, void *data, size_t len, int flags, ssize_t *received)
{
	char control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = data, .iov_len = len };
	struct msghdr hdr = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	struct cmsghdr *cmsg;
	int fd = -1;

	*received = recvmsg(sock, &hdr, flags | MSG_CMSG_CLOEXEC);
	if (*received < 0)
		return -1;
	CHECK(!(hdr.msg_flags & MSG_CTRUNC));
	cmsg = CMSG_FIRSTHDR(&hdr);
	if (cmsg) {
		CHECK(cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS);
		memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
	}
	return fd;
}

/* ---- the module ---- */

/* The module's reference count, or -1 when it is not loaded. */
static inline long module_refcnt(void)
{
	FILE *f = fopen("/sys/module/dmabuf_exporter/refcnt", "re");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/*
 * Attachments of the module's own (importer) device that debugfs lists:
 * after any IMPORT, failed or not, there must be none.
 */
static inline int our_attachments(void)
{
	static const char path[] = "/sys/kernel/debug/dma_buf/bufinfo";
	char line[512];
	FILE *f = fopen(path, "re");
	int n = 0;

	if (!f && errno == ENOENT) {
		if (system("mount -t debugfs none /sys/kernel/debug 2>/dev/null") < 0)
			harness_fail(__FILE__, __LINE__, errno, "mount debugfs");
		f = fopen(path, "re");
	}
	CHECKF(f != NULL, "%s", path);
	while (fgets(line, sizeof(line), f))
		n += !strcmp(line, "\t" DMABUF_EXPORTER_DEVICE_NAME "\n");
	fclose(f);
	return n;
}

/* ---- CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), as IMPORT reports it ---- */

static inline uint32_t crc32c_update(uint32_t crc, const void *data, size_t len)
{
	static uint32_t table[256];
	const unsigned char *p = data;

	if (!__atomic_load_n(&table[1], __ATOMIC_ACQUIRE)) {
		uint32_t t[256];

		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;

			for (int k = 0; k < 8; k++)
				c = c & 1 ? (c >> 1) ^ 0x82f63b78 : c >> 1;
			t[i] = c;
		}
		/* Racing threads compute the same table; entry 1 is published last. */
		for (int i = 255; i >= 0; i--)
			__atomic_store_n(&table[i], t[i], __ATOMIC_RELEASE);
	}
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

/* CRC-32C of @len bytes: "123456789" gives 0xe3069283. */
static inline uint32_t crc32c(const void *data, size_t len)
{
	return ~crc32c_update(~0U, data, len);
}

/* IMPORT @length bytes (0: to the end) at @offset of dma-buf @fd through @dev. */
static inline int try_import(int dev, int fd, uint64_t offset, uint64_t length,
			     struct dmabuf_exporter_import *out)
{
	memset(out, 0, sizeof(*out));
	out->fd = fd;
	out->offset = offset;
	out->length = length;
	return ioctl(dev, DMABUF_EXPORTER_IOC_IMPORT, out);
}

/* ---- module parameters ---- */

static inline unsigned long long param_get(const char *name)
{
	char path[256], buf[64];
	unsigned long long v;
	FILE *f;

	snprintf(path, sizeof(path), PARAM_DIR "%s", name);
	f = fopen(path, "re");
	CHECKF(f != NULL, "open %s", path);
	CHECKF(fgets(buf, sizeof(buf), f) != NULL, "read %s", path);
	fclose(f);
	CHECKF(sscanf(buf, "%llu", &v) == 1, "parse %s: %s", path, buf);
	return v;
}

static inline void param_set(const char *name, unsigned long long v)
{
	char path[256], buf[64];
	int fd, n;

	snprintf(path, sizeof(path), PARAM_DIR "%s", name);
	n = snprintf(buf, sizeof(buf), "%llu\n", v);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	CHECKF(fd >= 0, "open %s", path);
	CHECKF(write(fd, buf, n) == n, "write %llu to %s", v, path);
	close(fd);
	CHECK_EQ(param_get(name), v);
}

/*
 * Parameters a test changes; param_save() records the original value once
 * and an atexit handler writes it back, on success and on failure alike.
 */
static struct { const char *name; unsigned long long v; } saved_params[8];
static unsigned int nr_saved_params;

static inline void params_restore(void)
{
	char path[256], buf[64];
	unsigned int i;
	int fd, n;

	/* No CHECK here: this runs from exit(). */
	for (i = 0; i < nr_saved_params; i++) {
		snprintf(path, sizeof(path), PARAM_DIR "%s", saved_params[i].name);
		n = snprintf(buf, sizeof(buf), "%llu\n", saved_params[i].v);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, buf, n) != n)
			fprintf(stderr, "%s: could not restore %s\n",
				harness_prog, path);
		if (fd >= 0)
			close(fd);
	}
}

static inline void param_save(const char *name)
{
	unsigned int i;

	for (i = 0; i < nr_saved_params; i++)
		if (!strcmp(saved_params[i].name, name))
			return;
	CHECK(nr_saved_params < ARRAY_SIZE(saved_params));
	if (!nr_saved_params)
		atexit(params_restore);
	saved_params[nr_saved_params].name = name;
	saved_params[nr_saved_params].v = param_get(name);
	nr_saved_params++;
}

/* Write back the value param_save() recorded for @name. */
static inline void param_reset(const char *name)
{
	unsigned int i;

	for (i = 0; i < nr_saved_params; i++)
		if (!strcmp(saved_params[i].name, name)) {
			param_set(name, saved_params[i].v);
			return;
		}
	harness_fail(__FILE__, __LINE__, 0, "param %s was not saved", name);
}

/* ---- /proc/self/fdinfo ---- */

/*
 * Copy the value of "@key:\t..." from fdinfo of @fd into @out (without the
 * newline). Returns 0, or -1 when the key is absent.
 */
static inline int fdinfo_get(int fd, const char *key, char *out, size_t outlen)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	FILE *f;
	int ret = -1;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	CHECKF(f != NULL, "open %s", path);
	while (fgets(line, sizeof(line), f)) {
		char *v;

		if (strncmp(line, key, klen) || line[klen] != ':')
			continue;
		v = line + klen + 1;
		v += strspn(v, " \t");
		v[strcspn(v, "\n")] = '\0';
		snprintf(out, outlen, "%s", v);
		ret = 0;
		break;
	}
	fclose(f);
	return ret;
}

/* ---- the table-driven runner ---- */

struct harness_test {
	const char *name;
	void (*run)(void);
};

/*
 * main() of a test program: runs @tests in order (or only those named on
 * the command line), between @setup and @teardown (either may be NULL),
 * and fails if the program ends with more or fewer fds than it started.
 */
static inline int harness_main(int argc, char **argv, void (*setup)(void),
			       void (*teardown)(void), const struct harness_test *tests,
			       size_t nr_tests)
{
	int fds_before, i, ran = 0;
	size_t t;

	harness_init(argv[0]);
	for (i = 1; i < argc; i++) {
		for (t = 0; t < nr_tests && strcmp(argv[i], tests[t].name); t++)
			;
		if (t == nr_tests) {
			fprintf(stderr, "%s: no test named %s; the tests are:", harness_prog, argv[i]);
			for (t = 0; t < nr_tests; t++)
				fprintf(stderr, " %s", tests[t].name);
			fprintf(stderr, "\n");
			return 2;
		}
	}
	fds_before = count_fds();
	if (setup)
		setup();
	for (t = 0; t < nr_tests; t++) {
		int selected = argc < 2;

		for (i = 1; i < argc; i++)
			selected |= !strcmp(argv[i], tests[t].name);
		if (!selected)
			continue;
		printf("%s: == %s\n", harness_prog, tests[t].name);
		tests[t].run();
		ran++;
	}
	if (teardown)
		teardown();
	CHECK_EQ(count_fds(), fds_before);
	printf("%s: OK (%d tests)\n", harness_prog, ran);
	return 0;
}

#define HARNESS_TEST(fn)	{ #fn, fn }

#endif /* DMABUF_TESTS_HARNESS_H */
