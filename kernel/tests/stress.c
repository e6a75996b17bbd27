// SPDX-License-Identifier: GPL-2.0
/*
 * Stress for dmabuf_exporter: processes x threads allocate, map, fill and
 * verify buffers by checksum, pass them around a ring of Unix sockets,
 * import them into vgem and into the module itself (IMPORT, whose CRC-32C
 * must match one computed here), fork readers and close everything in
 * random orders, while a separate process keeps trying to unload the module. The
 * unload must never succeed while a buffer lives, and must succeed once the
 * last one is gone.
 *
 *   stress [-p PROCESSES] [-t THREADS] [-s SECONDS] [-S SEED]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "harness.h"
#include "vgem.h"

struct counters {
	atomic_long allocs, verified, passed, imported, kernel_imports, forks, unload_attempts;
	atomic_int failed;
};

static struct counters *counters;	/* shared between processes */
static int processes = 3, threads = 3, seconds = 10;
static unsigned int seed = 1;
static time_t deadline;
static int vgem_fd = -1;
static int ring_send, ring_recv;	/* this process's sockets in the ring */

#define FAIL(fmt, ...) do { \
	fprintf(stderr, "stress: FAIL %s:%d: " fmt " (errno %d: %s)\n", __FILE__, __LINE__, \
		##__VA_ARGS__, errno, strerror(errno)); \
	atomic_store(&counters->failed, 1); \
} while (0)

static const size_t sizes[] = { 4096, 16384, 1 << 20, 4 << 20 };

struct message {
	uint64_t size, seed, checksum;
};

static uint64_t fill(uint64_t *words, size_t n, uint64_t s)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++) {
		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		words[i] = s;
		sum += s ^ i;
	}
	return sum;
}

static uint64_t checksum(const uint64_t *words, size_t n)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += words[i] ^ i;
	return sum;
}

static int allocate(size_t size)
{
	char name[DMABUF_EXPORTER_NAME_LEN];
	int dev = dev_open(), fd;

	snprintf(name, sizeof(name), "stress-%d", getpid());
	fd = try_alloc(dev, size, O_RDWR | O_CLOEXEC, name);
	if (fd < 0)
		FAIL("ALLOC %zu", size);
	/* Only buffers, not the device, keep the module pinned. */
	close(dev);
	return fd;
}

static int verify(int fd, const struct message *msg)
{
	uint64_t *map = mmap(NULL, msg->size, PROT_READ, MAP_SHARED, fd, 0);
	uint64_t sum;

	if (map == MAP_FAILED) {
		FAIL("mmap to verify");
		return -1;
	}
	if (sync_buf(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ))
		FAIL("SYNC START to verify");
	sum = checksum(map, msg->size / 8);
	if (sync_buf(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ))
		FAIL("SYNC END to verify");
	munmap(map, msg->size);
	if (sum != msg->checksum) {
		FAIL("checksum mismatch: size %llu seed %llu", (unsigned long long)msg->size,
		     (unsigned long long)msg->seed);
		return -1;
	}
	atomic_fetch_add(&counters->verified, 1);
	return 0;
}

static void pass_on(int sock, int fd, const struct message *msg)
{
	/* A full ring just drops the message (not counted); the fd stays ours to close. */
	if (send_with_fd(sock, fd, msg, sizeof(*msg), MSG_DONTWAIT) >= 0)
		atomic_fetch_add(&counters->passed, 1);
	else if (errno != EAGAIN)
		FAIL("sendmsg");
}

/* The next fd a neighbour passed on, or -1 if none is waiting. */
static int take_passed(int sock, struct message *msg)
{
	ssize_t n;
	int fd = recv_with_fd(sock, msg, sizeof(*msg), MSG_DONTWAIT, &n);

	if (n == sizeof(*msg) && fd < 0)
		FAIL("message without an fd");
	return n == sizeof(*msg) ? fd : -1;
}

