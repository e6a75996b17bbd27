// SPDX-License-Identifier: GPL-2.0
/*
 * Systematic fault injection for dmabuf_exporter (debug kernel only).
 *
 * For each operation, fail its 1st, 2nd, ... fault-injection site in turn
 * through /proc/thread-self/fail-nth (failslab, fail_page_alloc and
 * fail_usercopy all count), until the operation runs with no site left.
 * The operations: open(), ALLOC, GET_SHARED_FD, read(), write(), page
 * faults, vgem imports and IMPORT.
 * At every step the operation must either succeed or fail with ENOMEM or
 * EFAULT, must install no fd when it fails, and the module must still work
 * afterwards: under a quota (max_file_bytes and max_total_bytes) just large
 * enough for the largest buffer, it must allocate exactly that much again,
 * so a leaked charge of even one page shows. The sites that fired are
 * listed by the kernel's fault injection stack dumps in the log; this
 * program prints how many there were.
 *
 * The page fault path is walked through a write() whose source is a fresh
 * mapping that straddles a 2 MiB boundary, so the kernel's copy faults on
 * two page tables that do not exist yet (a fault from user mode that failed
 * its allocation would report VM_FAULT_OOM to the page fault handler, which
 * the kernel logs). Attach and map are walked through vgem imports.
 *
 * IMPORT is walked on a udmabuf, which on this 6.1 kernel has no vmap, so
 * the module refuses it with EOPNOTSUPP: every site before the refusal (its
 * user copy) fails in turn, the refusal is the step with no site left, and
 * nothing may be left attached to the module's device. IMPORT's vmap is not
 * walked: dma_buf_vmap() itself warns (WARN_ON_ONCE) when an exporter's vmap
 * fails, and the VMs treat a warning as fatal (so the exporter's vmap
 * failure, and IMPORT's, are reached by no test). IMPORT's attach and map
 * are walked on one of the module's buffers whose kernel mapping another
 * IMPORT, blocked in a fence wait, holds (walk_import_with_vmap_held()).
 *
 * Last, the module is unloaded and loaded again with each site of
 * finit_module() failing in turn, its init's among them: a failed load
 * leaves no module and no device behind, and the next load succeeds.
 *
 *   faultinject [window|load]	(only the page-table check, or only the module load)
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>

#include <linux/udmabuf.h>

#include "vgem.h"

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
	/* Optional: before arming, and after the step (whatever its result). */
	void (*prepare)(int dev);
	void (*cleanup)(int dev);
};

/* The largest buffer an operation makes; also the quota. */
#define QUOTA	((4 << 20) + 4096)

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

/*
 * open() by a user with no open file of the device, so that it allocates
 * the user's entry too: the real uid is another's, the effective one stays
 * root's (to open the 0600 device).
 */
#define OTHER_UID	4242

static void prepare_open(int dev)
{
	(void)dev;
	CHECK(setresuid(OTHER_UID, 0, 0) == 0);
}

static long op_open(int dev, int *new_fd)
{
	(void)dev;
	*new_fd = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	return *new_fd < 0 ? -1 : 0;
}

