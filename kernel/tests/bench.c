// SPDX-License-Identifier: GPL-2.0
/*
 * The C side of `make bench`. Three groups, each a list of measurements
 * written as JSON lines (kernel, group, path, measure, unit, size,
 * iterations, median, min, max) to -o FILE, and as a table to stdout:
 *
 *   handoff  a producer fills a buffer and hands it to a consumer process;
 *            the consumer times how long until it can read the bytes and
 *            until it has read them all, and counts its page faults. Paths:
 *            copies through a Unix socket and a pipe, and fds passed with
 *            SCM_RIGHTS of a memfd, an exporter buffer, a vgem buffer, a
 *            system-heap buffer and a udmabuf. At the smallest size, also
 *            the control: the exporter's handoff after the producer wrote
 *            64 MiB of other memory.
 *   alloc    exporter, system heap, udmabuf: the time to allocate, the DMA
 *            segments (nents) the module's IMPORT sees, the time of the
 *            first read of every byte through a fresh mapping.
 *   ops      the C baseline of `dmabuf bench`: a SYNC START/END pair;
 *            alloc + map + touch one byte + unmap + close (4 KiB and 4 MiB);
 *            a sequential read of 64 MiB. Also that allocation with the
 *            extra system calls the Swift library makes, to tell their cost
 *            from Swift's.
 *
 *   bench [-g GROUPS] [-s SIZE]... [-r ROUNDS] [-p PATH] [-q] [-o FILE]
 *
 * GROUPS is a comma-separated list (default handoff,alloc,ops); -s (4K, 64M:
 * powers of 4 by default, 4 KiB to 256 MiB) may repeat; -r overrides the
 * rounds per size; -p runs only the paths whose name contains PATH; -q is
 * the smoke run: few rounds and iterations.
 *
 * Each round of handoff and alloc takes every path in turn. vgem is on every
 * test kernel and the heap and udmabuf from 6.12: a path the kernel should
 * have and does not fails the run, another is skipped. A consumer that reads
 * wrong bytes, or a fresh buffer that is not zero, fails the run too.
 */
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#include <drm/drm_mode.h>
#include <linux/dma-heap.h>
#include <linux/magic.h>
#include <linux/udmabuf.h>

#include "harness.h"
#include "vgem.h"

#define HEAP_PATH	"/dev/dma_heap/system"
#define UDMABUF_PATH	"/dev/udmabuf"
#define UDMABUF_LIMIT	"/sys/module/udmabuf/parameters/size_limit_mb"
#define MAX_ROUNDS	64

static struct utsname host;
static FILE *json;
static int quick, rounds_override, failed;

static void die(const char *what)
{
	fprintf(stderr, "bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* 6.12 and later must have the heap and udmabuf; earlier kernels may lack them. */
static int kernel_at_least(int major, int minor)
{
	int ma = 0, mi = 0;

	sscanf(host.release, "%d.%d", &ma, &mi);
	return ma > major || (ma == major && mi >= minor);
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* One measurement: its median, min and max over @n samples, as a JSON line. */
static void emit(const char *group, const char *path, const char *measure, const char *unit,
		 size_t size, double *samples, int n)
{
	double sorted[MAX_ROUNDS];

	memcpy(sorted, samples, n * sizeof(*samples));
	qsort(sorted, n, sizeof(*sorted), compare_doubles);
	if (json) {
		fprintf(json, "{\"kernel\":\"%s\",\"group\":\"%s\",\"path\":\"%s\",\"measure\":\"%s\","
			"\"unit\":\"%s\",\"size\":%zu,\"iterations\":%d,\"median\":%.9g,\"min\":%.9g,"
			"\"max\":%.9g}\n", host.release, group, path, measure, unit, size, n,
			sorted[n / 2], sorted[0], sorted[n - 1]);
		fflush(json);
	}
	printf("%-8s %-16s %-34s %10zu %4d %14.6g %14.6g %14.6g %s\n", group, path, measure, size, n,
	       sorted[n / 2], sorted[0], sorted[n - 1], unit);
}

static uint64_t sum_words(const uint64_t *words, size_t size)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < size / 8; i++)
		sum += words[i];
	return sum;
}

/*
 * The same loop as gcc -O3 compiles it, with SSE2 (as swiftc -O does):
 * under TCG vector instructions are emulated slowly, so the scalar loop
 * above is the faster one there.
 */
__attribute__((optimize("tree-vectorize")))
static uint64_t sum_words_vectorized(const uint64_t *words, size_t size)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < size / 8; i++)
		sum += words[i];
	return sum;
}

