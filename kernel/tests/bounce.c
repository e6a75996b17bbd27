// SPDX-License-Identifier: GPL-2.0
/*
 * The module under bounce buffers, in a VM booted with swiotlb=force
 * (scripts/vm-suite --swiotlb): every DMA mapping then goes through swiotlb,
 * as in confidential-computing guests and Xen. A device sees a copy of the
 * memory (the bounce slot), a sync copies between the two, and swiotlb maps
 * at most 256 KiB per segment.
 *
 * - ALLOC buffers from 4 KiB to 64 MiB import, through IMPORT and into vgem,
 *   with the right CRC;
 * - the system heap's buffers (1 MiB segments) are refused with EMSGSIZE;
 * - a CPU access waits for a device's write fence before it syncs (counted
 *   with a kprobe on the kernel's scatterlist sync for the CPU);
 * - a reader holding the read-only shared fd cannot revert writes made
 *   through the device: IMPORT's unmap must not copy a stale bounce slot
 *   back over them.
 *
 * Run anywhere else, it fails: it proves nothing without the bounce buffers.
 *
 *   bounce [TEST...]
 */
#include <linux/dma-heap.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/syscall.h>

#include "vgem.h"

static int dev = -1, card = -1;

/* Fill @fd's @size bytes with the pattern of @seed, as a bracketed CPU write. */
static void fill_buffer(int fd, size_t size, uint64_t seed)
{
	char *p = must_map(fd, size, PROT_READ | PROT_WRITE, 0);

	CHECK(sync_buf(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE) == 0);
	fill_pattern(p, size, seed);
	CHECK(sync_buf(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE) == 0);
	CHECK(munmap(p, size) == 0);
}

static void check_crc(int fd, size_t size, const void *expect, const char *what)
{
	struct dmabuf_exporter_import imp;

	CHECKF(try_import(dev, fd, 0, 0, &imp) == 0, "IMPORT of %zu bytes (%s)", size, what);
	CHECKF(imp.crc32c == crc32c(expect, size), "%zu bytes (%s): kernel CRC %#x, expected %#x",
	       size, what, imp.crc32c, crc32c(expect, size));
}

static void test_sizes(void)
{
	static const size_t sizes[] = {
		4 * KiB, 64 * KiB, 256 * KiB, 256 * KiB + 4 * KiB, 1 * MiB, 4 * MiB,
		16 * MiB + 12 * KiB, 64 * MiB,
	};
	char *expect = malloc(64 * MiB);

	SECTION("ALLOC buffers of 4 KiB to 64 MiB import, into IMPORT and vgem alike");
	CHECK(expect != NULL);
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		const size_t size = sizes[i];
		int fd = must_alloc(dev, size, O_RDWR | O_CLOEXEC, "bounce");
		int again;
		__u32 handle;

		fill_buffer(fd, size, i);
		fill_pattern(expect, size, i);
		check_crc(fd, size, expect, "alone");

		handle = vgem_import(card, fd);
		CHECKF(handle != 0, "vgem import of %zu bytes", size);
		check_crc(fd, size, expect, "imported by vgem too");
		/* vgem gives back the same dma-buf: the bytes through it are ours. */
		again = vgem_export(card, handle);
		CHECK(again >= 0);
		fill_buffer(fd, size, i + 100);
		fill_pattern(expect, size, i + 100);
		check_crc(again, size, expect, "rewritten, through vgem's export");
		CHECK(close(again) == 0);
		CHECK(vgem_close(card, handle) == 0);
		CHECK(close(fd) == 0);
		printf("bounce: %9zu bytes: IMPORT and vgem import, CRC right\n", size);
	}
	free(expect);
	CHECK(our_attachments() == 0);
}

static void test_foreign_segments(void)
{
	struct dma_heap_allocation_data data = { .len = 16 * MiB, .fd_flags = O_RDWR | O_CLOEXEC };
	struct dmabuf_exporter_import imp;
	int heap = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);

	SECTION("the system heap's 1 MiB segments: EMSGSIZE, nothing left attached");
	CHECKF(heap >= 0, "%s", "/dev/dma_heap/system (the 6.12 kernel has it)");
	CHECK(ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &data) == 0);
	close(heap);
	CHECK_ERR(try_import(dev, data.fd, 0, 0, &imp), EMSGSIZE);
	CHECK(our_attachments() == 0);
	CHECK(close(data.fd) == 0);
}

