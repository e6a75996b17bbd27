// SPDX-License-Identifier: GPL-2.0
/*
 * dmabuf_exporter: exports page-backed kernel memory as dma-bufs through
 * the misc device /dev/dmabuf_exporter.
 *
 * The device holds one shared page that user space reaches both through a
 * dma-buf (the seed article's ioctl) and through read()/write() on the
 * device, and allocates fresh buffers on request. It is also an importer:
 * it attaches any dma-buf to a DMA-capable device of its own, maps it and
 * checksums it, as a driver would. The ABI is in
 * include/uapi/linux/dmabuf_exporter.h; docs/module.md describes it.
 */

#include <linux/crc32.h>
#include <linux/cred.h>
#include <linux/dma-buf.h>
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/err.h>
#include <linux/fcntl.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/io.h>
#include <linux/iosys-map.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/platform_device.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "include/uapi/linux/dmabuf_exporter.h"

static unsigned long max_buffer_bytes = 256UL << 20;
module_param(max_buffer_bytes, ulong, 0644);
MODULE_PARM_DESC(max_buffer_bytes, "Largest single buffer in bytes (default 256 MiB)");

static unsigned long max_file_bytes = 1UL << 30;
module_param(max_file_bytes, ulong, 0644);
MODULE_PARM_DESC(max_file_bytes, "Bytes of live buffers one open file may allocate (default 1 GiB)");

static unsigned long max_user_bytes = 1UL << 30;
module_param(max_user_bytes, ulong, 0644);
MODULE_PARM_DESC(max_user_bytes,
		 "Bytes of live buffers the open files of one user may allocate together (default 1 GiB)");

static unsigned long max_total_bytes;
module_param(max_total_bytes, ulong, 0644);
MODULE_PARM_DESC(max_total_bytes, "Bytes of all live buffers together (default 0: half of RAM)");

/*
 * The module's own allocations fail rather than invoke the OOM killer: a
 * request for a buffer too large for the machine gets ENOMEM.
 */
#define DMABUF_EXPORTER_GFP	(GFP_KERNEL | __GFP_RETRY_MAYFAIL)

/* Allocation orders to try, largest first; contiguous runs shrink the sg_table. */
static const unsigned int dmabuf_exporter_orders[] = { 9, 4, 0 };

/*
 * Per user of the device (the real uid of the task that opened it, as the
 * kernel's own per-user limits count): the bytes its buffers hold, whichever
 * open file made them.
 */
struct dmabuf_exporter_user {
	struct list_head node;		/* in dmabuf_exporter_users */
	struct kref ref;
	kuid_t uid;
	atomic64_t bytes;
};

static LIST_HEAD(dmabuf_exporter_users);
static DEFINE_MUTEX(dmabuf_exporter_users_lock);	/* protects the list */

/* Per open file of the device: the bytes its buffers hold. */
struct dmabuf_exporter_client {
	struct kref ref;
	atomic64_t bytes;
	struct dmabuf_exporter_user *user;
};

/*
 * Memory that dma-bufs export: the pages, and the DMA mappings and kernel
 * mapping made of them. An ALLOC buffer has a store of its own; every export
 * of the shared buffer uses the module's one shared store.
 */
struct dmabuf_exporter_store {
	struct page **pages;
	pgoff_t nr_pages;

	struct mutex lock;		/* protects the fields below */
	struct list_head mappings;
	unsigned int vmap_count;
	void *vaddr;
};

/* Per exported dma-buf. */
struct dmabuf_exporter_buffer {
	struct dmabuf_exporter_store *store;
	struct dmabuf_exporter_store own;
	struct dmabuf_exporter_client *client;
	u64 charge;
	bool writable;
};

/*
 * One DMA mapping of a store for one device and direction. Importers that
 * map the same memory for the same device share it: the DMA API does not
 * allow one page to be mapped twice (DMA-API debug reports the overlap).
 */
struct dmabuf_exporter_mapping {
	struct list_head node;
	struct device *dev;
	enum dma_data_direction direction;
	unsigned int users;
	struct sg_table table;
};

/* What one map_dma_buf call hands out: a copy of the shared mapping's table. */
struct dmabuf_exporter_map {
	struct sg_table table;
	struct dmabuf_exporter_mapping *mapping;
};

static atomic64_t dmabuf_exporter_total_bytes = ATOMIC64_INIT(0);

/*
 * The shared buffer: one page, read and written through every export of it
 * and through read()/write() on the device. All exports share one
 * reservation object, so a fence on one is seen by every CPU access.
 */
static struct page *dmabuf_exporter_shared_page;
static struct dmabuf_exporter_store dmabuf_exporter_shared_store = {
	.pages = &dmabuf_exporter_shared_page,
	.nr_pages = 1,
	.lock = __MUTEX_INITIALIZER(dmabuf_exporter_shared_store.lock),
	.mappings = LIST_HEAD_INIT(dmabuf_exporter_shared_store.mappings),
};

static struct dma_resv dmabuf_exporter_shared_resv;
static struct platform_device *dmabuf_exporter_pdev;	/* the importer's device */

/* vm_flags became read-only behind vm_flags_set() in 6.3; Kbuild probes for it. */
static void dmabuf_exporter_vma_flags_mod(struct vm_area_struct *vma, vm_flags_t set,
					  vm_flags_t clear)
{
#ifdef DMABUF_EXPORTER_HAVE_VM_FLAGS_SET
	vm_flags_mod(vma, set, clear);
#else
	vma->vm_flags = (vma->vm_flags | set) & ~clear;
#endif
}

/* The user entry of @uid, shared by all its open files; NULL without memory. */
static struct dmabuf_exporter_user *dmabuf_exporter_user_get(kuid_t uid)
{
	struct dmabuf_exporter_user *user;

	mutex_lock(&dmabuf_exporter_users_lock);
	list_for_each_entry(user, &dmabuf_exporter_users, node) {
		if (uid_eq(user->uid, uid)) {
			kref_get(&user->ref);
			goto unlock;
		}
	}
	user = kzalloc(sizeof(*user), DMABUF_EXPORTER_GFP);
	if (user) {
		kref_init(&user->ref);
		user->uid = uid;
		list_add(&user->node, &dmabuf_exporter_users);
	}
unlock:
	mutex_unlock(&dmabuf_exporter_users_lock);
	return user;
}

static void dmabuf_exporter_user_free(struct kref *ref)
{
	struct dmabuf_exporter_user *user = container_of(ref, struct dmabuf_exporter_user, ref);

	list_del(&user->node);
	mutex_unlock(&dmabuf_exporter_users_lock);
	kfree(user);
}

