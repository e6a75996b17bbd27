// SPDX-License-Identifier: GPL-2.0
/*
 * Stress: PROCS processes x THREADS threads, for SECONDS, allocate buffers of
 * various sizes, map them whole and in windows, write a pattern bracketed by
 * DMA_BUF_IOCTL_SYNC, verify it, and close. Each process also passes buffers
 * to the next one over a Unix socket (SCM_RIGHTS): the receiver checks the
 * sender's bytes and marks the buffer, and the sender checks the mark when
 * the receiver acknowledges. At the end no buffer, fd or quota charge may
 * be left.
 *
 *   concurrency [SECONDS=5] [PROCS=2] [THREADS=3]
 */
#include <pthread.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "harness.h"

#define MAX_INFLIGHT	8

struct pstats {
	long iterations, bytes, sent, received, acked;
};

struct proc {
	int idx, pdev, tx, rx;
	double deadline;
	struct pstats *st;
};

struct worker {
	struct proc *proc;
	int tid;
	pthread_t thread;
};

struct msg {
	uint64_t seed, size;
};

static const unsigned long long sizes[] = {
	1, PAGE, 3 * PAGE + 5, 16 * KiB, 64 * KiB + PAGE, 256 * KiB, 1 * MiB,
	2 * MiB + PAGE,
};

static void add(long *ctr, long v)
{
	__atomic_add_fetch(ctr, v, __ATOMIC_RELAXED);
}

/* Zero check: the first page whole, then one word in 64. */
static void check_zero_sampled(const uint64_t *p, size_t sz)
{
	size_t i;

	CHECK(check_zero(p, PAGE) < 0);
	for (i = PAGE / 8; i < sz / 8; i += 64)
		CHECKF(!p[i], "fresh buffer not zero at %zu", i * 8);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct proc *pr = w->proc;
	unsigned int rs = pr->idx * 7919 + w->tid * 104729 + getpid();
	int mydev = dev_open();
	long it;

	for (it = 0; now_sec() < pr->deadline; it++) {
		unsigned int r = rand_r(&rs);
		unsigned long long req = sizes[r % ARRAY_SIZE(sizes)];
		size_t sz = (req + PAGE - 1) & ~(PAGE - 1);
		int ro = (r >> 8) % 8 == 0;
		int d = (it & 1) ? pr->pdev : mydev;
		uint64_t seed = ((uint64_t)pr->idx << 48) | ((uint64_t)w->tid << 32) | it;
		size_t npages = sz / PAGE, k, n, i;
		uint64_t *p, *win;
		int fd;

		fd = try_alloc(d, req, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC,
			       (r >> 12) % 4 ? NULL : "stress");
		CHECKF(fd >= 0, "proc %d thread %d: ALLOC %llu", pr->idx, w->tid, req);
		CHECK_EQ(buf_size(fd), sz);

		if (ro) {
			p = must_map(fd, sz, PROT_READ, 0);
			check_zero_sampled(p, sz);
			CHECK(munmap(p, sz) == 0);
			CHECK(close(fd) == 0);
			add(&pr->st->iterations, 1);
			continue;
		}

		p = must_map(fd, sz, PROT_READ | PROT_WRITE, 0);
		CHECK(sync_buf(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE) == 0);
		check_zero_sampled(p, sz);
		fill_pattern(p, sz, seed);
		CHECK(sync_buf(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE) == 0);

		/* Buffers outlive the open file that allocated them. */
		if (it % 32 == 31) {
			CHECK(close(mydev) == 0);
			mydev = dev_open();
		}

		CHECK(sync_buf(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ) == 0);
		CHECKF(check_pattern(p, sz, seed) < 0, "proc %d thread %d: %zu-byte buffer",
		       pr->idx, w->tid, sz);
		CHECK(sync_buf(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ) == 0);

		/* A window at a random page offset shows the same bytes. */
		k = (r >> 16) % npages;
		n = npages - k < 2 ? npages - k : 2;
		win = must_map(fd, n * PAGE, PROT_READ, k * PAGE);
		for (i = 0; i < n * PAGE / 8; i++)
			CHECKF(win[i] == pattern_word(seed, k * PAGE / 8 + i),
			       "window at page %zu of %zu, word %zu", k, npages, i);
		CHECK(munmap(win, n * PAGE) == 0);

		CHECK(munmap(p, sz) == 0);
		CHECK(close(fd) == 0);
		add(&pr->st->iterations, 1);
		add(&pr->st->bytes, sz);
	}
	CHECK(close(mydev) == 0);
	return NULL;
}