static uint64_t fill(uint64_t *words, size_t size)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < size / 8; i++) {
		words[i] = i * 0x9e3779b97f4a7c15ULL;
		sum += words[i];
	}
	return sum;
}

/* ---- sources: each returns a fresh dma-buf (or memfd) fd of @size bytes ---- */

static int source_memfd(size_t size)
{
	int fd = memfd_create("bench", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, size))
		die("memfd");
	return fd;
}

static int exporter_dev = -1;

static int source_exporter(size_t size)
{
	int fd = try_alloc(exporter_dev, size, O_RDWR | O_CLOEXEC, "bench");

	if (fd < 0)
		die("exporter ALLOC");
	return fd;
}

static int vgem_card = -1;

static int source_vgem(size_t size)
{
	struct drm_mode_create_dumb dumb = { .width = 1024, .bpp = 32 };
	struct drm_mode_destroy_dumb destroy;
	int fd;

	dumb.height = size / (dumb.width * 4);
	if (ioctl(vgem_card, DRM_IOCTL_MODE_CREATE_DUMB, &dumb))
		die("vgem CREATE_DUMB");
	fd = vgem_export(vgem_card, dumb.handle);
	if (fd < 0)
		die("vgem PRIME_HANDLE_TO_FD");
	/* The dma-buf holds the object; the handle is not needed any more. */
	destroy.handle = dumb.handle;
	ioctl(vgem_card, DRM_IOCTL_MODE_DESTROY_DUMB, &destroy);
	return fd;
}

static int heap_dev = -1;

static int source_heap(size_t size)
{
	struct dma_heap_allocation_data data = { .len = size, .fd_flags = O_RDWR | O_CLOEXEC };

	if (ioctl(heap_dev, DMA_HEAP_IOCTL_ALLOC, &data))
		die("system heap ALLOC");
	return data.fd;
}

static int udmabuf_dev = -1;

/* A sealed memfd turned into a udmabuf: the memfd creation is part of the cost. */
static int source_udmabuf(size_t size)
{
	struct udmabuf_create create = { .flags = UDMABUF_FLAGS_CLOEXEC, .size = size };
	int memfd = memfd_create("bench", MFD_CLOEXEC | MFD_ALLOW_SEALING), fd;

	if (memfd < 0 || ftruncate(memfd, size) || fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK))
		die("udmabuf memfd");
	create.memfd = memfd;
	fd = ioctl(udmabuf_dev, UDMABUF_CREATE, &create);
	if (fd < 0)
		die("UDMABUF_CREATE");
	close(memfd);
	return fd;
}

/* ---- handoff ---- */

enum carrier { BY_FD, BY_SOCKET, BY_PIPE };

struct path {
	const char *name;	/* as in results.json */
	enum carrier carrier;
	int (*source)(size_t size);
	int *device;		/* the source's device fd, opened by open_devices() */
};

static const struct path handoff_paths[] = {
	{ "socket-copy", BY_SOCKET, NULL, NULL },
	{ "pipe-copy", BY_PIPE, NULL, NULL },
	{ "memfd", BY_FD, source_memfd, NULL },
	{ "exporter", BY_FD, source_exporter, &exporter_dev },
	{ "vgem", BY_FD, source_vgem, &vgem_card },
	{ "heap-system", BY_FD, source_heap, &heap_dev },
	{ "udmabuf", BY_FD, source_udmabuf, &udmabuf_dev },
};

struct result {
	uint64_t expected;	/* the sum of the words the producer wrote */
	double start, readable, read_all;
	long faults;
	int ok;
};

/*
 * Consumer: say it is ready, then receive the bytes or the fd, map, read
 * everything, report. The clock starts once it is waiting, so the time is
 * the handoff's and none of it the fork's.
 */