/* ---- a kprobe on the scatterlist sync for the CPU ---- */

#define TRACING		"/sys/kernel/tracing/"
#define PROBE_GROUP	"dmabuf_bounce"

/* The exported function behind dma_sync_sgtable_for_cpu() on this kernel. */
static const char *sync_sg_for_cpu_symbol(void)
{
	static const char *const names[] = { "__dma_sync_sg_for_cpu", "dma_sync_sg_for_cpu" };
	char line[256], name[128];
	FILE *f = fopen("/proc/kallsyms", "re");
	const char *found = NULL;

	CHECK(f != NULL);
	while (!found && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*s %*s %127s", name) != 1)
			continue;
		for (size_t i = 0; i < ARRAY_SIZE(names); i++)
			if (!strcmp(name, names[i]))
				found = names[i];
	}
	fclose(f);
	CHECKF(found != NULL, "%s", "no dma_sync_sg_for_cpu in /proc/kallsyms");
	return found;
}

static void probe_stop(void)
{
	write_text(TRACING "events/" PROBE_GROUP "/sync_for_cpu/enable", "0\n", 0);
	write_text(TRACING "kprobe_events", "-:" PROBE_GROUP "/sync_for_cpu\n", O_APPEND);
}

static void probe_start(void)
{
	char def[128];

	if (access(TRACING "kprobe_events", W_OK))
		CHECK(system("mount -t tracefs nodev /sys/kernel/tracing") == 0);
	/* A run that failed half-way may have left the probe behind. */
	if (!access(TRACING "events/" PROBE_GROUP "/sync_for_cpu", F_OK))
		probe_stop();
	snprintf(def, sizeof(def), "p:" PROBE_GROUP "/sync_for_cpu %s\n", sync_sg_for_cpu_symbol());
	write_text(TRACING "kprobe_events", def, O_APPEND);
	write_text(TRACING "trace", "", O_TRUNC);
	write_text(TRACING "events/" PROBE_GROUP "/sync_for_cpu/enable", "1\n", 0);
	write_text(TRACING "tracing_on", "1\n", 0);
}

/* Hits of the probe by thread @tid so far ("comm-TID [cpu] ..." lines). */
static int probe_hits(pid_t tid)
{
	char line[512], tag[32];
	FILE *f = fopen(TRACING "trace", "re");
	int n = 0;

	CHECK(f != NULL);
	snprintf(tag, sizeof(tag), "-%d ", tid);
	while (fgets(line, sizeof(line), f))
		n += line[0] != '#' && strstr(line, tag) && strstr(line, "sync_for_cpu");
	fclose(f);
	return n;
}

struct reader {
	int fd;
	size_t size;
	atomic_int tid, done;
	int ret;
	long long mismatch;
};