static void dmabuf_exporter_user_put(struct dmabuf_exporter_user *user)
{
	kref_put_mutex(&user->ref, dmabuf_exporter_user_free, &dmabuf_exporter_users_lock);
}

static void dmabuf_exporter_client_free(struct kref *ref)
{
	struct dmabuf_exporter_client *client =
		container_of(ref, struct dmabuf_exporter_client, ref);

	dmabuf_exporter_user_put(client->user);
	kfree(client);
}

static void dmabuf_exporter_client_put(struct dmabuf_exporter_client *client)
{
	kref_put(&client->ref, dmabuf_exporter_client_free);
}

/*
 * Add @bytes to @counter only if the sum stays within @limit, so a request
 * that does not fit never makes a concurrent one that does fit fail.
 */
static bool dmabuf_exporter_add_within(atomic64_t *counter, u64 bytes, u64 limit)
{
	s64 old = atomic64_read(counter);

	do {
		if (bytes > limit || (u64)old > limit - bytes)
			return false;
	} while (!atomic64_try_cmpxchg(counter, &old, old + bytes));
	return true;
}

/* Charge the open file, then its user, then the module: all three or none. */
static int dmabuf_exporter_charge(struct dmabuf_exporter_client *client, u64 bytes)
{
	u64 total_limit = READ_ONCE(max_total_bytes);

	if (!total_limit)
		total_limit = (u64)totalram_pages() << (PAGE_SHIFT - 1);

	if (!dmabuf_exporter_add_within(&client->bytes, bytes, READ_ONCE(max_file_bytes)))
		return -EDQUOT;
	if (!dmabuf_exporter_add_within(&client->user->bytes, bytes, READ_ONCE(max_user_bytes))) {
		atomic64_sub(bytes, &client->bytes);
		return -EDQUOT;
	}
	if (!dmabuf_exporter_add_within(&dmabuf_exporter_total_bytes, bytes, total_limit)) {
		atomic64_sub(bytes, &client->user->bytes);
		atomic64_sub(bytes, &client->bytes);
		return -ENOSPC;
	}
	return 0;
}

static void dmabuf_exporter_uncharge(struct dmabuf_exporter_client *client, u64 bytes)
{
	atomic64_sub(bytes, &client->bytes);
	atomic64_sub(bytes, &client->user->bytes);
	atomic64_sub(bytes, &dmabuf_exporter_total_bytes);
}

static void dmabuf_exporter_free_pages(struct page **pages, pgoff_t nr_pages)
{
	pgoff_t i;

	for (i = 0; i < nr_pages; i++)
		__free_page(pages[i]);
	kvfree(pages);
}

/*
 * Fill a page array from the largest zeroed runs available. Runs are split
 * into order-0 pages so each page is refcounted on its own.
 */
static struct page **dmabuf_exporter_alloc_pages(pgoff_t nr_pages)
{
	struct page **pages;
	pgoff_t filled = 0;
	unsigned int i = 0;

	pages = kvmalloc_array(nr_pages, sizeof(*pages), DMABUF_EXPORTER_GFP | __GFP_ACCOUNT);
	if (!pages)
		return NULL;

	while (filled < nr_pages) {
		unsigned int order = dmabuf_exporter_orders[i];
		gfp_t gfp = GFP_HIGHUSER | __GFP_ZERO | __GFP_NOWARN | __GFP_ACCOUNT;
		struct page *page;
		unsigned long j;

		if ((1UL << order) > nr_pages - filled) {
			i++;
			continue;
		}
		/* Large runs are opportunistic; only order 0 may reclaim, never OOM. */
		gfp |= order ? __GFP_NORETRY : __GFP_RETRY_MAYFAIL;
		page = alloc_pages(gfp, order);
		if (!page) {
			if (!order)
				goto free_filled;
			i++;
			continue;
		}
		if (order)
			split_page(page, order);
		for (j = 0; j < (1UL << order); j++)
			pages[filled++] = page + j;

		if (fatal_signal_pending(current))
			goto free_filled;
	}
	return pages;

free_filled:
	dmabuf_exporter_free_pages(pages, filled);
	return NULL;
}

static void dmabuf_exporter_store_init(struct dmabuf_exporter_store *store)
{
	mutex_init(&store->lock);
	INIT_LIST_HEAD(&store->mappings);
}

/*
 * The longest segment @dev takes, in whole pages: no longer than it can map
 * in one piece (bounce buffering copies at most 256 KiB at a time) nor than
 * its scatter-gather engine accepts.
 */
static size_t dmabuf_exporter_max_segment(struct device *dev)
{
	size_t max = min_t(size_t, dma_get_max_seg_size(dev), dma_max_mapping_size(dev));

	return max_t(size_t, max & PAGE_MASK, PAGE_SIZE);
}

/*
 * The pages from @i on that one segment covers: physically contiguous, at
 * most @max_segment bytes, and within one window of @boundary (a segment
 * must not cross an address whose bits under @boundary are all 0).
 */
static pgoff_t dmabuf_exporter_segment_pages(struct page **pages, pgoff_t i, pgoff_t nr_pages,
					     size_t max_segment, unsigned long boundary)
{
	phys_addr_t start = page_to_phys(pages[i]);
	pgoff_t n = 1;

	while (i + n < nr_pages && ((n + 1) << PAGE_SHIFT) <= max_segment &&
	       page_to_phys(pages[i + n]) == start + (n << PAGE_SHIFT) &&
	       !((start ^ (start + ((n + 1) << PAGE_SHIFT) - 1)) & ~(phys_addr_t)boundary))
		n++;
	return n;
}

/* @table over @store's pages, in segments @dev can map: one pass counts, one fills. */
static int dmabuf_exporter_store_to_sg(struct dmabuf_exporter_store *store, struct device *dev,
				       struct sg_table *table)
{
	size_t max_segment = dmabuf_exporter_max_segment(dev);
	unsigned long boundary = dma_get_seg_boundary(dev);
	struct scatterlist *sg;
	unsigned int nents = 0;
	pgoff_t i, n;
	int ret;

	for (i = 0; i < store->nr_pages; i += n) {
		n = dmabuf_exporter_segment_pages(store->pages, i, store->nr_pages, max_segment,
						  boundary);
		nents++;
	}
	ret = sg_alloc_table(table, nents, DMABUF_EXPORTER_GFP);
	if (ret)
		return ret;
	sg = table->sgl;
	for (i = 0; i < store->nr_pages; i += n) {
		n = dmabuf_exporter_segment_pages(store->pages, i, store->nr_pages, max_segment,
						  boundary);
		sg_set_page(sg, store->pages[i], n << PAGE_SHIFT, 0);
		sg = sg_next(sg);
	}
	return 0;
}

