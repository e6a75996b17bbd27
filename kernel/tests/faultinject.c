// SPDX-License-Identifier: GPL-2.0
/*
 * Systematic fault injection for dmabuf_exporter (debug kernel only).
 *
 * For each operation, fail its 1st, 2nd, ... fault-injection site in turn
 * through /proc/thread-self/fail-nth (failslab, fail_page_alloc and
 * fail_usercopy all count), until the operation runs with no site left.
 * At every step the operation must either succeed or fail with ENOMEM or
 * EFAULT, must install no fd when it fails, and the module must still work
 * afterwards. The sites that fired are listed by the kernel's fault
 * injection stack dumps in the log; this program prints how many there were.
 */
#include "harness.h"

#define MAX_SITES 1000

static void write_file(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0 || write(fd, value, strlen(value)) != (ssize_t)strlen(value)) {
		fprintf(stderr, "faultinject: cannot write %s to %s: %s\n", value, path, strerror(errno));
		exit(1);
	}
	close(fd);
}

/* Arm fail-nth for the next syscall of this thread; returns its fd. */
static int arm(int nth)
{
	int fd = open("/proc/thread-self/fail-nth", O_RDWR);
	char value[16];

	if (fd < 0) {
		fprintf(stderr, "faultinject: no /proc/thread-self/fail-nth: not a fault-injection kernel\n");
		exit(1);
	}
	snprintf(value, sizeof(value), "%d", nth);
	if (write(fd, value, strlen(value)) < 0) {
		perror("faultinject: arm fail-nth");
		exit(1);
	}
	return fd;
}

/*
 * Disarm; true if the armed fault fired (the counter ran down to 0). The
 * read of the counter is itself a user copy, so when the operation had
 * fewer sites than armed it can be the one that fails: that counts as not
 * fired, and the counter is 0 afterwards either way.
 */
static int disarm(int fd)
{
	char value[16] = "";
	ssize_t n = pread(fd, value, sizeof(value) - 1, 0);
	int fired = n > 0 && value[0] == '0';

	if (write(fd, "0", 1) < 0 && errno != EFAULT)
		CHECK(!"reset fail-nth");
	close(fd);
	return fired;
}

struct operation {
	const char *name;
	/* Returns the syscall result; sets *new_fd to an fd it created, or -1. */
	long (*run)(int dev, int *new_fd);
};

static long op_alloc(int dev, int *new_fd, size_t size)
{
	*new_fd = try_alloc(dev, size, O_RDWR | O_CLOEXEC, "faultinject");
	return *new_fd < 0 ? -1 : 0;
}

static long op_alloc_small(int dev, int *new_fd) { return op_alloc(dev, new_fd, 4096); }
/* 4 MiB + 1 page: order-9, order-4 and order-0 runs, and a vmalloc'ed page array. */
static long op_alloc_large(int dev, int *new_fd) { return op_alloc(dev, new_fd, (4 << 20) + 4096); }

static long op_shared(int dev, int *new_fd)
{
	int fd = -1;
	long ret = ioctl(dev, DMABUF_EXPORTER_IOC_GET_SHARED_FD, &fd);

	*new_fd = ret ? -1 : fd;
	return ret;
}

static long op_read(int dev, int *new_fd)
{
	char text[DMABUF_EXPORTER_SHARED_SIZE];

	*new_fd = -1;
	return pread(dev, text, sizeof(text), 0) < 0 ? -1 : 0;
}

static long op_write(int dev, int *new_fd)
{
	static const char text[] = DMABUF_EXPORTER_SHARED_TEXT;

	*new_fd = -1;
	return pwrite(dev, text, sizeof(text), 0) < 0 ? -1 : 0;
}

static const struct operation operations[] = {
	{ "ALLOC 4 KiB", op_alloc_small },
	{ "ALLOC 4 MiB + 4 KiB", op_alloc_large },
	{ "GET_SHARED_FD", op_shared },
	{ "read", op_read },
	{ "write", op_write },
};

/* The module must still allocate, map and read back after every injected failure. */
static void check_module_works(int dev)
{
	int fd = must_alloc(dev, 8192, O_RDWR | O_CLOEXEC, "after-injection");
	char *map = must_map(fd, 8192, PROT_READ | PROT_WRITE, 0);

	CHECK(check_zero(map, 8192) == -1);
	map[8191] = 1;
	munmap(map, 8192);
	close(fd);
}

int main(int argc, char **argv)
{
	int dev, total_sites = 0;

	(void)argc;
	harness_init(argv[0]);
	dev = dev_open();
	/* Let every allocation, sleeping or not, and every user copy take part. */
	write_file("/sys/kernel/debug/failslab/ignore-gfp-wait", "N");
	write_file("/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait", "N");
	write_file("/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem", "N");
	write_file("/sys/kernel/debug/fail_page_alloc/min-order", "0");
	/* Every injected failure's stack goes to the log, which thus lists the sites. */
	write_file("/sys/kernel/debug/failslab/verbose_ratelimit_burst", "1000");
	write_file("/sys/kernel/debug/fail_page_alloc/verbose_ratelimit_burst", "1000");
	write_file("/sys/kernel/debug/fail_usercopy/verbose_ratelimit_burst", "1000");

	for (size_t i = 0; i < sizeof(operations) / sizeof(operations[0]); i++) {
		const struct operation *op = &operations[i];
		int sites = 0;

		for (int nth = 1; nth <= MAX_SITES; nth++) {
			int fds_before = count_fds(), armed, new_fd, fired, err;
			long ret;

			armed = arm(nth);
			ret = op->run(dev, &new_fd);
			err = errno;
			fired = disarm(armed);
			if (!fired) {
				CHECKF(ret == 0, "%s with no fault injected", op->name);
				if (new_fd >= 0)
					close(new_fd);
				break;
			}
			sites++;
			if (ret) {
				errno = err;
				CHECKF(err == ENOMEM || err == EFAULT, "%s, site %d: errno %d", op->name, nth, err);
				CHECKF(count_fds() == fds_before, "%s, site %d: fd leaked", op->name, nth);
			} else if (new_fd >= 0) {
				close(new_fd);
			}
			check_module_works(dev);
		}
		printf("faultinject: %-22s %3d injection sites, each handled cleanly\n", op->name, sites);
		CHECKF(sites > 0, "%s reached no injection site", op->name);
		total_sites += sites;
	}
	close(dev);
	printf("faultinject: %d sites in all\n", total_sites);
	return 0;
}