/* The receiver marks word 0 with ~seed; the rest is the sender's. */
static void check_ack(struct proc *pr, const struct msg *sent, int fd)
{
	struct msg ack;
	uint64_t *p;
	size_t i;

	CHECK(recv(pr->tx, &ack, sizeof(ack), 0) == sizeof(ack));
	CHECKF(ack.seed == sent->seed, "ack for %#llx, expected %#llx",
	       (unsigned long long)ack.seed, (unsigned long long)sent->seed);
	p = must_map(fd, sent->size, PROT_READ, 0);
	CHECKF(p[0] == ~sent->seed, "receiver's mark missing in %#llx",
	       (unsigned long long)sent->seed);
	for (i = 1; i < sent->size / 8; i++)
		CHECKF(p[i] == pattern_word(sent->seed, i),
		       "passed buffer %#llx changed at word %zu",
		       (unsigned long long)sent->seed, i);
	CHECK(munmap(p, sent->size) == 0);
	CHECK(close(fd) == 0);
	add(&pr->st->acked, 1);
}

static void *sender_main(void *arg)
{
	struct proc *pr = arg;
	struct msg fifo[MAX_INFLIGHT], end = { 0, 0 };
	int fds[MAX_INFLIGHT];
	unsigned int rs = pr->idx * 31 + getpid(), head = 0, count = 0;
	uint64_t n;

	for (n = 1; now_sec() < pr->deadline; n++) {
		struct msg m;
		void *p;
		int fd;

		m.size = PAGE * (1 + rand_r(&rs) % 64);
		m.seed = ((uint64_t)(pr->idx + 1) << 40) | n;
		fd = must_alloc(pr->pdev, m.size, O_RDWR | O_CLOEXEC, "passed");
		p = must_map(fd, m.size, PROT_READ | PROT_WRITE, 0);
		fill_pattern(p, m.size, m.seed);
		CHECK(munmap(p, m.size) == 0);
		CHECK(send_with_fd(pr->tx, fd, &m, sizeof(m), 0) == sizeof(m));
		add(&pr->st->sent, 1);

		fifo[(head + count) % MAX_INFLIGHT] = m;
		fds[(head + count) % MAX_INFLIGHT] = fd;
		if (++count == MAX_INFLIGHT) {
			check_ack(pr, &fifo[head], fds[head]);
			head = (head + 1) % MAX_INFLIGHT;
			count--;
		}
	}
	CHECK(send_with_fd(pr->tx, -1, &end, sizeof(end), 0) == sizeof(end));
	for (; count; count--, head = (head + 1) % MAX_INFLIGHT)
		check_ack(pr, &fifo[head], fds[head]);
	return NULL;
}

static void *receiver_main(void *arg)
{
	struct proc *pr = arg;
	struct msg m;
	uint64_t *p;
	ssize_t n;
	int fd;

	for (;;) {
		fd = recv_with_fd(pr->rx, &m, sizeof(m), 0, &n);
		CHECKF(n == sizeof(m), "recvmsg returned %zd (peer gone?)", n);
		if (!m.size) {
			CHECK(fd == -1);
			break;
		}
		CHECKF(fd >= 0, "message %#llx came without an fd",
		       (unsigned long long)m.seed);
		CHECK_EQ(buf_size(fd), m.size);
		p = must_map(fd, m.size, PROT_READ | PROT_WRITE, 0);
		CHECK(sync_buf(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW) == 0);
		CHECKF(check_pattern(p, m.size, m.seed) < 0,
		       "proc %d received %#llx with other data", pr->idx,
		       (unsigned long long)m.seed);
		p[0] = ~m.seed;
		CHECK(sync_buf(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW) == 0);
		CHECK(munmap(p, m.size) == 0);
		CHECK(close(fd) == 0);
		add(&pr->st->received, 1);
		CHECK(send(pr->rx, &m, sizeof(m), MSG_NOSIGNAL) == sizeof(m));
	}
	return NULL;
}