/* Called with store->lock held. */
static struct dmabuf_exporter_mapping *
dmabuf_exporter_mapping_new(struct dmabuf_exporter_store *store, struct device *dev,
			    enum dma_data_direction direction)
{
	struct dmabuf_exporter_mapping *mapping;
	int ret;

	mapping = kzalloc(sizeof(*mapping), DMABUF_EXPORTER_GFP);
	if (!mapping)
		return ERR_PTR(-ENOMEM);

	ret = dmabuf_exporter_store_to_sg(store, dev, &mapping->table);
	if (ret)
		goto free_mapping;
	/*
	 * Map without the CPU sync and sync explicitly, which is the same:
	 * DMA-API debug then lets several devices map the same pages at once
	 * (a buffer imported by vgem while the module's own IMPORT reads it),
	 * as DRM PRIME exporters do.
	 */
	ret = dma_map_sgtable(dev, &mapping->table, direction, DMA_ATTR_SKIP_CPU_SYNC);
	if (ret)
		goto free_table;
	dma_sync_sgtable_for_device(dev, &mapping->table, direction);

	mapping->dev = dev;
	mapping->direction = direction;
	list_add(&mapping->node, &store->mappings);
	return mapping;

free_table:
	sg_free_table(&mapping->table);
free_mapping:
	kfree(mapping);
	return ERR_PTR(ret);
}

/* Called with store->lock held. */
static void dmabuf_exporter_mapping_put(struct dmabuf_exporter_mapping *mapping)
{
	if (--mapping->users)
		return;
	list_del(&mapping->node);
	dma_sync_sgtable_for_cpu(mapping->dev, &mapping->table, mapping->direction);
	dma_unmap_sgtable(mapping->dev, &mapping->table, mapping->direction,
			  DMA_ATTR_SKIP_CPU_SYNC);
	sg_free_table(&mapping->table);
	kfree(mapping);
}

/*
 * A copy of a mapped table: same pages, same DMA addresses, lengths and
 * flags (6.12 marks bounced and bus-address segments in dma_flags; those
 * fields exist only in some configurations, so each entry is copied whole).
 */
static int dmabuf_exporter_copy_table(struct sg_table *to, struct sg_table *from)
{
	struct scatterlist *src, *dst;
	unsigned int i;
	int ret;

	ret = sg_alloc_table(to, from->orig_nents, DMABUF_EXPORTER_GFP);
	if (ret)
		return ret;
	dst = to->sgl;
	for_each_sgtable_sg(from, src, i) {
		bool last = sg_is_last(dst);

		*dst = *src;
		/* The end marker is the copy's own, never the source's. */
		sg_unmark_end(dst);
		if (last)
			sg_mark_end(dst);
		dst = sg_next(dst);
	}
	to->nents = from->nents;
	return 0;
}

static struct sg_table *dmabuf_exporter_map_dma_buf(struct dma_buf_attachment *attachment,
						    enum dma_data_direction direction)
{
	struct dmabuf_exporter_buffer *buffer = attachment->dmabuf->priv;
	struct dmabuf_exporter_store *store = buffer->store;
	struct dmabuf_exporter_mapping *mapping = NULL, *m;
	struct dmabuf_exporter_map *map;
	int ret;

	map = kzalloc(sizeof(*map), DMABUF_EXPORTER_GFP);
	if (!map)
		return ERR_PTR(-ENOMEM);

	mutex_lock(&store->lock);
	list_for_each_entry(m, &store->mappings, node) {
		if (m->dev == attachment->dev && m->direction == direction) {
			mapping = m;
			break;
		}
	}
	if (!mapping) {
		mapping = dmabuf_exporter_mapping_new(store, attachment->dev, direction);
		if (IS_ERR(mapping)) {
			ret = PTR_ERR(mapping);
			goto unlock;
		}
	}
	mapping->users++;
	ret = dmabuf_exporter_copy_table(&map->table, &mapping->table);
	if (ret) {
		dmabuf_exporter_mapping_put(mapping);
		goto unlock;
	}
	map->mapping = mapping;
	mutex_unlock(&store->lock);
	return &map->table;

unlock:
	mutex_unlock(&store->lock);
	kfree(map);
	return ERR_PTR(ret);
}

static void dmabuf_exporter_unmap_dma_buf(struct dma_buf_attachment *attachment,
					  struct sg_table *table,
					  enum dma_data_direction direction)
{
	struct dmabuf_exporter_buffer *buffer = attachment->dmabuf->priv;
	struct dmabuf_exporter_map *map = container_of(table, struct dmabuf_exporter_map, table);

	mutex_lock(&buffer->store->lock);
	dmabuf_exporter_mapping_put(map->mapping);
	mutex_unlock(&buffer->store->lock);

	sg_free_table(&map->table);
	kfree(map);
}

/*
 * The kernel mapping's caches, for the CPU or for the devices. The size
 * those calls take is an int, so a buffer of 2 GiB or more goes in pieces.
 */
static void dmabuf_exporter_sync_vmap(struct dmabuf_exporter_store *store, bool for_cpu)
{
	size_t size = store->nr_pages << PAGE_SHIFT, done, n;

	for (done = 0; done < size; done += n) {
		n = min_t(size_t, size - done, SZ_1G);
		if (for_cpu)
			invalidate_kernel_vmap_range(store->vaddr + done, n);
		else
			flush_kernel_vmap_range(store->vaddr + done, n);
	}
}

/*
 * Called with store->lock held, which the whole CPU access must hold too
 * where it is the module's own: a mapping's unmap syncs for the CPU, and
 * must not do so between a sync and the copy it brackets.
 * Each mapping is synced in the direction it was mapped with.
 */
static void dmabuf_exporter_sync_for_cpu(struct dmabuf_exporter_store *store)
{
	struct dmabuf_exporter_mapping *mapping;

	if (store->vmap_count)
		dmabuf_exporter_sync_vmap(store, true);
	list_for_each_entry(mapping, &store->mappings, node)
		dma_sync_sgtable_for_cpu(mapping->dev, &mapping->table, mapping->direction);
}

/* Called with store->lock held. */
static void dmabuf_exporter_sync_for_device(struct dmabuf_exporter_store *store)
{
	struct dmabuf_exporter_mapping *mapping;

	if (store->vmap_count)
		dmabuf_exporter_sync_vmap(store, false);
	list_for_each_entry(mapping, &store->mappings, node)
		dma_sync_sgtable_for_device(mapping->dev, &mapping->table, mapping->direction);
}