static void import_into_vgem(int fd)
{
	__u32 handle;

	handle = vgem_import(vgem_fd, fd);
	if (!handle) {
		FAIL("vgem PRIME_FD_TO_HANDLE");
		return;
	}
	if (vgem_close(vgem_fd, handle))
		FAIL("vgem GEM_CLOSE");
	atomic_fetch_add(&counters->imported, 1);
}

/*
 * The module imports up to 64 KiB of the buffer at a random offset; its
 * CRC-32C must match the mapping's.
 */
static void import_into_module(int fd, const void *map, size_t size, unsigned int *rng)
{
	struct dmabuf_exporter_import imp;
	uint64_t offset = rand_r(rng) % size;
	uint64_t length = size - offset < 65536 ? size - offset : 65536;
	int dev = dev_open();

	if (try_import(dev, fd, offset, length, &imp))
		FAIL("IMPORT of %zu bytes at %llu", (size_t)length, (unsigned long long)offset);
	else if (imp.crc32c != crc32c((const char *)map + offset, length) || imp.size != size)
		FAIL("IMPORT: CRC %#x, expected %#x", imp.crc32c,
		     crc32c((const char *)map + offset, length));
	else
		atomic_fetch_add(&counters->kernel_imports, 1);
	close(dev);
}

static void fork_reader(int fd, const struct message *msg)
{
	pid_t pid = fork();
	int status;

	if (pid < 0) {
		FAIL("fork");
		return;
	}
	if (pid == 0)
		_exit(verify(fd, msg) ? 1 : 0);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		FAIL("forked reader failed");
	atomic_fetch_add(&counters->forks, 1);
}

static void one_round(unsigned int *rng)
{
	struct message msg = { .size = sizes[rand_r(rng) % 4], .seed = rand_r(rng) };
	uint64_t *map;
	int fd, received;

	fd = allocate(msg.size);
	if (fd < 0)
		return;
	atomic_fetch_add(&counters->allocs, 1);
	map = mmap(NULL, msg.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		FAIL("mmap");
		close(fd);
		return;
	}
	if (sync_buf(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE))
		FAIL("SYNC START to fill");
	msg.checksum = fill(map, msg.size / 8, msg.seed);
	if (sync_buf(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE))
		FAIL("SYNC END to fill");

	if (rand_r(rng) % 2)
		import_into_vgem(fd);
	if (rand_r(rng) % 2)
		import_into_module(fd, map, msg.size, rng);
	if (rand_r(rng) % 8 == 0)
		fork_reader(fd, &msg);
	if (rand_r(rng) % 2)
		pass_on(ring_send, fd, &msg);

	/* Close the fd and the mapping in either order. */
	if (rand_r(rng) % 2) {
		close(fd);
		if (checksum(map, msg.size / 8) != msg.checksum)
			FAIL("mapping lost its data after close");
		munmap(map, msg.size);
	} else {
		munmap(map, msg.size);
		close(fd);
	}

	received = take_passed(ring_recv, &msg);
	if (received >= 0) {
		verify(received, &msg);
		close(received);
	}
}

static void *worker_thread(void *arg)
{
	unsigned int rng = (unsigned int)(uintptr_t)arg;

	while (time(NULL) < deadline && !atomic_load(&counters->failed))
		one_round(&rng);
	return NULL;
}

static void worker_process(int index)
{
	pthread_t tids[64];

	vgem_fd = vgem_open();
	if (vgem_fd < 0) {
		FAIL("no vgem device in worker %d (modprobe vgem)", index);
		_exit(1);
	}
	for (int t = 0; t < threads; t++)
		pthread_create(&tids[t], NULL, worker_thread,
			       (void *)(uintptr_t)(seed * 7919 + index * 131 + t));
	for (int t = 0; t < threads; t++)
		pthread_join(tids[t], NULL);
	/* Drain what neighbours sent so no fd is left in flight. */
	for (struct message msg; ; ) {
		int fd = take_passed(ring_recv, &msg);

		if (fd < 0)
			break;
		verify(fd, &msg);
		close(fd);
	}
	_exit(atomic_load(&counters->failed));
}

