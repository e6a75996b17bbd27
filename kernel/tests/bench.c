// SPDX-License-Identifier: GPL-2.0
/*
 * Hand a filled buffer to another process and time, on the consumer's side,
 * how long until it can read the data and until it has read every byte:
 *   copy      the bytes themselves through a Unix socket
 *   memfd     a memfd passed with SCM_RIGHTS
 *   vgem      a vgem dumb buffer exported as a dma-buf
 *   exporter  a dmabuf_exporter buffer
 * The consumer's minor page faults show how each mapping is populated.
 *
 *   bench [-m MIB] [-r ROUNDS] [-p PATH]
 *
 * -p runs only the paths whose name contains PATH (e.g. -p dmabuf_exporter).
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <drm/drm_mode.h>

#include "harness.h"
#include "vgem.h"

static size_t size = 64 << 20;

static void die(const char *what)
{
	fprintf(stderr, "bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t read_all(const uint64_t *words)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < size / 8; i++)
		sum += words[i];
	return sum;
}

static uint64_t fill(uint64_t *words)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < size / 8; i++) {
		words[i] = i * 0x9e3779b97f4a7c15ULL;
		sum += words[i];
	}
	return sum;
}

struct result {
	double start, readable, read_all;
	long faults;
	int ok;
};

/* Consumer: receive, map (or copy in), read everything, report. */
static void consume(int sock, int by_copy, struct result *result, uint64_t expected, double start)
{
	struct rusage before, after;
	uint64_t *words;

	getrusage(RUSAGE_SELF, &before);
	if (by_copy) {
		size_t got = 0;

		words = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		while (got < size) {
			ssize_t n = read(sock, (char *)words + got, size - got);

			if (n <= 0)
				die("read");
			got += n;
		}
	} else {
		ssize_t n;
		char byte;
		int fd = recv_with_fd(sock, &byte, 1, 0, &n);

		if (fd < 0)
			die("recvmsg");

		words = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
		if (words == MAP_FAILED)
			die("consumer mmap");
		close(fd);
	}
	result->readable = now_sec() - start;
	result->ok = read_all(words) == expected;
	result->read_all = now_sec() - start;
	getrusage(RUSAGE_SELF, &after);
	result->faults = after.ru_minflt - before.ru_minflt;
	munmap(words, size);
}

/* Each source returns a filled, mappable fd (or -1 for the socket copy). */
static int source_memfd(void)
{
	int fd = memfd_create("bench", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, size))
		die("memfd");
	return fd;
}

static int source_exporter(void)
{
	int dev = dev_open(), fd = try_alloc(dev, size, O_RDWR | O_CLOEXEC, "bench");

	if (fd < 0)
		die("exporter ALLOC");
	close(dev);
	return fd;
}

static int source_vgem(void)
{
	struct drm_mode_create_dumb dumb = { .width = 1024, .bpp = 32 };
	int card = vgem_open(), fd;

	if (card < 0) {
		errno = ENODEV;
		die("no vgem device (modprobe vgem)");
	}
	dumb.height = size / (dumb.width * 4);
	if (ioctl(card, DRM_IOCTL_MODE_CREATE_DUMB, &dumb))
		die("vgem CREATE_DUMB");
	fd = vgem_export(card, dumb.handle);
	if (fd < 0)
		die("vgem PRIME_HANDLE_TO_FD");
	close(card);
	return fd;
}

static struct result run(int (*source)(void))
{
	struct result *result = mmap(NULL, sizeof(*result), PROT_READ | PROT_WRITE,
				     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int socks[2], status, fd = -1;
	uint64_t *words, expected;
	struct result copy;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, socks))
		die("socketpair");
	/* The producer fills the buffer before the clock starts. */
	if (source) {
		fd = source();
		words = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	} else {
		words = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	if (words == MAP_FAILED)
		die("producer mmap");
	expected = fill(words);

	pid = fork();
	if (pid == 0) {
		char go;

		if (read(socks[1], &go, 1) != 1)
			die("read go");
		consume(socks[1], !source, result, expected, result->start);
		_exit(0);
	}
	result->start = now_sec();
	if (write(socks[0], "g", 1) != 1)
		die("write go");
	if (source) {
		if (send_with_fd(socks[0], fd, "f", 1, 0) != 1)
			die("sendmsg");
	} else if (write(socks[0], words, size) != (ssize_t)size) {
		die("write");
	}
	waitpid(pid, &status, 0);
	copy = *result;
	munmap(words, size);
	if (fd >= 0)
		close(fd);
	close(socks[0]);
	close(socks[1]);
	munmap(result, sizeof(*result));
	return copy;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*source)(void);
	} paths[] = {
		{ "copy through a Unix socket", NULL },
		{ "memfd fd-passing", source_memfd },
		{ "vgem dma-buf", source_vgem },
		{ "dmabuf_exporter dma-buf", source_exporter },
	};
	int rounds = 3, opt, failed = 0;
	const char *only = NULL;

	harness_init(argv[0]);
	while ((opt = getopt(argc, argv, "m:r:p:")) != -1) {
		switch (opt) {
		case 'm': size = strtoul(optarg, NULL, 0) << 20; break;
		case 'r': rounds = atoi(optarg); break;
		case 'p': only = optarg; break;
		default:
			fprintf(stderr, "usage: %s [-m MIB] [-r ROUNDS] [-p PATH]\n", argv[0]);
			return 2;
		}
	}
	printf("%zu MiB handed to another process, %d rounds (median)\n", size >> 20, rounds);
	printf("%-28s %14s %16s %10s\n", "path", "readable (ms)", "read all (ms)", "faults");
	for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); p++) {
		struct result results[16];
		int n = rounds < 16 ? rounds : 16;

		if (only && !strstr(paths[p].name, only))
			continue;
		for (int r = 0; r < n; r++) {
			results[r] = run(paths[p].source);
			failed |= !results[r].ok;
		}
		/* Median by read-all time. */
		for (int i = 1; i < n; i++)
			for (int j = i; j > 0 && results[j].read_all < results[j - 1].read_all; j--) {
				struct result t = results[j];

				results[j] = results[j - 1];
				results[j - 1] = t;
			}
		printf("%-28s %14.2f %16.2f %10ld\n", paths[p].name, results[n / 2].readable * 1e3,
		       results[n / 2].read_all * 1e3, results[n / 2].faults);
	}
	if (failed)
		fprintf(stderr, "bench: FAIL: a consumer read wrong data\n");
	return failed;
}