/*
 * A CPU access waits for the devices' implicit fences (writers before a
 * read, everyone before a write), interruptibly, before it syncs: with
 * bounce buffers, a sync copies whatever a device has written so far.
 */
static int dmabuf_exporter_wait(struct dma_resv *resv, bool write)
{
	long ret;

	ret = dma_resv_wait_timeout(resv, dma_resv_usage_rw(write), true, MAX_SCHEDULE_TIMEOUT);
	return ret < 0 ? ret : 0;
}

/*
 * dma_buf_begin_cpu_access() calls this before it waits for the fences
 * itself, so the wait must come first here.
 */
static int dmabuf_exporter_begin_cpu_access(struct dma_buf *dmabuf,
					    enum dma_data_direction direction)
{
	struct dmabuf_exporter_buffer *buffer = dmabuf->priv;
	struct dmabuf_exporter_store *store = buffer->store;
	int ret;

	ret = dmabuf_exporter_wait(dmabuf->resv, direction != DMA_FROM_DEVICE);
	if (ret)
		return ret;
	mutex_lock(&store->lock);
	dmabuf_exporter_sync_for_cpu(store);
	mutex_unlock(&store->lock);
	return 0;
}

static int dmabuf_exporter_end_cpu_access(struct dma_buf *dmabuf,
					  enum dma_data_direction direction)
{
	struct dmabuf_exporter_buffer *buffer = dmabuf->priv;
	struct dmabuf_exporter_store *store = buffer->store;

	mutex_lock(&store->lock);
	dmabuf_exporter_sync_for_device(store);
	mutex_unlock(&store->lock);
	return 0;
}

/* The rest of a fault's window, filled in one walk of its page table. */
struct dmabuf_exporter_window {
	struct vm_area_struct *vma;
	struct page **pages;	/* the page at the window's first address */
	unsigned long start;
	pgprot_t prot;		/* the faulting page's, as vmf_insert_pfn() chose it */
};

/*
 * The protection of the PTE vmf_insert_pfn() just made: the VMA's, with
 * the caching mode PAT tracks for the page. Every page of a store is
 * ordinary memory of the module's own, so it holds for all of them.
 */
static int dmabuf_exporter_get_prot(pte_t *pte, unsigned long address, void *data)
{
	struct dmabuf_exporter_window *w = data;
	pte_t entry = ptep_get(pte);

	/* MADV_DONTNEED, under the same read lock, may have zapped it again. */
	if (pte_none(entry))
		return -EAGAIN;
	/* Less what the MMU set since, through another thread's access. */
	w->prot = pte_pgprot(pte_mkclean(pte_mkold(entry)));
	return 0;
}

static int dmabuf_exporter_set_pte(pte_t *pte, unsigned long address, void *data)
{
	struct dmabuf_exporter_window *w = data;
	struct page *page = w->pages[(address - w->start) >> PAGE_SHIFT];

	/* Called with the page table locked; a racing fault may have been first. */
	if (pte_none(ptep_get(pte))) {
		set_pte_at(w->vma->vm_mm, address, pte,
			   pte_mkspecial(pfn_pte(page_to_pfn(page), w->prot)));
		update_mmu_cache(w->vma, address, pte);
	}
	return 0;
}

/*
 * Map lazily: mmap is O(1), and a fault maps the PFNs of the faulting
 * page's whole page table (as far as the VMA and the buffer go), so a
 * sequential pass takes one fault per 2 MiB. A fault on a mapping's first
 * page maps 64 KiB only, as fault-around does for files: a reader looking
 * at a buffer's start (a header, a frame's first line) waits for 16 PTEs,
 * not 512 (under TCG the first byte of a 64 MiB mapping took 46 us, now
 * 22), and a sequential pass pays one fault more.
 * The mapping is VM_PFNMAP, so get_user_pages() cannot pin the pages past
 * the buffer's life.
 */
static vm_fault_t dmabuf_exporter_vm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct dmabuf_exporter_store *store = vma->vm_private_data;
	unsigned long address = vmf->address & PAGE_MASK;
	struct dmabuf_exporter_window w = { .vma = vma };
	unsigned long end;
	vm_fault_t ret;

	if (vmf->pgoff >= store->nr_pages)
		return VM_FAULT_SIGBUS;

	ret = vmf_insert_pfn(vma, address, page_to_pfn(store->pages[vmf->pgoff]));
	if (ret & VM_FAULT_ERROR)
		return ret;

	/*
	 * The faulting page is mapped, so its page table exists and the rest
	 * of the window needs no allocation: one walk of that table inserts
	 * the same special PTEs vmf_insert_pfn() would, without its per-page
	 * table walk, lock and PAT lookup. Nothing there can fail.
	 */
	if (apply_to_page_range(vma->vm_mm, address, PAGE_SIZE, dmabuf_exporter_get_prot, &w))
		return VM_FAULT_NOPAGE;
	w.start = max(address & PMD_MASK, vma->vm_start);
	end = min(address | ~PMD_MASK, vma->vm_end - 1) + 1;
	end = min(end, address + ((store->nr_pages - vmf->pgoff) << PAGE_SHIFT));
	if (address == vma->vm_start)
		end = min(end, address + SZ_64K);
	w.pages = store->pages + vmf->pgoff - ((address - w.start) >> PAGE_SHIFT);
	apply_to_page_range(vma->vm_mm, w.start, end - w.start, dmabuf_exporter_set_pte, &w);
	return VM_FAULT_NOPAGE;
}

/*
 * ptrace and /proc/PID/mem: get_user_pages() cannot follow a VM_PFNMAP
 * mapping, so the core asks here. A debugger sees the memory as it is,
 * without waiting for fences, but synced like the module's own accesses.
 */
static int dmabuf_exporter_vm_access(struct vm_area_struct *vma, unsigned long addr, void *buf,
				     int len, int write)
{
	struct dmabuf_exporter_store *store = vma->vm_private_data;
	u64 offset = ((u64)vma->vm_pgoff << PAGE_SHIFT) + (addr - vma->vm_start);
	int done, n;

	if (write && !(vma->vm_flags & VM_WRITE))
		return -EACCES;
	len = min_t(u64, len, vma->vm_end - addr);

	mutex_lock(&store->lock);
	dmabuf_exporter_sync_for_cpu(store);
	for (done = 0; done < len; done += n) {
		struct page *page = store->pages[(offset + done) >> PAGE_SHIFT];
		size_t in_page = offset_in_page(offset + done);

		n = min_t(size_t, len - done, PAGE_SIZE - in_page);
		if (write)
			memcpy_to_page(page, in_page, buf + done, n);
		else
			memcpy_from_page(buf + done, page, in_page, n);
	}
	dmabuf_exporter_sync_for_device(store);
	mutex_unlock(&store->lock);
	return len;
}