static int unload(void)
{
	return syscall(SYS_delete_module, "dmabuf_exporter", O_NONBLOCK);
}

/* Every attempt must fail: the parent holds a mapping the whole time. */
static void unloader_process(void)
{
	while (time(NULL) < deadline && !atomic_load(&counters->failed)) {
		atomic_fetch_add(&counters->unload_attempts, 1);
		if (!unload()) {
			FAIL("rmmod succeeded while buffers were alive");
			break;
		}
		if (errno != EWOULDBLOCK)
			FAIL("rmmod refused with an errno other than EWOULDBLOCK");
		usleep(2000);
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	int socks[64][2], opt, status, failed = 0, pinned;
	pid_t pids[65];
	void *pin;

	harness_init(argv[0]);
	while ((opt = getopt(argc, argv, "p:t:s:S:")) != -1) {
		switch (opt) {
		case 'p': processes = atoi(optarg); break;
		case 't': threads = atoi(optarg); break;
		case 's': seconds = atoi(optarg); break;
		case 'S': seed = strtoul(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: %s [-p PROCESSES] [-t THREADS] [-s SECONDS] [-S SEED]\n", argv[0]);
			return 2;
		}
	}
	if (processes < 1 || processes > 64 || threads < 1 || threads > 64 || seconds < 1) {
		fprintf(stderr, "stress: 1..64 processes and threads, at least 1 second\n");
		return 2;
	}
	counters = mmap(NULL, sizeof(*counters), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	deadline = time(NULL) + seconds;

	/* A mapping alone (no fd, no device) pins the module for the whole run. */
	pinned = allocate(4096);
	if (pinned < 0)
		return 1;
	pin = mmap(NULL, 4096, PROT_READ, MAP_SHARED, pinned, 0);
	close(pinned);
	if (pin == MAP_FAILED) {
		FAIL("mmap pin");
		return 1;
	}

	for (int i = 0; i < processes; i++) {
		if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, socks[i])) {
			FAIL("socketpair");
			return 1;
		}
	}
	for (int i = 0; i < processes; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			/* Send to the next process in the ring, receive from the previous. */
			ring_send = socks[(i + 1) % processes][0];
			ring_recv = socks[i][1];
			worker_process(i);
		}
	}
	pids[processes] = fork();
	if (pids[processes] == 0)
		unloader_process();

	for (int i = 0; i <= processes; i++) {
		if (waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			failed = 1;
	}
	for (int i = 0; i < processes; i++) {
		struct message msg;
		int fd;

		ring_recv = socks[i][1];
		while ((fd = take_passed(ring_recv, &msg)) >= 0)
			close(fd);
		close(socks[i][0]);
		close(socks[i][1]);
	}

	/* Last reference gone: now the module must unload (fput is deferred, so retry). */
	munmap(pin, 4096);
	for (int tries = 0; unload(); tries++) {
		if (tries == 100) {
			FAIL("rmmod still fails after every buffer was released");
			break;
		}
		usleep(20000);
	}

	printf("stress: seed %u, %d processes x %d threads, %d s: %ld allocations, %ld verified, "
	       "%ld passed over sockets, %ld vgem imports, %ld module imports, %ld forked readers, "
	       "%ld refused unloads\n",
	       seed, processes, threads, seconds, counters->allocs, counters->verified,
	       counters->passed, counters->imported, counters->kernel_imports, counters->forks,
	       counters->unload_attempts);
	/* Every kind of work must have happened, or the run proved nothing about it. */
	if (failed || atomic_load(&counters->failed) || !counters->allocs ||
	    !counters->verified || !counters->passed || !counters->forks ||
	    !counters->unload_attempts || !counters->imported || !counters->kernel_imports) {
		fprintf(stderr, "stress: FAILED%s\n",
			failed || atomic_load(&counters->failed) ? "" : ": a counter above is 0");
		return 1;
	}
	return 0;
}