static void cleanup_open(int dev)
{
	(void)dev;
	CHECK(setresuid(0, 0, 0) == 0);
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

/* ---- the page fault path ---- */

#define WINDOW_PAGES	4
static char *slots;		/* 2 MiB-aligned address space, one 4 MiB slot per step */
static unsigned int next_slot;
static int window_fd = -1;
static char *window;		/* WINDOW_PAGES pages, the middle at a 2 MiB boundary */

static void prepare_window(int dev)
{
	char *p;

	window_fd = must_alloc(dev, WINDOW_PAGES * PAGE, O_RDWR | O_CLOEXEC, "window");
	p = must_map(window_fd, WINDOW_PAGES * PAGE, PROT_READ | PROT_WRITE, 0);
	memset(p, 'w', WINDOW_PAGES * PAGE);
	CHECK(munmap(p, WINDOW_PAGES * PAGE) == 0);
	CHECK(next_slot < MAX_SITES + 8);
	p = slots + (size_t)next_slot++ * (4 << 20) + (2 << 20) - WINDOW_PAGES / 2 * PAGE;
	window = mmap(p, WINDOW_PAGES * PAGE, PROT_READ, MAP_SHARED | MAP_FIXED, window_fd, 0);
	CHECK(window == p);
}

static long op_fault(int dev, int *new_fd)
{
	*new_fd = -1;
	/* The copy faults on the page before the boundary, then on the one after it. */
	return pwrite(dev, window + PAGE + PAGE / 2, PAGE, 0) < 0 ? -1 : 0;
}

static void cleanup_window(int dev)
{
	static const char text[] = DMABUF_EXPORTER_SHARED_TEXT;
	unsigned int i;

	/* Whatever failed, the mapping shows the buffer. */
	for (i = 0; i < WINDOW_PAGES * PAGE; i += PAGE / 2)
		CHECKF(window[i] == 'w', "window byte %u after the step", i);
	CHECK(munmap(window, WINDOW_PAGES * PAGE) == 0);
	CHECK(close(window_fd) == 0);
	CHECK(pwrite(dev, text, sizeof(text), 0) == sizeof(text));
}

/* ---- attach and map, through vgem ---- */

static int card = -1, import_fd = -1, shared_fd = -1;
static __u32 shared_handle;

static void prepare_import(int dev)
{
	import_fd = must_alloc(dev, 16 * PAGE, O_RDWR | O_CLOEXEC, "import");
}

static long op_import(int dev, int *new_fd)
{
	__u32 handle;

	(void)dev;
	*new_fd = -1;
	/* The cleanup drops the handle, once fail-nth is disarmed. */
	handle = vgem_import(card, import_fd);
	return handle ? 0 : -1;
}

/*
 * A failed PRIME import can still have made a handle (DRM copies the
 * handle out last): reopening the card drops every handle it holds.
 */
static void reopen_card(void)
{
	CHECK(close(card) == 0);
	card = must_vgem_open();
}

static void cleanup_import(int dev)
{
	(void)dev;
	reopen_card();
	CHECK(close(import_fd) == 0);
}

/* A second import of the shared page while one is mapped: the shared DMA mapping. */
static void prepare_shared_import(int dev)
{
	CHECK(ioctl(dev, DMABUF_EXPORTER_IOC_GET_SHARED_FD, &shared_fd) == 0);
	shared_handle = vgem_import(card, shared_fd);
	CHECK(shared_handle != 0);
	CHECK(ioctl(dev, DMABUF_EXPORTER_IOC_GET_SHARED_FD, &import_fd) == 0);
}

static void cleanup_shared_import(int dev)
{
	(void)dev;
	CHECK(vgem_close(card, shared_handle) == 0);
	reopen_card();
	CHECK(close(shared_fd) == 0);
	CHECK(close(import_fd) == 0);
}

/* ---- IMPORT, of a udmabuf ---- */

#define IMPORT_PAGES	16
static int import_ret;
static struct dmabuf_exporter_import import_result;

static void prepare_udmabuf_import(int dev)
{
	struct udmabuf_create create = { .flags = UDMABUF_FLAGS_CLOEXEC, .size = IMPORT_PAGES * PAGE };
	int udmabuf = open("/dev/udmabuf", O_RDWR | O_CLOEXEC), memfd;
	char *p;

	(void)dev;
	CHECKF(udmabuf >= 0, "%s", "/dev/udmabuf");
	memfd = memfd_create("faultinject", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	CHECK(memfd >= 0 && ftruncate(memfd, IMPORT_PAGES * PAGE) == 0);
	CHECK(fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK) == 0);
	p = must_map(memfd, IMPORT_PAGES * PAGE, PROT_READ | PROT_WRITE, 0);
	fill_pattern(p, IMPORT_PAGES * PAGE, 9);
	CHECK(munmap(p, IMPORT_PAGES * PAGE) == 0);
	create.memfd = memfd;
	import_fd = ioctl(udmabuf, UDMABUF_CREATE, &create);
	CHECK(import_fd >= 0);
	close(memfd);
	close(udmabuf);
}

/* The refusal is this operation's success. */
static long op_module_import(int dev, int *new_fd)
{
	*new_fd = -1;
	import_ret = try_import(dev, import_fd, PAGE + 3, 5 * PAGE, &import_result);
	if (import_ret && errno == EOPNOTSUPP)
		import_ret = 0;
	return import_ret;
}

static void cleanup_module_import(int dev)
{
	CHECK_EQ(our_attachments(), 0);
	/* And the buffer is refused the same way again. */
	CHECK_ERR(try_import(dev, import_fd, 0, 0, &import_result), EOPNOTSUPP);
	CHECK_EQ(our_attachments(), 0);
	CHECK(close(import_fd) == 0);
}

/* ---- IMPORT's attach and map, with the buffer's kernel mapping held ---- */

/*
 * dma_buf_vmap() warns when an exporter's vmap fails, so no step may fail
 * IMPORT's vmap. A first IMPORT of the buffer, blocked in its wait for a
 * vgem write fence, holds the buffer's kernel mapping, which dma_buf_vmap()
 * then hands a second IMPORT without calling the exporter. The second
 * IMPORT's sites are walked (its user copy, attach, and map, which shares
 * the first IMPORT's DMA mapping and copies its table); with no site left
 * it blocks in the same wait, and a signal ends it with EINTR.
 */
struct import_step {
	pthread_t thread;
	int dev, fd, nth;	/* nth 0: no fault armed */
	atomic_int tid, done;
	long ret;
	int err, fired;
};

static void *run_import_step(void *arg)
{
	struct import_step *step = arg;
	struct dmabuf_exporter_import result;
	int armed = -1;

	atomic_store(&step->tid, (int)syscall(SYS_gettid));
	if (step->nth)
		armed = arm(step->nth);
	step->ret = try_import(step->dev, step->fd, 0, 0, &result);
	step->err = errno;
	step->fired = armed >= 0 ? disarm(armed) : 0;
	atomic_store(&step->done, 1);
	return NULL;
}

static void start_import_step(struct import_step *step, int dev, int fd, int nth)
{
	*step = (struct import_step){ .dev = dev, .fd = fd, .nth = nth };
	CHECK(pthread_create(&step->thread, NULL, run_import_step, step) == 0);
	while (!atomic_load(&step->tid))
		sched_yield();
}

/*
 * Wait for the step to return; one blocked in the fence wait gets SIGUSR1.
 * Its fail-nth is disarmed from here first: the signal frame is a user copy
 * too, and failing it would kill the process with SIGSEGV. Returns whether
 * the step blocked.
 */
static int finish_import_step(struct import_step *step)
{
	int blocked = 0, fired = 0;
	char state;

	while (!atomic_load(&step->done)) {
		if (!blocked && task_blocked_in(atomic_load(&step->tid), "fence", &state)) {
			char path[64];
			int fd;

			blocked = 1;
			snprintf(path, sizeof(path), "/proc/self/task/%d/fail-nth",
				 atomic_load(&step->tid));
			fd = open(path, O_RDWR | O_CLOEXEC);
			CHECKF(fd >= 0, "open %s", path);
			fired = disarm(fd);
			CHECK(pthread_kill(step->thread, SIGUSR1) == 0);
		}
		sleep_ms(1);	/* a poll interval, not what is checked */
	}
	CHECK(pthread_join(step->thread, NULL) == 0);
	if (blocked)
		step->fired = fired;
	return blocked;
}

static void on_signal(int sig)
{
	(void)sig;
}

static int walk_import_with_vmap_held(int dev)
{
	struct drm_vgem_fence_attach fence = { .flags = VGEM_FENCE_WRITE };
	struct sigaction sa = { .sa_handler = on_signal };	/* no SA_RESTART */
	struct import_step holder, step;
	int fd, sites = 0, nth;

	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	fd = must_alloc(dev, IMPORT_PAGES * PAGE, O_RDWR | O_CLOEXEC, "import");
	fence.handle = vgem_import(card, fd);
	CHECK(fence.handle != 0);
	CHECK(ioctl(card, DRM_IOCTL_VGEM_FENCE_ATTACH, &fence) == 0);
	start_import_step(&holder, dev, fd, 0);
	wait_blocked_in(atomic_load(&holder.tid), "fence");

	for (nth = 1; nth <= MAX_SITES; nth++) {
		int fds_before = count_fds(), blocked;

		start_import_step(&step, dev, fd, nth);
		blocked = finish_import_step(&step);
		/* Only the holder's attachment is left. */
		CHECKF(our_attachments() == 1, "IMPORT with the vmap held, site %d: %d attachments",
		       nth, our_attachments());
		CHECKF(count_fds() == fds_before, "IMPORT with the vmap held, site %d: fd leaked", nth);
		if (!step.fired) {
			CHECKF(blocked && step.ret == -1 && step.err == EINTR,
			       "IMPORT with the vmap held and no fault injected: returned %ld, errno %d",
			       step.ret, step.err);
			break;
		}
		sites++;
		CHECKF(step.ret == -1 && (step.err == ENOMEM || step.err == EFAULT ||
					  (blocked && step.err == EINTR)),
		       "IMPORT with the vmap held, site %d: returned %ld, errno %d", nth, step.ret,
		       step.err);
	}
	CHECKF(!atomic_load(&holder.done), "%s", "the first IMPORT returned before the fence was signalled");
	{
		struct drm_vgem_fence_signal signal_fence = { .fence = fence.out_fence };

		CHECK(ioctl(card, DRM_IOCTL_VGEM_FENCE_SIGNAL, &signal_fence) == 0);
	}
	CHECK(pthread_join(holder.thread, NULL) == 0);
	CHECKF(holder.ret == 0, "the first IMPORT, after the fence: errno %d", holder.err);
	CHECK(vgem_close(card, fence.handle) == 0);
	CHECK(close(fd) == 0);
	CHECK_EQ(our_attachments(), 0);
	sa.sa_handler = SIG_DFL;
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	printf("faultinject: %-22s %3d injection sites, each handled cleanly\n", "IMPORT, vmap held",
	       sites);
	CHECKF(sites > 0, "%s", "IMPORT with the vmap held reached no injection site");
	return sites;
}

static const struct operation operations[] = {
	{ "open", op_open, prepare_open, cleanup_open },
	{ "ALLOC 4 KiB", op_alloc_small, NULL, NULL },
	{ "ALLOC 4 MiB + 4 KiB", op_alloc_large, NULL, NULL },
	{ "GET_SHARED_FD", op_shared, NULL, NULL },
	{ "read", op_read, NULL, NULL },
	{ "write", op_write, NULL, NULL },
	{ "page faults (write)", op_fault, prepare_window, cleanup_window },
	{ "vgem import (attach, map)", op_import, prepare_import, cleanup_import },
	{ "second shared import", op_import, prepare_shared_import, cleanup_shared_import },
	{ "IMPORT (udmabuf: EOPNOTSUPP)", op_module_import, prepare_udmabuf_import, cleanup_module_import },
};

/*
 * The module must still allocate, map and read back after every injected
 * failure, and the whole quota must be free again.
 */
static void check_module_works(int dev)
{
	int fd = try_alloc(dev, QUOTA, O_RDWR | O_CLOEXEC, "after-injection");
	char *map;

	CHECKF(fd >= 0, "%s", "ALLOC of the whole quota after a step: a charge leaked?");
	map = must_map(fd, QUOTA, PROT_READ | PROT_WRITE, 0);
	CHECK(map[0] == 0 && map[QUOTA - 1] == 0);
	map[QUOTA - 1] = 1;
	munmap(map, QUOTA);
	close(fd);
}

/*
 * A fault from user mode whose page table exists allocates nothing: its
 * window ends at the page table's end instead of allocating the next one
 * (which, failing, would have turned a fault that mapped its page into
 * VM_FAULT_OOM). Checked with fail-nth armed around the touch: it must not
 * fire.
 */
static void check_window_stays_in_page_table(int dev)
{
	char *base = slots + (size_t)next_slot++ * (4 << 20), *anon, *p;
	int fd = must_alloc(dev, WINDOW_PAGES * PAGE, O_RDWR | O_CLOEXEC, "window");
	int armed, fired;

	SECTION("a fault maps no further than its page table");
	p = base + (2 << 20) - WINDOW_PAGES / 2 * PAGE;
	CHECK(mmap(p, WINDOW_PAGES * PAGE, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0) == p);
	/* An anonymous page just below makes the page table exist. */
	anon = mmap(p - PAGE, PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK(anon == p - PAGE);
	anon[0] = 1;
	armed = arm(1);
	(void)*(volatile char *)p;
	fired = disarm(armed);
	CHECKF(!fired, "%s", "the fault allocated (a page table past the boundary?)");
	CHECK(*(volatile char *)(p + 3 * PAGE) == 0);
	CHECK(munmap(anon, PAGE) == 0);
	CHECK(munmap(p, WINDOW_PAGES * PAGE) == 0);
	CHECK(close(fd) == 0);
}

/* ---- loading the module: its init and the init's unwinding ---- */

#define MODNAME	"dmabuf_exporter"

static int module_loaded(void)
{
	return access("/sys/module/" MODNAME, F_OK) == 0;
}

static void unload_module(void)
{
	double deadline = now_sec() + 5;
	int ret;

	/* The last release may be deferred a little (delayed fput): retry. */
	while ((ret = syscall(SYS_delete_module, MODNAME, O_NONBLOCK)) && errno == EWOULDBLOCK &&
	       now_sec() < deadline)
		sleep_ms(20);
	CHECKF(ret == 0, "rmmod (refcnt %ld)", module_refcnt());
}

/*
 * finit_module() with its 1st, 2nd, ... site failing, until the module
 * loads with no site left. Each failed load must say ENOMEM and leave
 * nothing behind: no module, no device node, and (the next load proves it)
 * no platform or misc device of that name, which would make the next
 * registration fail with EEXIST; kmemleak's final scan sees leaked pages.
 * The pages of vmalloc areas (the module's file and image, hundreds of
 * them, all __GFP_HIGHMEM) are left out, so the walk reaches the module's
 * init in a few hundred steps.
 */
static int walk_module_load(void)
{
	const char *ko = getenv("DMABUF_EXPORTER_KO");
	int sites = 0, fd, nth;

	CHECKF(ko != NULL, "%s", "DMABUF_EXPORTER_KO is not set (scripts/vm-run sets it)");
	fd = open(ko, O_RDONLY | O_CLOEXEC);
	CHECKF(fd >= 0, "open %s", ko);
	unload_module();
	write_file("/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem", "Y");
	for (nth = 1; nth <= MAX_SITES; nth++) {
		int armed = arm(nth), err, fired;
		long ret = syscall(SYS_finit_module, fd, "", 0);

		err = errno;
		fired = disarm(armed);
		if (!fired) {
			CHECKF(ret == 0, "%s", "finit_module with no fault injected");
			break;
		}
		sites++;
		if (ret == 0) {		/* a failure the load could do without */
			unload_module();
			continue;
		}
		errno = err;
		/*
		 * EINVAL too: platform_device_add() ignores a failure to
		 * allocate the device's name, and device_add() then refuses
		 * the nameless device with EINVAL.
		 */
		CHECKF(err == ENOMEM || err == EFAULT || err == EINVAL, "finit_module, site %d: errno %d",
		       nth, err);
		CHECKF(!module_loaded(), "finit_module, site %d: failed, but the module is loaded", nth);
		CHECKF(access(DEV_PATH, F_OK) == -1 && errno == ENOENT,
		       "finit_module, site %d: failed, but %s is there", nth, DEV_PATH);
	}
	write_file("/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem", "N");
	CHECK(close(fd) == 0);
	CHECKF(nth <= MAX_SITES, "finit_module still failing after %d sites", MAX_SITES);
	printf("faultinject: %-22s %3d injection sites, each handled cleanly\n", "module load", sites);
	CHECKF(sites > 0, "%s", "module load reached no injection site");
	return sites;
}

/* Each operation's sites in turn; returns how many there were. */
static int walk_operations(int dev)
{
	int total_sites = 0;

	for (size_t i = 0; i < sizeof(operations) / sizeof(operations[0]); i++) {
		const struct operation *op = &operations[i];
		int sites = 0;

		for (int nth = 1; nth <= MAX_SITES; nth++) {
			int fds_before = count_fds(), armed, new_fd, fired, err;
			long ret;

			if (op->prepare)
				op->prepare(dev);
			armed = arm(nth);
			ret = op->run(dev, &new_fd);
			err = errno;
			fired = disarm(armed);
			if (op->cleanup)
				op->cleanup(dev);
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
	return total_sites;
}

int main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : NULL;
	int dev, total_sites = 0;

	harness_init(argv[0]);
	if (only && strcmp(only, "window") && strcmp(only, "load")) {
		fprintf(stderr, "usage: faultinject [window|load]\n");
		return 2;
	}
	param_save("max_file_bytes");
	param_save("max_total_bytes");
	param_set("max_file_bytes", QUOTA);
	param_set("max_total_bytes", QUOTA);
	dev = dev_open();
	card = must_vgem_open();
	slots = mmap(NULL, (size_t)(MAX_SITES + 9) << 22, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	CHECK(slots != MAP_FAILED);
	slots = (char *)(((uintptr_t)slots + (4 << 20) - 1) & ~(uintptr_t)((4 << 20) - 1));
	/* Let every allocation, sleeping or not, and every user copy take part. */
	write_file("/sys/kernel/debug/failslab/ignore-gfp-wait", "N");
	write_file("/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait", "N");
	write_file("/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem", "N");
	write_file("/sys/kernel/debug/fail_page_alloc/min-order", "0");
	/* Every injected failure's stack goes to the log, which thus lists the sites. */
	write_file("/sys/kernel/debug/failslab/verbose_ratelimit_burst", "1000");
	write_file("/sys/kernel/debug/fail_page_alloc/verbose_ratelimit_burst", "1000");
	write_file("/sys/kernel/debug/fail_usercopy/verbose_ratelimit_burst", "1000");

	if (!only) {
		total_sites += walk_import_with_vmap_held(dev);
		total_sites += walk_operations(dev);
	}
	if (!only || !strcmp(only, "window"))
		check_window_stays_in_page_table(dev);
	close(card);
	close(dev);
	if (!only || !strcmp(only, "load")) {
		total_sites += walk_module_load();
		/* The quota was the old module's: the default one allows QUOTA too. */
		dev = dev_open();
		check_module_works(dev);
		close(dev);
	}
	printf("faultinject: %d sites in all\n", total_sites);
	return 0;
}