static const struct vm_operations_struct dmabuf_exporter_vm_ops = {
	.fault = dmabuf_exporter_vm_fault,
	.access = dmabuf_exporter_vm_access,
};

static int dmabuf_exporter_mmap(struct dma_buf *dmabuf, struct vm_area_struct *vma)
{
	struct dmabuf_exporter_buffer *buffer = dmabuf->priv;
	struct dmabuf_exporter_store *store = buffer->store;
	vm_flags_t clear = 0;

	/* VM_MAYSHARE: a MAP_SHARED mapping of a read-only fd lacks VM_SHARED. */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_pgoff >= store->nr_pages ||
	    vma_pages(vma) > store->nr_pages - vma->vm_pgoff)
		return -EINVAL;

	/*
	 * The VFS refuses a writable mapping of a read-only fd, but an importer
	 * mapping its own object through dma_buf_mmap() passes its own file's
	 * flags: check them here too. (vgem and vkms, the importers the tests
	 * have, refuse to map an imported object, so no test reaches this.)
	 */
	if (!buffer->writable) {
		if (vma->vm_flags & VM_WRITE)
			return -EACCES;
		clear = VM_MAYWRITE;
	}

	/*
	 * An importer forwarding its own mapping through dma_buf_mmap() may
	 * have set VM_MIXEDMAP; with VM_PFNMAP that is a BUG in vmf_insert_pfn().
	 */
	dmabuf_exporter_vma_flags_mod(vma, VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP,
				      clear | VM_MIXEDMAP);
	vma->vm_ops = &dmabuf_exporter_vm_ops;
	vma->vm_private_data = store;
	return 0;
}

static int dmabuf_exporter_vmap(struct dma_buf *dmabuf, struct iosys_map *map)
{
	struct dmabuf_exporter_buffer *buffer = dmabuf->priv;
	struct dmabuf_exporter_store *store = buffer->store;
	int ret = 0;

	/*
	 * A failure here is reached by no test: dma_buf_vmap(), the only
	 * caller, warns when an exporter's vmap fails (WARN_ON_ONCE on 6.1 and
	 * 6.12), and the test VMs boot with panic_on_warn.
	 */
	mutex_lock(&store->lock);
	if (!store->vmap_count) {
		store->vaddr = vmap(store->pages, store->nr_pages, VM_MAP, PAGE_KERNEL);
		if (!store->vaddr) {
			ret = -ENOMEM;
			goto unlock;
		}
	}
	store->vmap_count++;
	iosys_map_set_vaddr(map, store->vaddr);
unlock:
	mutex_unlock(&store->lock);
	return ret;
}

static void dmabuf_exporter_vunmap(struct dma_buf *dmabuf, struct iosys_map *map)
{
	struct dmabuf_exporter_buffer *buffer = dmabuf->priv;
	struct dmabuf_exporter_store *store = buffer->store;

	mutex_lock(&store->lock);
	if (!--store->vmap_count) {
		vunmap(store->vaddr);
		store->vaddr = NULL;
	}
	mutex_unlock(&store->lock);
	iosys_map_clear(map);
}

static void dmabuf_exporter_buffer_free(struct dmabuf_exporter_buffer *buffer)
{
	if (buffer->own.pages)
		dmabuf_exporter_free_pages(buffer->own.pages, buffer->own.nr_pages);
	if (buffer->client) {
		dmabuf_exporter_uncharge(buffer->client, buffer->charge);
		dmabuf_exporter_client_put(buffer->client);
	}
	mutex_destroy(&buffer->own.lock);
	kfree(buffer);
}

static void dmabuf_exporter_release(struct dma_buf *dmabuf)
{
	struct dmabuf_exporter_buffer *buffer = dmabuf->priv;

	/* The core refuses to release a dma-buf with a live vmap or attachment. */
	WARN_ON(buffer->own.vmap_count || !list_empty(&buffer->own.mappings));
	dmabuf_exporter_buffer_free(buffer);
}

static const struct dma_buf_ops dmabuf_exporter_dma_buf_ops = {
	.map_dma_buf = dmabuf_exporter_map_dma_buf,
	.unmap_dma_buf = dmabuf_exporter_unmap_dma_buf,
	.begin_cpu_access = dmabuf_exporter_begin_cpu_access,
	.end_cpu_access = dmabuf_exporter_end_cpu_access,
	.mmap = dmabuf_exporter_mmap,
	.vmap = dmabuf_exporter_vmap,
	.vunmap = dmabuf_exporter_vunmap,
	.release = dmabuf_exporter_release,
};

/*
 * A buffer charged @bytes to @client, which it holds a reference on until
 * it is freed. Returns NULL, with the charge given back, on failure.
 */
static struct dmabuf_exporter_buffer *
dmabuf_exporter_buffer_new(struct dmabuf_exporter_client *client, u64 bytes)
{
	struct dmabuf_exporter_buffer *buffer;

	buffer = kzalloc(sizeof(*buffer), DMABUF_EXPORTER_GFP);
	if (!buffer) {
		dmabuf_exporter_uncharge(client, bytes);
		return NULL;
	}
	dmabuf_exporter_store_init(&buffer->own);
	buffer->store = &buffer->own;
	kref_get(&client->ref);
	buffer->client = client;
	buffer->charge = bytes;
	return buffer;
}

/*
 * Export @buffer and hand user space an fd for it. The fd is installed only
 * after it has been copied out, so a failed ioctl leaves no fd behind. On
 * failure @buffer is freed, by the dma-buf's release if it got that far.
 */
static int dmabuf_exporter_export(struct dmabuf_exporter_buffer *buffer, int flags,
				  struct dma_resv *resv, char *name, int __user *user_fd)
{
	DEFINE_DMA_BUF_EXPORT_INFO(exp_info);
	struct dma_buf *dmabuf;
	int fd;

	buffer->writable = (flags & O_ACCMODE) == O_RDWR;
	exp_info.ops = &dmabuf_exporter_dma_buf_ops;
	exp_info.size = buffer->store->nr_pages << PAGE_SHIFT;
	exp_info.flags = flags & O_ACCMODE;
	exp_info.resv = resv;
	exp_info.priv = buffer;

	dmabuf = dma_buf_export(&exp_info);
	if (IS_ERR(dmabuf)) {
		kfree(name);
		dmabuf_exporter_buffer_free(buffer);
		return PTR_ERR(dmabuf);
	}

