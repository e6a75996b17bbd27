// SPDX-License-Identifier: GPL-2.0
/*
 * Memory cgroups: a buffer's pages are charged to the memory cgroup of the
 * task that allocated it (__GFP_ACCOUNT), whoever holds the buffer later.
 * In a cgroup v2 with memory.max = 64 MiB:
 * - a 16 MiB ALLOC raises memory.current by 16 MiB, and freeing gives it back;
 * - a 96 MiB ALLOC fails with ENOMEM (and kills nobody);
 * - passed to a process in another cgroup, which maps and reads all of it,
 *   the buffer stays charged to the allocator's cgroup until it is freed.
 *
 *   memcg [TEST...]
 */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "harness.h"

#define CGROUP_ROOT	"/sys/fs/cgroup/"
#define GROUP_A		CGROUP_ROOT "dmabuf-memcg-a"
#define GROUP_B		CGROUP_ROOT "dmabuf-memcg-b"
#define BUFFER		(16 * MiB)
#define SLACK		(2 * MiB)	/* page array, page tables, the test's own memory */

static long long memory_current(const char *group)
{
	char path[256];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/memory.current", group);
	f = fopen(path, "re");
	CHECKF(f != NULL, "open %s", path);
	CHECK(fscanf(f, "%lld", &v) == 1);
	fclose(f);
	return v;
}

static void join(const char *group)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/cgroup.procs", group);
	write_text(path, "0\n", 0);
}

/* ---- lock-step with child processes: one byte per step ---- */

struct child {
	pid_t pid;
	int to, from;	/* pipes: parent to child, child to parent */
};

static struct child spawn(void (*body)(int in, int out, int sock), int sock)
{
	int down[2], up[2];
	struct child c;

	CHECK(pipe(down) == 0 && pipe(up) == 0);
	c.pid = fork();
	CHECK(c.pid >= 0);
	if (c.pid == 0) {
		close(down[1]);
		close(up[0]);
		body(down[0], up[1], sock);
		exit(0);
	}
	close(down[0]);
	close(up[1]);
	c.to = down[1];
	c.from = up[0];
	return c;
}

static void step_wait(int fd)
{
	char c;

	CHECKF(read(fd, &c, 1) == 1, "%s", "the other side of a step died");
}

static void step_post(int fd)
{
	CHECK(write(fd, "", 1) == 1);
}

static void reap(struct child *c)
{
	int status;

	close(c->to);
	close(c->from);
	CHECK(waitpid(c->pid, &status, 0) == c->pid);
	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
}

/* ---- the tests ---- */

static void alloc_in_a(int in, int out, int sock)
{
	int dev, fd;

	(void)sock;
	join(GROUP_A);
	dev = dev_open();
	step_post(out);		/* in the cgroup */
	step_wait(in);
	fd = must_alloc(dev, BUFFER, O_RDWR | O_CLOEXEC, "memcg");
	step_post(out);		/* allocated */
	step_wait(in);
	CHECK_ERR(try_alloc(dev, 96 * MiB, O_RDWR | O_CLOEXEC, NULL), ENOMEM);
	CHECK(close(fd) == 0);
	step_post(out);		/* freed */
	step_wait(in);
	close(dev);
}

static void test_charge_and_limit(void)
{
	struct child a;
	long long before, with, after;

	SECTION("16 MiB ALLOC in a cgroup of 64 MiB: charged there, 96 MiB fails, freed gives back");
	a = spawn(alloc_in_a, -1);
	step_wait(a.from);
	before = memory_current(GROUP_A);
	step_post(a.to);
	step_wait(a.from);
	with = memory_current(GROUP_A);
	step_post(a.to);
	step_wait(a.from);
	after = memory_current(GROUP_A);
	step_post(a.to);
	reap(&a);
	printf("memcg: memory.current %lld KiB, with 16 MiB buffer %lld KiB, freed %lld KiB\n",
	       before >> 10, with >> 10, after >> 10);
	CHECKF(with - before >= (long long)BUFFER && with - before <= (long long)(BUFFER + SLACK),
	       "memory.current rose by %lld KiB for a 16 MiB buffer", (with - before) >> 10);
	CHECKF(after <= before + (long long)SLACK, "memory.current %lld KiB after the free",
	       after >> 10);
}