static void child_main(struct proc *pr, int nthreads)
{
	struct worker *w = calloc(nthreads, sizeof(*w));
	pthread_t tx, rx;
	int i;

	CHECK(w != NULL);
	pr->pdev = dev_open();
	for (i = 0; i < nthreads; i++) {
		w[i].proc = pr;
		w[i].tid = i;
		CHECK(pthread_create(&w[i].thread, NULL, worker_main, &w[i]) == 0);
	}
	CHECK(pthread_create(&tx, NULL, sender_main, pr) == 0);
	CHECK(pthread_create(&rx, NULL, receiver_main, pr) == 0);
	for (i = 0; i < nthreads; i++)
		CHECK(pthread_join(w[i].thread, NULL) == 0);
	CHECK(pthread_join(tx, NULL) == 0);
	CHECK(pthread_join(rx, NULL) == 0);
	CHECK(close(pr->pdev) == 0);
	free(w);
}

/* Everything is given back: no module reference, the whole quota free. */
static void check_no_leaks(void)
{
	double deadline = now_sec() + 5;
	int dev, fd;

	while (module_refcnt() != 0 && now_sec() < deadline)
		sleep_ms(20);
	CHECKF(module_refcnt() == 0, "module refcnt %ld after all buffers closed",
	       module_refcnt());

	param_save("max_total_bytes");
	param_set("max_total_bytes", 16 * MiB);
	dev = dev_open();
	fd = try_alloc(dev, 16 * MiB, O_RDWR | O_CLOEXEC, NULL);
	CHECKF(fd >= 0, "%s", "ALLOC of all of max_total_bytes after the stress");
	CHECK(close(fd) == 0);
	CHECK(close(dev) == 0);
	param_reset("max_total_bytes");
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 5;
	int nprocs = argc > 2 ? atoi(argv[2]) : 2;
	int nthreads = argc > 3 ? atoi(argv[3]) : 3;
	struct pstats *st, tot = { 0 };
	int (*ring)[2], i, status, failed = 0, fds_before;
	double deadline;

	harness_init(argv[0]);
	if (secs <= 0 || nprocs < 1 || nthreads < 1) {
		fprintf(stderr, "usage: %s [SECONDS=5] [PROCS=2] [THREADS=3]\n", argv[0]);
		return 2;
	}
	fds_before = count_fds();
	st = mmap(NULL, nprocs * sizeof(*st), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(st != MAP_FAILED);
	ring = calloc(nprocs, sizeof(*ring));
	CHECK(ring != NULL);
	for (i = 0; i < nprocs; i++)
		CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ring[i]) == 0);

	printf("%s: %d processes x %d threads (+ a sender and a receiver each), %.1f s\n",
	       harness_prog, nprocs, nthreads, secs);
	deadline = now_sec() + secs;
	for (i = 0; i < nprocs; i++) {
		pid_t pid = fork();

		CHECK(pid >= 0);
		if (!pid) {
			struct proc pr = {
				.idx = i, .deadline = deadline, .st = &st[i],
				.tx = ring[i][0],
				.rx = ring[(i + nprocs - 1) % nprocs][1],
			};

			int j;

			/* Only our two ends: a dead peer must read as EOF. */
			for (j = 0; j < nprocs; j++) {
				if (ring[j][0] != pr.tx)
					close(ring[j][0]);
				if (ring[j][1] != pr.rx)
					close(ring[j][1]);
			}
			child_main(&pr, nthreads);
			exit(0);
		}
	}
	for (i = 0; i < nprocs; i++) {
		CHECK(close(ring[i][0]) == 0);
		CHECK(close(ring[i][1]) == 0);
	}
	while (wait(&status) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "%s: a child failed (status %#x)\n",
				harness_prog, status);
			failed = 1;
		}
	CHECK(errno == ECHILD);

	for (i = 0; i < nprocs; i++) {
		printf("%s: proc %d: %ld iterations, %ld MiB, %ld passed, %ld received, %ld acked\n",
		       harness_prog, i, st[i].iterations, st[i].bytes >> 20,
		       st[i].sent, st[i].received, st[i].acked);
		tot.iterations += st[i].iterations;
		tot.sent += st[i].sent;
		tot.received += st[i].received;
		tot.acked += st[i].acked;
		if (!failed) {
			CHECKF(st[i].iterations > 0 && st[i].sent > 0, "proc %d did nothing", i);
			CHECK_EQ(st[i].acked, st[i].sent);
		}
	}
	printf("%s: total %ld iterations, %ld buffers passed, %ld received\n",
	       harness_prog, tot.iterations, tot.sent, tot.received);
	if (failed)
		return 1;
	CHECK_EQ(tot.received, tot.sent);

	check_no_leaks();
	free(ring);
	CHECK(munmap(st, nprocs * sizeof(*st)) == 0);
	CHECK_EQ(count_fds(), fds_before);
	printf("%s: OK\n", harness_prog);
	return 0;
}