	/* Nobody else can see the dma-buf yet; the core frees the name. */
	if (name) {
		spin_lock(&dmabuf->name_lock);
		dmabuf->name = name;
		spin_unlock(&dmabuf->name_lock);
	}

	fd = get_unused_fd_flags(flags & O_CLOEXEC);
	if (fd < 0)
		goto put_dmabuf;
	if (put_user(fd, user_fd)) {
		put_unused_fd(fd);
		fd = -EFAULT;
		goto put_dmabuf;
	}
	fd_install(fd, dmabuf->file);
	return 0;

put_dmabuf:
	dma_buf_put(dmabuf);
	return fd;
}

/*
 * A new dma-buf over the shared page: readable, and writable only through
 * a device opened for writing. Each costs its caller a page of quota.
 */
static int dmabuf_exporter_get_shared_fd(struct file *file, int __user *user_fd)
{
	struct dmabuf_exporter_client *client = file->private_data;
	struct dmabuf_exporter_buffer *buffer;
	int access, ret;

	if (!(file->f_mode & FMODE_READ))
		return -EACCES;
	access = (file->f_mode & FMODE_WRITE) ? O_RDWR : O_RDONLY;

	ret = dmabuf_exporter_charge(client, PAGE_SIZE);
	if (ret)
		return ret;
	buffer = dmabuf_exporter_buffer_new(client, PAGE_SIZE);
	if (!buffer)
		return -ENOMEM;
	buffer->store = &dmabuf_exporter_shared_store;
	return dmabuf_exporter_export(buffer, access | O_CLOEXEC, &dmabuf_exporter_shared_resv,
				      NULL, user_fd);
}

/* Input the ABI leaves room for must be zero, so it can gain a meaning later. */
static int dmabuf_exporter_check_alloc(const struct dmabuf_exporter_alloc *arg)
{
	unsigned int access = arg->fd_flags & O_ACCMODE;
	size_t len;

	if (arg->fd_flags & ~(O_ACCMODE | O_CLOEXEC) ||
	    (access != O_RDONLY && access != O_RDWR))
		return -EINVAL;
	if (arg->fd != 0 && arg->fd != -1)
		return -EINVAL;
	if (arg->flags || memchr_inv(arg->reserved, 0, sizeof(arg->reserved)))
		return -EINVAL;
	len = strnlen(arg->name, sizeof(arg->name));
	if (len == sizeof(arg->name) || memchr_inv(arg->name + len, 0, sizeof(arg->name) - len))
		return -EINVAL;
	if (!arg->size)
		return -EINVAL;
	if (arg->size > READ_ONCE(max_buffer_bytes) || arg->size > (u64)MAX_LFS_FILESIZE)
		return -EFBIG;
	return 0;
}

static int dmabuf_exporter_alloc(struct dmabuf_exporter_client *client,
				 struct dmabuf_exporter_alloc __user *user_arg)
{
	struct dmabuf_exporter_alloc arg;
	struct dmabuf_exporter_buffer *buffer;
	char *name = NULL;
	u64 bytes;
	int ret;

	if (copy_from_user(&arg, user_arg, sizeof(arg)))
		return -EFAULT;
	ret = dmabuf_exporter_check_alloc(&arg);
	if (ret)
		return ret;
	bytes = PAGE_ALIGN(arg.size);

	ret = dmabuf_exporter_charge(client, bytes);
	if (ret)
		return ret;
	/* From here the buffer carries the charge and gives it back when freed. */
	buffer = dmabuf_exporter_buffer_new(client, bytes);
	if (!buffer)
		return -ENOMEM;

	if (arg.name[0]) {
		name = kstrdup(arg.name, DMABUF_EXPORTER_GFP);
		if (!name) {
			ret = -ENOMEM;
			goto free_buffer;
		}
	}
	buffer->own.nr_pages = bytes >> PAGE_SHIFT;
	buffer->own.pages = dmabuf_exporter_alloc_pages(buffer->own.nr_pages);
	if (!buffer->own.pages) {
		ret = -ENOMEM;
		goto free_name;
	}
	return dmabuf_exporter_export(buffer, arg.fd_flags, NULL, name, &user_arg->fd);

free_name:
	kfree(name);
free_buffer:
	dmabuf_exporter_buffer_free(buffer);
	return ret;
}

/* CRC-32C, seeded and finished by the caller with ~0. */
static u32 dmabuf_exporter_crc32c(u32 crc, const void *p, size_t len)
{
#ifdef DMABUF_EXPORTER_HAVE___CRC32C_LE
	return __crc32c_le(crc, p, len);
#else
	return crc32c(crc, p, len);
#endif
}

/*
 * Checksum a kernel mapping a megabyte at a time, letting others run and
 * giving up if the caller is being killed.
 */
static int dmabuf_exporter_crc_map(u32 *crc, struct iosys_map *map, u64 offset, u64 length)
{
	u8 chunk[256];

	while (length) {
		size_t n = min_t(u64, length, SZ_1M);

		/* I/O memory: a device's, such as VRAM; no exporter the tests have. */
		if (map->is_iomem) {
			size_t done;

			for (done = 0; done < n; done += sizeof(chunk)) {
				size_t c = min(n - done, sizeof(chunk));

				memcpy_fromio(chunk, map->vaddr_iomem + offset + done, c);
				*crc = dmabuf_exporter_crc32c(*crc, chunk, c);
			}
		} else {
			*crc = dmabuf_exporter_crc32c(*crc, map->vaddr + offset, n);
		}
		offset += n;
		length -= n;
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}
	return 0;
}

/*
 * The reservation lock: dma_buf_vmap() and dma_buf_map_attachment() need it
 * held since 6.2 and provide _unlocked variants; Kbuild probes for them.
 */
static struct sg_table *dmabuf_exporter_map_attachment(struct dma_buf_attachment *attach,
						       enum dma_data_direction direction)
{
#ifdef DMABUF_EXPORTER_HAVE_MAP_ATTACHMENT_UNLOCKED
	return dma_buf_map_attachment_unlocked(attach, direction);
#else
	return dma_buf_map_attachment(attach, direction);
#endif
}

static void dmabuf_exporter_unmap_attachment(struct dma_buf_attachment *attach,
					     struct sg_table *table,
					     enum dma_data_direction direction)
{
#ifdef DMABUF_EXPORTER_HAVE_MAP_ATTACHMENT_UNLOCKED
	dma_buf_unmap_attachment_unlocked(attach, table, direction);
#else
	dma_buf_unmap_attachment(attach, table, direction);
#endif
}