static void consume(enum carrier carrier, int sock, int pipe_in, size_t size, struct result *result)
{
	struct rusage before, after;
	uint64_t *words = NULL;
	int fd = -1;

	/* A copy's destination is there before the bytes, as a pipeline's would be. */
	if (carrier != BY_FD) {
		words = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (words == MAP_FAILED)
			die("consumer mmap");
	}
	getrusage(RUSAGE_SELF, &before);
	if (write(sock, "r", 1) != 1)
		die("write ready");
	if (carrier != BY_FD) {
		int in = carrier == BY_PIPE ? pipe_in : sock;
		size_t got = 0;

		while (got < size) {
			ssize_t n = read(in, (char *)words + got, size - got);

			if (n <= 0)
				die("consumer read");
			got += n;
		}
	} else {
		ssize_t n;
		char byte;

		fd = recv_with_fd(sock, &byte, 1, 0, &n);
		if (fd < 0)
			die("recvmsg");
		words = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
		if (words == MAP_FAILED)
			die("consumer mmap");
	}
	result->readable = now_sec() - result->start;
	result->ok = sum_words(words, size) == result->expected;
	result->read_all = now_sec() - result->start;
	getrusage(RUSAGE_SELF, &after);
	result->faults = after.ru_minflt - before.ru_minflt;
	munmap(words, size);
	/* Mapped, the bytes are readable: the fd is closed off the clock. */
	if (fd >= 0)
		close(fd);
}

/*
 * One handoff of @size bytes. @elsewhere: bytes of other memory the producer
 * writes after filling the buffer, the control that tells the cost of the
 * memory a producer has just written from the cost of the handoff itself.
 */