static void alloc_and_pass(int in, int out, int sock)
{
	int dev, fd;
	char *p;

	join(GROUP_A);
	dev = dev_open();
	step_post(out);		/* in the cgroup */
	step_wait(in);
	fd = must_alloc(dev, BUFFER, O_RDWR | O_CLOEXEC, "memcg-passed");
	p = must_map(fd, BUFFER, PROT_READ | PROT_WRITE, 0);
	fill_pattern(p, BUFFER, 7);
	CHECK(munmap(p, BUFFER) == 0);
	CHECK(send_with_fd(sock, fd, "", 1, 0) == 1);
	/* The buffer now lives on only through the other cgroup's fd. */
	CHECK(close(fd) == 0);
	close(dev);
	step_post(out);		/* passed */
	step_wait(in);
}

static void receive_and_read(int in, int out, int sock)
{
	ssize_t got;
	char byte;
	int fd;
	char *p;

	join(GROUP_B);
	step_post(out);		/* in the cgroup */
	fd = recv_with_fd(sock, &byte, 1, 0, &got);
	CHECK(fd >= 0 && got == 1);
	p = must_map(fd, BUFFER, PROT_READ, 0);
	CHECK(check_pattern(p, BUFFER, 7) < 0);
	step_post(out);		/* mapped and read */
	step_wait(in);
	CHECK(munmap(p, BUFFER) == 0);
	CHECK(close(fd) == 0);
	step_post(out);		/* freed */
	step_wait(in);
}

static void test_charge_stays_with_allocator(void)
{
	long long a0, b0, a1, b1, a2;
	struct child a, b;
	int sp[2];

	SECTION("passed to a process in another cgroup, the buffer stays charged to the allocator's");
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
	a = spawn(alloc_and_pass, sp[0]);
	b = spawn(receive_and_read, sp[1]);
	close(sp[0]);
	close(sp[1]);
	step_wait(a.from);
	step_wait(b.from);
	a0 = memory_current(GROUP_A);
	b0 = memory_current(GROUP_B);
	step_post(a.to);
	step_wait(a.from);
	step_wait(b.from);
	a1 = memory_current(GROUP_A);
	b1 = memory_current(GROUP_B);
	step_post(b.to);
	step_wait(b.from);
	a2 = memory_current(GROUP_A);
	step_post(a.to);
	step_post(b.to);
	reap(&a);
	reap(&b);
	printf("memcg: allocator's cgroup %lld -> %lld -> %lld KiB, holder's %lld -> %lld KiB\n",
	       a0 >> 10, a1 >> 10, a2 >> 10, b0 >> 10, b1 >> 10);
	CHECKF(a1 - a0 >= (long long)(BUFFER - SLACK), "the allocator's cgroup rose by %lld KiB only",
	       (a1 - a0) >> 10);
	CHECKF(b1 - b0 < (long long)SLACK, "the holder's cgroup rose by %lld KiB", (b1 - b0) >> 10);
	CHECKF(a1 - a2 >= (long long)(BUFFER - SLACK),
	       "the allocator's cgroup fell by %lld KiB only when the holder freed it",
	       (a1 - a2) >> 10);
}

static void setup(void)
{
	char controllers[256] = "";
	FILE *f = fopen(CGROUP_ROOT "cgroup.controllers", "re");

	CHECKF(f != NULL, "%s", "no cgroup v2 at " CGROUP_ROOT);
	CHECK(fgets(controllers, sizeof(controllers), f) != NULL);
	fclose(f);
	CHECKF(strstr(controllers, "memory") != NULL, "no memory controller: %s", controllers);
	write_text(CGROUP_ROOT "cgroup.subtree_control", "+memory\n", 0);
	CHECK(mkdir(GROUP_A, 0755) == 0 || errno == EEXIST);
	CHECK(mkdir(GROUP_B, 0755) == 0 || errno == EEXIST);
	write_text(GROUP_A "/memory.max", "67108864\n", 0);
}

static void teardown(void)
{
	CHECK(rmdir(GROUP_A) == 0);
	CHECK(rmdir(GROUP_B) == 0);
}

static const struct harness_test tests[] = {
	HARNESS_TEST(test_charge_and_limit),
	HARNESS_TEST(test_charge_stays_with_allocator),
};

int main(int argc, char **argv)
{
	return harness_main(argc, argv, setup, teardown, tests, ARRAY_SIZE(tests));
}