static int dmabuf_exporter_vmap_buf(struct dma_buf *dmabuf, struct iosys_map *map)
{
#ifdef DMABUF_EXPORTER_HAVE_VMAP_UNLOCKED
	return dma_buf_vmap_unlocked(dmabuf, map);
#else
	return dma_buf_vmap(dmabuf, map);
#endif
}

static void dmabuf_exporter_vunmap_buf(struct dma_buf *dmabuf, struct iosys_map *map)
{
#ifdef DMABUF_EXPORTER_HAVE_VMAP_UNLOCKED
	dma_buf_vunmap_unlocked(dmabuf, map);
#else
	dma_buf_vunmap(dmabuf, map);
#endif
}

/*
 * Read @arg's range of @dmabuf the way a driver would: attach and map it
 * for the module's own device, then read it with the CPU through a kernel
 * mapping, bracketed as a CPU access. Everything is undone before return.
 *
 * The module's own exports are mapped DMA_TO_DEVICE: the device only
 * reads, and with bounce buffers the unmap of a bidirectional mapping
 * would copy its stale snapshot back over writes made meanwhile, by anyone
 * holding a read-only fd. Other exporters are mapped DMA_BIDIRECTIONAL, as
 * DRM PRIME importers do: some, such as the system heap, sync every mapped
 * attachment in the direction of the CPU access.
 */
static int dmabuf_exporter_import_read(struct dma_buf *dmabuf, struct dmabuf_exporter_import *arg)
{
	enum dma_data_direction direction = dmabuf->ops == &dmabuf_exporter_dma_buf_ops ?
					    DMA_TO_DEVICE : DMA_BIDIRECTIONAL;
	struct device *dev = &dmabuf_exporter_pdev->dev;
	struct dma_buf_attachment *attach;
	struct iosys_map map;
	struct sg_table *table;
	u32 crc = ~0;
	int ret, end_ret;

	/*
	 * Without a kernel mapping the CPU cannot read the buffer the way
	 * the exporter keeps it coherent (udmabuf before 6.2 has none).
	 */
	if (!dmabuf->ops->vmap)
		return -EOPNOTSUPP;

	attach = dma_buf_attach(dmabuf, dev);
	if (IS_ERR(attach))
		return PTR_ERR(attach);
	table = dmabuf_exporter_map_attachment(attach, direction);
	if (IS_ERR(table)) {
		ret = PTR_ERR(table);
		/*
		 * Bounce buffering (swiotlb=force, confidential guests, Xen)
		 * maps at most dma_max_mapping_size() per segment; an
		 * exporter with longer segments fails to map with EIO.
		 */
		if (ret == -EIO && dma_max_mapping_size(dev) != SIZE_MAX)
			ret = -EMSGSIZE;
		goto detach;
	}
	arg->nents = table->nents;
	arg->read_via = DMABUF_EXPORTER_IMPORT_VIA_VMAP;

	/* vmap first, so the CPU access below covers the kernel mapping too. */
	ret = dmabuf_exporter_vmap_buf(dmabuf, &map);
	if (ret)
		goto unmap;
	/* Some exporters sync before dma_buf_begin_cpu_access() waits. */
	ret = dmabuf_exporter_wait(dmabuf->resv, false);
	if (ret)
		goto vunmap;
	ret = dma_buf_begin_cpu_access(dmabuf, DMA_FROM_DEVICE);
	if (ret)
		goto vunmap;
	ret = dmabuf_exporter_crc_map(&crc, &map, arg->offset, arg->length);
	arg->crc32c = ~crc;
	end_ret = dma_buf_end_cpu_access(dmabuf, DMA_FROM_DEVICE);
	if (!ret)
		ret = end_ret;
vunmap:
	dmabuf_exporter_vunmap_buf(dmabuf, &map);
unmap:
	dmabuf_exporter_unmap_attachment(attach, table, direction);
detach:
	dma_buf_detach(dmabuf, attach);
	return ret;
}

static int dmabuf_exporter_import(struct dmabuf_exporter_import __user *user_arg)
{
	struct dmabuf_exporter_import arg;
	struct dma_buf *dmabuf;
	int ret;

	if (copy_from_user(&arg, user_arg, sizeof(arg)))
		return -EFAULT;
	if (arg.flags || arg.reserved0 || memchr_inv(arg.reserved, 0, sizeof(arg.reserved)))
		return -EINVAL;

	/* EBADF for a closed fd, EINVAL for one that is not a dma-buf. */
	dmabuf = dma_buf_get(arg.fd);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);
	/* IMPORT reads the buffer: like read(2), not through a write-only fd. */
	if (!(dmabuf->file->f_mode & FMODE_READ)) {
		ret = -EBADF;
		goto put_dmabuf;
	}
	if (arg.offset >= dmabuf->size || arg.length > dmabuf->size - arg.offset) {
		ret = -EINVAL;
		goto put_dmabuf;
	}
	if (!arg.length)
		arg.length = dmabuf->size - arg.offset;
	arg.size = dmabuf->size;
	memset(arg.exp_name, 0, sizeof(arg.exp_name));
	strscpy(arg.exp_name, dmabuf->exp_name ?: "", sizeof(arg.exp_name));

	ret = dmabuf_exporter_import_read(dmabuf, &arg);
	dma_buf_put(dmabuf);
	if (ret)
		return ret;
	/* Only the out fields: the caller's input stays as it gave it. */
	if (copy_to_user(&user_arg->size, &arg.size,
			 offsetof(struct dmabuf_exporter_import, reserved0) -
			 offsetof(struct dmabuf_exporter_import, size)))
		return -EFAULT;
	return 0;

put_dmabuf:
	dma_buf_put(dmabuf);
	return ret;
}

static long dmabuf_exporter_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case DMABUF_EXPORTER_IOC_GET_SHARED_FD:
		return dmabuf_exporter_get_shared_fd(file, (int __user *)arg);
	case DMABUF_EXPORTER_IOC_ALLOC:
		return dmabuf_exporter_alloc(file->private_data,
					     (struct dmabuf_exporter_alloc __user *)arg);
	case DMABUF_EXPORTER_IOC_IMPORT:
		return dmabuf_exporter_import((struct dmabuf_exporter_import __user *)arg);
	default:
		return -ENOTTY;
	}
}

/*
 * Bracket kernel access to the shared page like a dma-buf CPU access. The
 * store's lock is held from the first sync to the last, which also orders
 * read() and write().
 */
static void *dmabuf_exporter_shared_begin(void)
{
	mutex_lock(&dmabuf_exporter_shared_store.lock);
	dmabuf_exporter_sync_for_cpu(&dmabuf_exporter_shared_store);
	return kmap_local_page(dmabuf_exporter_shared_page);
}