static void *sync_and_read(void *arg)
{
	struct reader *r = arg;
	char *p = must_map(r->fd, r->size, PROT_READ, 0);

	atomic_store(&r->tid, (int)syscall(SYS_gettid));
	r->ret = sync_buf(r->fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
	r->mismatch = check_pattern(p, r->size, 77);
	sync_buf(r->fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
	atomic_store(&r->done, 1);
	munmap(p, r->size);
	return NULL;
}

static void test_fence_before_sync(void)
{
	struct drm_vgem_fence_attach fence = { .flags = VGEM_FENCE_WRITE };
	struct drm_vgem_fence_signal sig = { 0 };
	struct reader r = { .size = 16 * PAGE };
	pthread_t thread;
	int early, late;

	SECTION("SYNC_START(READ) waits for a vgem write fence before it syncs");
	r.fd = must_alloc(dev, r.size, O_RDWR | O_CLOEXEC, "fenced");
	fill_buffer(r.fd, r.size, 77);
	fence.handle = vgem_import(card, r.fd);
	CHECK(fence.handle != 0);
	CHECK(ioctl(card, DRM_IOCTL_VGEM_FENCE_ATTACH, &fence) == 0);
	probe_start();
	CHECK(pthread_create(&thread, NULL, sync_and_read, &r) == 0);
	while (!atomic_load(&r.tid))
		sched_yield();
	wait_blocked_in(atomic_load(&r.tid), "fence");
	CHECKF(!atomic_load(&r.done), "%s", "SYNC_START returned before the fence was signalled");
	early = probe_hits(atomic_load(&r.tid));
	sig.fence = fence.out_fence;
	CHECK(ioctl(card, DRM_IOCTL_VGEM_FENCE_SIGNAL, &sig) == 0);
	CHECK(pthread_join(thread, NULL) == 0);
	late = probe_hits(atomic_load(&r.tid)) - early;
	probe_stop();
	printf("bounce: syncs for the CPU before the signal: %d, after: %d\n", early, late);
	CHECKF(early == 0, "SYNC_START synced %d time(s) while the device could still write", early);
	/* The probe works: the sync, once the fence is signalled, is counted. */
	CHECKF(late > 0, "%s", "the kprobe counted no sync at all");
	CHECK_EQ(r.ret, 0);
	CHECKF(r.mismatch < 0, "the reader saw a wrong byte at %lld", r.mismatch);
	CHECK(vgem_close(card, fence.handle) == 0);
	CHECK(close(r.fd) == 0);
	CHECK(our_attachments() == 0);
}

/* ---- a read-only holder cannot revert writes ---- */

#define REVERT_SECONDS	10

struct importer {
	int fd;
	atomic_int *stop;
	long imports;
};

static void *import_loop(void *arg)
{
	struct importer *im = arg;
	struct dmabuf_exporter_import imp;

	while (!atomic_load(im->stop)) {
		CHECK(try_import(dev, im->fd, 0, 0, &imp) == 0);
		im->imports++;
	}
	return NULL;
}

static void test_no_revert(void)
{
	char text[DMABUF_EXPORTER_SHARED_SIZE], back[DMABUF_EXPORTER_SHARED_SIZE];
	atomic_int stop = 0;
	struct importer im = { .stop = &stop };
	int rw = open(DEV_PATH, O_RDWR | O_CLOEXEC), ro = open(DEV_PATH, O_RDONLY | O_CLOEXEC);
	long rounds = 0, mismatches = 0;
	double end = now_sec() + REVERT_SECONDS;
	pthread_t thread;
	size_t len = sizeof(text) - 1;

	SECTION("pwrite/pread through the device while another holder IMPORTs the ro shared fd");
	CHECK(rw >= 0 && ro >= 0);
	CHECK(ioctl(ro, DMABUF_EXPORTER_IOC_GET_SHARED_FD, &im.fd) == 0);
	CHECK_EQ(fcntl(im.fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	CHECK(pthread_create(&thread, NULL, import_loop, &im) == 0);
	while (now_sec() < end) {
		/* Text without NULs: read() returns the shared buffer up to its NUL. */
		memset(text, 'a' + rounds % 26, len);
		snprintf(text, len, "round %ld", rounds);
		text[strlen(text)] = '.';
		CHECK(pwrite(rw, text, len, 0) == (ssize_t)len);
		CHECK(pread(rw, back, sizeof(back), 0) == (ssize_t)len);
		mismatches += memcmp(text, back, len) != 0;
		rounds++;
	}
	atomic_store(&stop, 1);
	CHECK(pthread_join(thread, NULL) == 0);
	printf("bounce: %ld write/read rounds, %ld IMPORTs, %ld reverted\n", rounds, im.imports,
	       mismatches);
	CHECKF(im.imports > 0 && rounds > 0, "%s", "the two threads did not both run");
	CHECKF(mismatches == 0, "%ld of %ld writes were reverted", mismatches, rounds);
	CHECK(close(im.fd) == 0);
	CHECK(close(ro) == 0);
	CHECK(close(rw) == 0);
	CHECK(our_attachments() == 0);
}

static void setup(void)
{
	CHECKF(swiotlb_forced(), "%s", "boot with swiotlb=force (scripts/vm-suite --swiotlb)");
	dev = dev_open();
	card = must_vgem_open();
}

static void teardown(void)
{
	close(card);
	close(dev);
}

static const struct harness_test tests[] = {
	HARNESS_TEST(test_sizes),
	HARNESS_TEST(test_foreign_segments),
	HARNESS_TEST(test_fence_before_sync),
	HARNESS_TEST(test_no_revert),
};

int main(int argc, char **argv)
{
	return harness_main(argc, argv, setup, teardown, tests, ARRAY_SIZE(tests));
}