static struct result handoff_once(const struct path *path, size_t size, size_t elsewhere)
{
	struct result *result = mmap(NULL, sizeof(*result), PROT_READ | PROT_WRITE,
				     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int socks[2], pipes[2] = { -1, -1 }, status, fd = -1;
	uint64_t *words;
	void *other = NULL;
	struct result copy;
	char ready;
	pid_t pid;

	if (result == MAP_FAILED || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, socks))
		die("socketpair");
	if (path->carrier == BY_PIPE) {
		if (pipe2(pipes, O_CLOEXEC))
			die("pipe");
		/* The largest pipe an unprivileged user may ask for, its best case. */
		fcntl(pipes[1], F_SETPIPE_SZ, 1 << 20);
	}
	/*
	 * The consumer is a process of its own before the buffer exists, as in
	 * a pipeline: forked later, it would inherit the producer's mapping.
	 */
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		consume(path->carrier, socks[1], pipes[0], size, result);
		_exit(0);
	}
	/* The producer fills the buffer before the clock starts. */
	if (path->source) {
		fd = path->source(size);
		words = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	} else {
		words = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	if (words == MAP_FAILED)
		die("producer mmap");
	result->expected = fill(words, size);
	if (read(socks[0], &ready, 1) != 1)
		die("read ready");
	if (elsewhere) {
		other = mmap(NULL, elsewhere, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (other == MAP_FAILED)
			die("producer mmap");
		memset(other, 1, elsewhere);
	}
	result->start = now_sec();
	if (path->carrier == BY_FD) {
		if (send_with_fd(socks[0], fd, "f", 1, 0) != 1)
			die("sendmsg");
	} else {
		int out = path->carrier == BY_PIPE ? pipes[1] : socks[0];
		size_t sent = 0;

		while (sent < size) {
			ssize_t n = write(out, (char *)words + sent, size - sent);

			if (n <= 0)
				die("producer write");
			sent += n;
		}
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		result->ok = 0;
	copy = *result;
	munmap(words, size);
	if (other)
		munmap(other, elsewhere);
	if (fd >= 0)
		close(fd);
	if (pipes[0] >= 0) {
		close(pipes[0]);
		close(pipes[1]);
	}
	close(socks[0]);
	close(socks[1]);
	munmap(result, sizeof(*result));
	return copy;
}

/*
 * Fewer rounds for the big sizes: they take seconds each under TCG. The
 * targets' size, 64 MiB, gets as many as the small ones: after a fill that
 * large, a handoff's time swings from round to round by more than the fd
 * paths differ (see the control in bench_handoff()).
 */
static int rounds_for(size_t size)
{
	if (rounds_override)
		return rounds_override;
	if (quick)
		return 3;
	return size <= 1 * MiB || size == 64 * MiB ? 9 : size <= 16 * MiB ? 5 : 3;
}

/*
 * Whether a path can run here. vgem is on every test kernel, the heap and
 * udmabuf from 6.12: a path the kernel should have and does not fails the run.
 */
static int available(const char *name, int *device, const char *node)
{
	if (!device || *device >= 0)
		return 1;
	if (kernel_at_least(6, 12) || device == &vgem_card) {
		fprintf(stderr, "bench: FAIL: %s: %s is missing on %s, which has it\n", name, node,
			host.release);
		failed = 1;
	} else {
		printf("bench: %s skipped: no %s on %s\n", name, node, host.release);
	}
	return 0;
}

static const char *node_of(const int *device)
{
	return device == &heap_dev ? HEAP_PATH : device == &udmabuf_dev ? UDMABUF_PATH :
	       device == &vgem_card ? "vgem card in /dev/dri" : DEV_PATH;
}

/* The paths of @paths that run here and match @only. */
static int select_paths(const struct path *paths, int count, const char *only, const struct path **selected)
{
	int n = 0;

	for (int p = 0; p < count; p++) {
		if (only && !strstr(paths[p].name, only))
			continue;
		if (available(paths[p].name, paths[p].device, node_of(paths[p].device)))
			selected[n++] = &paths[p];
	}
	return n;
}

/* The control's other memory: as much as the 64 MiB handoff's buffer. */
#define CONTROL_ELSEWHERE	(64 * MiB)

/*
 * Each round takes every path in turn, so that a busy moment of a shared
 * machine slows one round of each path rather than every round of one. At
 * the smallest size a round also takes the control: the exporter's handoff
 * after the producer wrote CONTROL_ELSEWHERE bytes of other memory.
 */
static void bench_handoff(const size_t *sizes, int nsizes, const char *only)
{
	const struct path *paths[ARRAY_SIZE(handoff_paths)], *control = NULL;
	int npaths = select_paths(handoff_paths, ARRAY_SIZE(handoff_paths), only, paths);
	int smallest = 0;

	for (int p = 0; p < npaths; p++)
		if (!strcmp(paths[p]->name, "exporter"))
			control = paths[p];
	for (int s = 1; s < nsizes; s++)
		smallest = sizes[s] < sizes[smallest] ? s : smallest;
	for (int s = 0; s < nsizes; s++) {
		double readable[ARRAY_SIZE(handoff_paths) + 1][MAX_ROUNDS];
		double read_all[ARRAY_SIZE(handoff_paths) + 1][MAX_ROUNDS];
		double faults[ARRAY_SIZE(handoff_paths) + 1][MAX_ROUNDS];
		int n = rounds_for(sizes[s]), ntaken = npaths + (control && s == smallest);

		for (int r = 0; r < n; r++) {
			for (int p = 0; p < ntaken; p++) {
				const struct path *path = p < npaths ? paths[p] : control;
				struct result result = handoff_once(path, sizes[s], p < npaths ? 0 : CONTROL_ELSEWHERE);

				if (!result.ok) {
					fprintf(stderr, "bench: FAIL: %s, %zu bytes: the consumer read wrong data\n",
						path->name, sizes[s]);
					failed = 1;
				}
				readable[p][r] = result.readable;
				read_all[p][r] = result.read_all;
				faults[p][r] = result.faults;
			}
		}
		for (int p = 0; p < npaths; p++) {
			emit("handoff", paths[p]->name, "readable", "s", sizes[s], readable[p], n);
			emit("handoff", paths[p]->name, "read-all", "s", sizes[s], read_all[p], n);
			emit("handoff", paths[p]->name, "consumer-faults", "count", sizes[s], faults[p], n);
		}
		if (ntaken > npaths)
			emit("handoff", control->name, "readable-after-64MiB-written", "s", sizes[s],
			     readable[npaths], n);
	}
}

/* ---- alloc ---- */

static const struct path alloc_paths[] = {
	{ "exporter", BY_FD, source_exporter, &exporter_dev },
	{ "heap-system", BY_FD, source_heap, &heap_dev },
	{ "udmabuf", BY_FD, source_udmabuf, &udmabuf_dev },
};

/* Allocate, read every byte once through a fresh mapping, import one page. */
static void alloc_once(const struct path *path, size_t size, double *alloc, double *first_read, double *nents)
{
	struct dmabuf_exporter_import imported;
	double start = now_sec();
	int fd = path->source(size);
	uint64_t *words;
	uint64_t sum;

	*alloc = now_sec() - start;
	start = now_sec();
	words = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (words == MAP_FAILED)
		die("mmap for the first read");
	sum = sum_words(words, size);
	munmap(words, size);
	*first_read = now_sec() - start;
	if (sum) {
		fprintf(stderr, "bench: FAIL: a fresh %s buffer of %zu bytes is not zero\n", path->name, size);
		failed = 1;
	}
	/*
	 * One page is enough: nents describes the mapping of the whole buffer.
	 * An exporter without vmap (udmabuf before 6.2) is refused: no nents.
	 */
	if (try_import(exporter_dev, fd, 0, PAGE, &imported) == 0)
		*nents = imported.nents;
	else if (errno == EOPNOTSUPP)
		*nents = -1;
	else
		die("IMPORT");
	close(fd);
}

static void bench_alloc(const size_t *sizes, int nsizes, const char *only)
{
	const struct path *paths[ARRAY_SIZE(alloc_paths)];
	int npaths = select_paths(alloc_paths, ARRAY_SIZE(alloc_paths), only, paths);

	for (int s = 0; s < nsizes; s++) {
		double alloc[ARRAY_SIZE(alloc_paths)][MAX_ROUNDS];
		double nents[ARRAY_SIZE(alloc_paths)][MAX_ROUNDS];
		double first_read[ARRAY_SIZE(alloc_paths)][MAX_ROUNDS];
		int n = rounds_for(sizes[s]);

		for (int r = 0; r < n; r++)
			for (int p = 0; p < npaths; p++)
				alloc_once(paths[p], sizes[s], &alloc[p][r], &first_read[p][r], &nents[p][r]);
		for (int p = 0; p < npaths; p++) {
			emit("alloc", paths[p]->name, "allocate", "s", sizes[s], alloc[p], n);
			if (nents[p][0] >= 0)
				emit("alloc", paths[p]->name, "nents", "count", sizes[s], nents[p], n);
			emit("alloc", paths[p]->name, "first-read", "s", sizes[s], first_read[p], n);
		}
	}
}

/* ---- ops: the C baseline of `dmabuf bench` (Sources/DMABufCLI/Bench.swift) ---- */

/*
 * Keep these in step with Bench.swift: the same batches, iterations and
 * sizes on both sides. Each sample is one batch; the figure is per operation.
 */
#define OPS_SAMPLES		15
#define OPS_SAMPLES_QUICK	3

static int ops_samples(void)
{
	return quick ? OPS_SAMPLES_QUICK : OPS_SAMPLES;
}

static void sync_pair(int fd)
{
	if (sync_buf(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ) ||
	    sync_buf(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ))
		die("DMA_BUF_IOCTL_SYNC");
}

static void alloc_map_touch(size_t size)
{
	int fd = source_exporter(size);
	volatile char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		die("mmap");
	p[0] = 1;
	munmap((void *)p, size);
	close(fd);
}

/*
 * fstat as the library makes it: the system call, not glibc's
 * fstatat(fd, "", AT_EMPTY_PATH), a path lookup on Linux 6.1.
 */
static int fstat_fd(int fd, struct stat *st)
{
	return syscall(SYS_fstat, fd, st);
}

/*
 * The same, with the calls the Swift library adds: adopting the fd (fstat: its
 * size, identity and, by the device number, that it is a dma-buf) and the
 * mapping's own fd (dup, then close after munmap).
 */
static void alloc_map_touch_with_library_calls(size_t size)
{
	int fd = source_exporter(size), own;
	volatile char *p;
	struct stat st;

	if (fstat_fd(fd, &st))
		die("adopt");
	own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, own, 0);
	if (own < 0 || p == MAP_FAILED)
		die("map");
	p[0] = 1;
	munmap((void *)p, size);
	close(own);
	close(fd);
}

/*
 * One dma-buf fd there and back over a SOCK_SEQPACKET socketpair, as
 * DMABufChannel does it: a 32-byte header with the fd, received with
 * MSG_CMSG_CLOEXEC and checked to be a dma-buf (fstatfs), then closed. With
 * the library's calls, the check is the fstat that also gives the size and
 * identity (the device number of dma-buf's file system, learned once), and
 * taking the buffer reads its access mode.
 */
static int channel[2] = { -1, -1 }, channel_buffer = -1;
static dev_t channel_buffer_device;

static dev_t device_of(int fd)
{
	struct stat st;

	if (fstat_fd(fd, &st))
		die("fstat");
	return st.st_dev;
}

static int channel_pass(int from, int to, int fd, bool library_calls)
{
	char header[32] = "dbuf";
	struct statfs fs;
	struct stat st;
	ssize_t n;
	int got;

	if (send_with_fd(from, fd, header, sizeof(header), 0) != sizeof(header))
		die("sendmsg");
	got = recv_with_fd(to, header, sizeof(header), MSG_CMSG_CLOEXEC, &n);
	if (got < 0 || n != sizeof(header))
		die("recvmsg");
	if (library_calls) {
		if (fstat_fd(got, &st) || st.st_dev != channel_buffer_device || fcntl(got, F_GETFL) < 0)
			die("adopt");
	} else if (fstatfs(got, &fs) || fs.f_type != DMA_BUF_MAGIC) {
		die("fstatfs");
	}
	return got;
}

static void fd_round_trip_calls(bool library_calls)
{
	int there = channel_pass(channel[0], channel[1], channel_buffer, library_calls);
	int back = channel_pass(channel[1], channel[0], there, library_calls);

	close(there);
	close(back);
}

static void fd_round_trip(size_t size)
{
	(void)size;
	fd_round_trip_calls(false);
}

static void fd_round_trip_with_library_calls(size_t size)
{
	(void)size;
	fd_round_trip_calls(true);
}

static void time_batches(const char *measure, size_t size, int batch, void (*op)(size_t), int fd)
{
	double samples[MAX_ROUNDS];
	int n = ops_samples();

	for (int s = -1; s < n; s++) {	/* s == -1 warms up */
		double start = now_sec();

		for (int i = 0; i < batch; i++) {
			if (op)
				op(size);
			else
				sync_pair(fd);
		}
		if (s >= 0)
			samples[s] = (now_sec() - start) / batch;
	}
	emit("ops", "c", measure, "s", size, samples, n);
}

static void bench_ops(void)
{
	size_t read_size = quick ? 4 * MiB : 64 * MiB;
	double samples[MAX_ROUNDS];
	int fd = source_exporter(PAGE), n = ops_samples();
	uint64_t *words, expected;
	void *page = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);

	if (page == MAP_FAILED)
		die("mmap");
	time_batches("sync-pair", PAGE, quick ? 100 : 1000, NULL, fd);
	munmap(page, PAGE);
	close(fd);

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel))
		die("socketpair");
	channel_buffer = source_exporter(PAGE);
	channel_buffer_device = device_of(channel_buffer);
	time_batches("fd-round-trip", PAGE, quick ? 100 : 1000, fd_round_trip, -1);
	time_batches("fd-round-trip+library-calls", PAGE, quick ? 100 : 1000,
		     fd_round_trip_with_library_calls, -1);
	close(channel_buffer);
	close(channel[0]);
	close(channel[1]);

	time_batches("alloc-map-touch-unmap-close", 4 * KiB, quick ? 20 : 200, alloc_map_touch, -1);
	time_batches("alloc-map-touch-unmap-close", 4 * MiB, quick ? 5 : 20, alloc_map_touch, -1);
	time_batches("alloc-map-touch-unmap-close+library-calls", 4 * KiB, quick ? 20 : 200,
		     alloc_map_touch_with_library_calls, -1);
	time_batches("alloc-map-touch-unmap-close+library-calls", 4 * MiB, quick ? 5 : 20,
		     alloc_map_touch_with_library_calls, -1);

	/* Mapped and faulted in once: the loop itself is timed. */
	fd = source_exporter(read_size);
	words = mmap(NULL, read_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (words == MAP_FAILED)
		die("mmap");
	expected = fill(words, read_size);
	for (int s = -1; s < n; s++) {
		double start = now_sec();
		uint64_t sum = sum_words(words, read_size);

		if (s >= 0)
			samples[s] = now_sec() - start;
		if (sum != expected) {
			fprintf(stderr, "bench: FAIL: the sequential read summed wrong\n");
			failed = 1;
		}
	}
	emit("ops", "c", "sequential-read", "s", read_size, samples, n);
	for (int s = -1; s < n; s++) {
		double start = now_sec();
		uint64_t sum = sum_words_vectorized(words, read_size);

		if (s >= 0)
			samples[s] = now_sec() - start;
		if (sum != expected) {
			fprintf(stderr, "bench: FAIL: the vectorized sequential read summed wrong\n");
			failed = 1;
		}
	}
	emit("ops", "c", "sequential-read-vectorized", "s", read_size, samples, n);
	munmap(words, read_size);
	close(fd);
}