static void dmabuf_exporter_shared_end(void *vaddr)
{
	kunmap_local(vaddr);
	dmabuf_exporter_sync_for_device(&dmabuf_exporter_shared_store);
	mutex_unlock(&dmabuf_exporter_shared_store.lock);
}

/*
 * The text is copied out under the lock and to user space outside it, so a
 * reader whose buffer faults slowly holds nobody else up.
 */
static ssize_t dmabuf_exporter_read(struct file *file, char __user *buf,
				    size_t count, loff_t *ppos)
{
	char *vaddr, *text;
	ssize_t ret;
	size_t len;

	ret = dmabuf_exporter_wait(&dmabuf_exporter_shared_resv, false);
	if (ret)
		return ret;
	text = kmalloc(DMABUF_EXPORTER_SHARED_SIZE, DMABUF_EXPORTER_GFP);
	if (!text)
		return -ENOMEM;

	vaddr = dmabuf_exporter_shared_begin();
	len = strnlen(vaddr, DMABUF_EXPORTER_SHARED_SIZE);
	memcpy(text, vaddr, len);
	dmabuf_exporter_shared_end(vaddr);

	ret = simple_read_from_buffer(buf, count, ppos, text, len);
	kfree(text);
	return ret;
}

static ssize_t dmabuf_exporter_write(struct file *file, const char __user *buf,
				     size_t count, loff_t *ppos)
{
	loff_t pos = *ppos;
	char *vaddr, *text;
	size_t n;
	int ret;

	if (pos < 0)
		return -EINVAL;
	if (pos >= DMABUF_EXPORTER_SHARED_SIZE)
		return count ? -ENOSPC : 0;
	n = min_t(size_t, count, DMABUF_EXPORTER_SHARED_SIZE - pos);
	if (!n)
		return 0;

	/* Copy in first, so a bad buffer leaves the shared text untouched. */
	text = memdup_user(buf, n);
	if (IS_ERR(text))
		return PTR_ERR(text);
	ret = dmabuf_exporter_wait(&dmabuf_exporter_shared_resv, true);
	if (ret)
		goto free_text;

	vaddr = dmabuf_exporter_shared_begin();
	memcpy(vaddr + pos, text, n);
	if (pos + n < DMABUF_EXPORTER_SHARED_SIZE)
		vaddr[pos + n] = '\0';
	dmabuf_exporter_shared_end(vaddr);

	*ppos = pos + n;
	ret = n;
free_text:
	kfree(text);
	return ret;
}

static loff_t dmabuf_exporter_llseek(struct file *file, loff_t offset, int whence)
{
	return fixed_size_llseek(file, offset, whence, DMABUF_EXPORTER_SHARED_SIZE);
}

static int dmabuf_exporter_open(struct inode *inode, struct file *file)
{
	struct dmabuf_exporter_client *client;

	client = kzalloc(sizeof(*client), DMABUF_EXPORTER_GFP);
	if (!client)
		return -ENOMEM;
	client->user = dmabuf_exporter_user_get(file->f_cred->uid);
	if (!client->user) {
		kfree(client);
		return -ENOMEM;
	}
	kref_init(&client->ref);
	atomic64_set(&client->bytes, 0);
	file->private_data = client;
	/* Threads sharing the fd read and write at one position, in turn. */
	file->f_mode |= FMODE_ATOMIC_POS;
	return 0;
}

static int dmabuf_exporter_file_release(struct inode *inode, struct file *file)
{
	dmabuf_exporter_client_put(file->private_data);
	return 0;
}

static const struct file_operations dmabuf_exporter_fops = {
	.owner = THIS_MODULE,
	.open = dmabuf_exporter_open,
	.release = dmabuf_exporter_file_release,
	.read = dmabuf_exporter_read,
	.write = dmabuf_exporter_write,
	.llseek = dmabuf_exporter_llseek,
	.unlocked_ioctl = dmabuf_exporter_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice dmabuf_exporter_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = DMABUF_EXPORTER_DEVICE_NAME,
	.fops = &dmabuf_exporter_fops,
	.mode = 0600,
};

static int __init dmabuf_exporter_init(void)
{
	int ret;

	BUILD_BUG_ON(DMABUF_EXPORTER_SHARED_SIZE > PAGE_SIZE);

	dmabuf_exporter_shared_page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!dmabuf_exporter_shared_page)
		return -ENOMEM;
	memcpy_to_page(dmabuf_exporter_shared_page, 0, DMABUF_EXPORTER_SHARED_TEXT,
		       sizeof(DMABUF_EXPORTER_SHARED_TEXT));

	dma_resv_init(&dmabuf_exporter_shared_resv);

	/*
	 * The importer's device: a platform device with a 64-bit DMA mask,
	 * as vgem has. The misc device has no DMA mask to map with.
	 */
	dmabuf_exporter_pdev = platform_device_register_simple(DMABUF_EXPORTER_DEVICE_NAME,
							       PLATFORM_DEVID_NONE, NULL, 0);
	if (IS_ERR(dmabuf_exporter_pdev)) {
		ret = PTR_ERR(dmabuf_exporter_pdev);
		goto fini_resv;
	}
	ret = dma_coerce_mask_and_coherent(&dmabuf_exporter_pdev->dev, DMA_BIT_MASK(64));
	if (ret)
		goto unregister_pdev;
	/* Any segment length, so nents shows how contiguous a buffer is. */
	dma_set_max_seg_size(&dmabuf_exporter_pdev->dev, UINT_MAX);

	ret = misc_register(&dmabuf_exporter_misc);
	if (ret)
		goto unregister_pdev;
	return 0;

unregister_pdev:
	platform_device_unregister(dmabuf_exporter_pdev);
fini_resv:
	dma_resv_fini(&dmabuf_exporter_shared_resv);
	__free_page(dmabuf_exporter_shared_page);
	return ret;
}

/* Every dma-buf holds a module reference, so none is left by now. */
static void __exit dmabuf_exporter_exit(void)
{
	misc_deregister(&dmabuf_exporter_misc);
	platform_device_unregister(dmabuf_exporter_pdev);
	dma_resv_fini(&dmabuf_exporter_shared_resv);
	__free_page(dmabuf_exporter_shared_page);
}

module_init(dmabuf_exporter_init);
module_exit(dmabuf_exporter_exit);

MODULE_DESCRIPTION("Exports page-backed kernel memory as dma-bufs through a misc device");
MODULE_LICENSE("GPL");
MODULE_INFO(import_ns, "DMA_BUF");