/* ---- main ---- */

static void open_devices(void)
{
	exporter_dev = dev_open();
	vgem_card = vgem_open();
	heap_dev = open(HEAP_PATH, O_RDONLY | O_CLOEXEC);
	udmabuf_dev = open(UDMABUF_PATH, O_RDWR | O_CLOEXEC);
}

/* udmabuf refuses buffers over size_limit_mb (64 by default): lift it for the run. */
static void lift_udmabuf_limit(size_t largest)
{
	FILE *f = fopen(UDMABUF_LIMIT, "r+e");
	unsigned long mb = 0;

	if (!f)
		return;
	if (fscanf(f, "%lu", &mb) == 1 && mb < largest / MiB) {
		rewind(f);
		fprintf(f, "%zu\n", (size_t)(largest / MiB));
	}
	if (fclose(f))
		die(UDMABUF_LIMIT);
}

static size_t parse_size(const char *text)
{
	char *end;
	size_t v = strtoull(text, &end, 0);

	switch (*end) {
	case 'K': case 'k': v <<= 10; break;
	case 'M': case 'm': v <<= 20; break;
	case 'G': case 'g': v <<= 30; break;
	case '\0': break;
	default:
		fprintf(stderr, "bench: bad size %s (e.g. 4096, 64K, 16M)\n", text);
		exit(2);
	}
	if (!v || v % PAGE) {
		fprintf(stderr, "bench: size %s is not whole pages\n", text);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	const char *groups = "handoff,alloc,ops", *only = NULL, *out = NULL;
	size_t sizes[16], largest = 0;
	int nsizes = 0, opt;

	harness_init(argv[0]);
	while ((opt = getopt(argc, argv, "g:s:r:p:qo:")) != -1) {
		switch (opt) {
		case 'g': groups = optarg; break;
		case 's':
			if (nsizes == (int)ARRAY_SIZE(sizes)) {
				fprintf(stderr, "bench: at most %zu sizes\n", ARRAY_SIZE(sizes));
				return 2;
			}
			sizes[nsizes++] = parse_size(optarg);
			break;
		case 'r': rounds_override = atoi(optarg); break;
		case 'p': only = optarg; break;
		case 'q': quick = 1; break;
		case 'o': out = optarg; break;
		default:
			fprintf(stderr, "usage: %s [-g handoff,alloc,ops] [-s SIZE]... [-r ROUNDS] [-p PATH] [-q] "
				"[-o FILE]\n", argv[0]);
			return 2;
		}
	}
	if (rounds_override < 0 || rounds_override > MAX_ROUNDS) {
		fprintf(stderr, "bench: -r takes 1 to %d rounds\n", MAX_ROUNDS);
		return 2;
	}
	if (!nsizes)
		for (size_t size = 4 * KiB; size <= 256 * MiB; size *= 4)
			sizes[nsizes++] = size;
	for (int s = 0; s < nsizes; s++)
		largest = sizes[s] > largest ? sizes[s] : largest;
	if (uname(&host))
		die("uname");
	if (out && !(json = fopen(out, "ae")))
		die(out);
	open_devices();
	lift_udmabuf_limit(largest);

	printf("%-8s %-16s %-34s %10s %4s %14s %14s %14s\n", "group", "path", "measure", "size", "n",
	       "median", "min", "max");
	if (strstr(groups, "handoff"))
		bench_handoff(sizes, nsizes, only);
	if (strstr(groups, "alloc"))
		bench_alloc(sizes, nsizes, only);
	if (strstr(groups, "ops"))
		bench_ops();
	if (json && fclose(json))
		die(out);
	if (failed)
		fprintf(stderr, "bench: FAIL\n");
	return failed;
}
