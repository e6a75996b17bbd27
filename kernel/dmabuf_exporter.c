// SPDX-License-Identifier: GPL-2.0
/*
 * dmabuf_exporter: exports page-backed kernel memory as dma-bufs through
 * the misc device /dev/dmabuf_exporter.
 *
 * The device holds one shared page that user space reaches both through a
 * dma-buf (the seed article's ioctl) and through read()/write() on the
 * device, and allocates fresh buffers on request. The ABI is in
 * include/uapi/linux/dmabuf_exporter.h; docs/module.md describes it.
 */

#include <linux/dma-buf.h>
#include <linux/dma-mapping.h>
#include <linux/err.h>
#include <linux/fcntl.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/iosys-map.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
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

static unsigned long max_total_bytes;
module_param(max_total_bytes, ulong, 0644);
MODULE_PARM_DESC(max_total_bytes, "Bytes of all live buffers together (default 0: half of RAM)");

/* A fault maps this many pages from the faulting one on. */
#define DMABUF_EXPORTER_FAULT_PAGES	512

/* Allocation orders to try, largest first; contiguous runs shrink the sg_table. */
static const unsigned int dmabuf_exporter_orders[] = { 9, 4, 0 };

/* Per open file of the device: the bytes its buffers hold. */
struct dmabuf_exporter_client {
	struct kref ref;
	atomic64_t bytes;
};

/*
 * Per exported dma-buf. The shared buffer's exports point at the module's
 * shared pages and have no client; ALLOC buffers own their pages.
 */
struct dmabuf_exporter_buffer {
	struct dmabuf_exporter_client *client;
	struct page **pages;
	pgoff_t nr_pages;
	bool owns_pages;
	struct list_head shared_node;

	struct mutex lock;		/* protects the fields below */
	struct list_head attachments;
	unsigned int vmap_count;
	void *vaddr;
};

struct dmabuf_exporter_attachment {
	struct device *dev;
	struct sg_table table;
	struct list_head node;
	bool mapped;
};

static atomic64_t dmabuf_exporter_total_bytes = ATOMIC64_INIT(0);

/*
 * The shared page and the live exports of it, so that read() and write()
 * can sync against every device that has it mapped.
 */
static struct page *dmabuf_exporter_shared_page;
static DEFINE_MUTEX(dmabuf_exporter_shared_lock);
static LIST_HEAD(dmabuf_exporter_shared_exports);

/* vm_flags became read-only behind vm_flags_set() in 6.3; Kbuild probes for it. */
static void dmabuf_exporter_vma_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
#ifdef DMABUF_EXPORTER_HAVE_VM_FLAGS_SET
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

static void dmabuf_exporter_client_free(struct kref *ref)
{
	kfree(container_of(ref, struct dmabuf_exporter_client, ref));
}

static void dmabuf_exporter_client_put(struct dmabuf_exporter_client *client)
{
	kref_put(&client->ref, dmabuf_exporter_client_free);
}

static int dmabuf_exporter_charge(struct dmabuf_exporter_client *client, u64 bytes)
{
	u64 total_limit = READ_ONCE(max_total_bytes);

	if (!total_limit)
		total_limit = (u64)totalram_pages() << (PAGE_SHIFT - 1);

	if (atomic64_add_return(bytes, &dmabuf_exporter_total_bytes) > total_limit) {
		atomic64_sub(bytes, &dmabuf_exporter_total_bytes);
		return -ENOSPC;
	}
	if (atomic64_add_return(bytes, &client->bytes) > READ_ONCE(max_file_bytes)) {
		atomic64_sub(bytes, &client->bytes);
		atomic64_sub(bytes, &dmabuf_exporter_total_bytes);
		return -EDQUOT;
	}
	return 0;
}

static void dmabuf_exporter_uncharge(struct dmabuf_exporter_client *client, u64 bytes)
{
	atomic64_sub(bytes, &client->bytes);
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
 * into order-0 pages so each page is refcounted on its own and can be
 * inserted into user page tables one by one.
 */
static struct page **dmabuf_exporter_alloc_pages(pgoff_t nr_pages)
{
	struct page **pages;
	pgoff_t filled = 0;
	unsigned int i = 0;

	pages = kvmalloc_array(nr_pages, sizeof(*pages), GFP_KERNEL_ACCOUNT);
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

static int dmabuf_exporter_attach(struct dma_buf *dmabuf, struct dma_buf_attachment *attachment)
{
	struct dmabuf_exporter_buffer *buffer = dmabuf->priv;
	struct dmabuf_exporter_attachment *a;
	unsigned int max_segment;
	int ret;

	a = kzalloc(sizeof(*a), GFP_KERNEL);
	if (!a)
		return -ENOMEM;

	/* Merge contiguous pages, but never past what the importer can map in one segment. */
	max_segment = max_t(unsigned int, dma_get_max_seg_size(attachment->dev), PAGE_SIZE);
	ret = sg_alloc_table_from_pages_segment(&a->table, buffer->pages, buffer->nr_pages, 0,
						buffer->nr_pages << PAGE_SHIFT, max_segment,
						GFP_KERNEL);
	if (ret)
		goto free_attachment;

	a->dev = attachment->dev;
	INIT_LIST_HEAD(&a->node);
	attachment->priv = a;

	mutex_lock(&buffer->lock);
	list_add(&a->node, &buffer->attachments);
	mutex_unlock(&buffer->lock);
	return 0;

free_attachment:
	kfree(a);
	return ret;
}

static void dmabuf_exporter_detach(struct dma_buf *dmabuf, struct dma_buf_attachment *attachment)
{
	struct dmabuf_exporter_buffer *buffer = dmabuf->priv;
	struct dmabuf_exporter_attachment *a = attachment->priv;

	mutex_lock(&buffer->lock);
	list_del(&a->node);
	mutex_unlock(&buffer->lock);

	sg_free_table(&a->table);
	kfree(a);
}

static struct sg_table *dmabuf_exporter_map_dma_buf(struct dma_buf_attachment *attachment,
						    enum dma_data_direction direction)
{
	struct dmabuf_exporter_buffer *buffer = attachment->dmabuf->priv;
	struct dmabuf_exporter_attachment *a = attachment->priv;
	int ret;

	ret = dma_map_sgtable(attachment->dev, &a->table, direction, 0);
	if (ret)
		return ERR_PTR(ret);

	mutex_lock(&buffer->lock);
	a->mapped = true;
	mutex_unlock(&buffer->lock);
	return &a->table;
}

static void dmabuf_exporter_unmap_dma_buf(struct dma_buf_attachment *attachment,
					  struct sg_table *table,
					  enum dma_data_direction direction)
{
	struct dmabuf_exporter_buffer *buffer = attachment->dmabuf->priv;
	struct dmabuf_exporter_attachment *a = attachment->priv;

	mutex_lock(&buffer->lock);
	a->mapped = false;
	mutex_unlock(&buffer->lock);

	dma_unmap_sgtable(attachment->dev, table, direction, 0);
}

static void dmabuf_exporter_sync_for_cpu(struct dmabuf_exporter_buffer *buffer,
					 enum dma_data_direction direction)
{
	struct dmabuf_exporter_attachment *a;

	mutex_lock(&buffer->lock);
	if (buffer->vmap_count)
		invalidate_kernel_vmap_range(buffer->vaddr, buffer->nr_pages << PAGE_SHIFT);
	list_for_each_entry(a, &buffer->attachments, node) {
		if (a->mapped)
			dma_sync_sgtable_for_cpu(a->dev, &a->table, direction);
	}
	mutex_unlock(&buffer->lock);
}

static void dmabuf_exporter_sync_for_device(struct dmabuf_exporter_buffer *buffer,
					    enum dma_data_direction direction)
{
	struct dmabuf_exporter_attachment *a;

	mutex_lock(&buffer->lock);
	if (buffer->vmap_count)
		flush_kernel_vmap_range(buffer->vaddr, buffer->nr_pages << PAGE_SHIFT);
	list_for_each_entry(a, &buffer->attachments, node) {
		if (a->mapped)
			dma_sync_sgtable_for_device(a->dev, &a->table, direction);
	}
	mutex_unlock(&buffer->lock);
}

static int dmabuf_exporter_begin_cpu_access(struct dma_buf *dmabuf,
					    enum dma_data_direction direction)
{
	dmabuf_exporter_sync_for_cpu(dmabuf->priv, direction);
	return 0;
}

static int dmabuf_exporter_end_cpu_access(struct dma_buf *dmabuf,
					  enum dma_data_direction direction)
{
	dmabuf_exporter_sync_for_device(dmabuf->priv, direction);
	return 0;
}

/*
 * Map lazily: mmap is O(1), and each fault inserts a window of pages so a
 * sequential pass over the buffer takes one fault per window.
 */
static vm_fault_t dmabuf_exporter_vm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct dmabuf_exporter_buffer *buffer = vma->vm_private_data;
	unsigned long address = vmf->address & PAGE_MASK;
	unsigned long count;
	int ret;

	if (vmf->pgoff >= buffer->nr_pages)
		return VM_FAULT_SIGBUS;

	count = min3((unsigned long)DMABUF_EXPORTER_FAULT_PAGES,
		     (unsigned long)(buffer->nr_pages - vmf->pgoff),
		     (vma->vm_end - address) >> PAGE_SHIFT);
	ret = vm_insert_pages(vma, address, buffer->pages + vmf->pgoff, &count);

	/* -EBUSY: a racing fault already mapped a page of the window. */
	if (!ret || ret == -EBUSY)
		return VM_FAULT_NOPAGE;
	if (ret == -ENOMEM)
		return VM_FAULT_OOM;
	return VM_FAULT_SIGBUS;
}

static const struct vm_operations_struct dmabuf_exporter_vm_ops = {
	.fault = dmabuf_exporter_vm_fault,
};

static int dmabuf_exporter_mmap(struct dma_buf *dmabuf, struct vm_area_struct *vma)
{
	struct dmabuf_exporter_buffer *buffer = dmabuf->priv;

	/* VM_MAYSHARE: a MAP_SHARED mapping of a read-only fd lacks VM_SHARED. */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_pgoff >= buffer->nr_pages ||
	    vma_pages(vma) > buffer->nr_pages - vma->vm_pgoff)
		return -EINVAL;

	/* VM_MIXEDMAP lets the fault handler insert pages under the read lock. */
	dmabuf_exporter_vma_flags_set(vma, VM_MIXEDMAP | VM_DONTEXPAND | VM_DONTDUMP);
	vma->vm_ops = &dmabuf_exporter_vm_ops;
	vma->vm_private_data = buffer;
	return 0;
}

static int dmabuf_exporter_vmap(struct dma_buf *dmabuf, struct iosys_map *map)
{
	struct dmabuf_exporter_buffer *buffer = dmabuf->priv;
	int ret = 0;

	mutex_lock(&buffer->lock);
	if (!buffer->vmap_count) {
		buffer->vaddr = vmap(buffer->pages, buffer->nr_pages, VM_MAP, PAGE_KERNEL);
		if (!buffer->vaddr) {
			ret = -ENOMEM;
			goto unlock;
		}
	}
	buffer->vmap_count++;
	iosys_map_set_vaddr(map, buffer->vaddr);
unlock:
	mutex_unlock(&buffer->lock);
	return ret;
}

static void dmabuf_exporter_vunmap(struct dma_buf *dmabuf, struct iosys_map *map)
{
	struct dmabuf_exporter_buffer *buffer = dmabuf->priv;

	mutex_lock(&buffer->lock);
	if (!--buffer->vmap_count) {
		vunmap(buffer->vaddr);
		buffer->vaddr = NULL;
	}
	mutex_unlock(&buffer->lock);
	iosys_map_clear(map);
}

static void dmabuf_exporter_buffer_free(struct dmabuf_exporter_buffer *buffer)
{
	if (buffer->owns_pages)
		dmabuf_exporter_free_pages(buffer->pages, buffer->nr_pages);
	if (buffer->client) {
		dmabuf_exporter_uncharge(buffer->client, (u64)buffer->nr_pages << PAGE_SHIFT);
		dmabuf_exporter_client_put(buffer->client);
	}
	mutex_destroy(&buffer->lock);
	kfree(buffer);
}

static void dmabuf_exporter_release(struct dma_buf *dmabuf)
{
	struct dmabuf_exporter_buffer *buffer = dmabuf->priv;

	if (!buffer->owns_pages) {
		mutex_lock(&dmabuf_exporter_shared_lock);
		list_del(&buffer->shared_node);
		mutex_unlock(&dmabuf_exporter_shared_lock);
	}
	/* The core refuses to release a dma-buf with a live vmap or attachment. */
	WARN_ON(buffer->vmap_count || !list_empty(&buffer->attachments));
	dmabuf_exporter_buffer_free(buffer);
}

static const struct dma_buf_ops dmabuf_exporter_dma_buf_ops = {
	.attach = dmabuf_exporter_attach,
	.detach = dmabuf_exporter_detach,
	.map_dma_buf = dmabuf_exporter_map_dma_buf,
	.unmap_dma_buf = dmabuf_exporter_unmap_dma_buf,
	.begin_cpu_access = dmabuf_exporter_begin_cpu_access,
	.end_cpu_access = dmabuf_exporter_end_cpu_access,
	.mmap = dmabuf_exporter_mmap,
	.vmap = dmabuf_exporter_vmap,
	.vunmap = dmabuf_exporter_vunmap,
	.release = dmabuf_exporter_release,
};

static struct dmabuf_exporter_buffer *dmabuf_exporter_buffer_new(void)
{
	struct dmabuf_exporter_buffer *buffer;

	buffer = kzalloc(sizeof(*buffer), GFP_KERNEL);
	if (!buffer)
		return NULL;
	mutex_init(&buffer->lock);
	INIT_LIST_HEAD(&buffer->attachments);
	INIT_LIST_HEAD(&buffer->shared_node);
	return buffer;
}

/*
 * Export @buffer and hand user space an fd for it. The fd is installed only
 * after it has been copied out, so a failed ioctl leaves no fd behind. On
 * failure @buffer is freed, by the dma-buf's release if it got that far.
 */
static int dmabuf_exporter_export(struct dmabuf_exporter_buffer *buffer, int flags,
				  char *name, int __user *user_fd)
{
	DEFINE_DMA_BUF_EXPORT_INFO(exp_info);
	struct dma_buf *dmabuf;
	int fd;

	exp_info.ops = &dmabuf_exporter_dma_buf_ops;
	exp_info.size = buffer->nr_pages << PAGE_SHIFT;
	exp_info.flags = flags & O_ACCMODE;
	exp_info.priv = buffer;

	dmabuf = dma_buf_export(&exp_info);
	if (IS_ERR(dmabuf)) {
		kfree(name);
		dmabuf_exporter_buffer_free(buffer);
		return PTR_ERR(dmabuf);
	}

	if (!buffer->owns_pages) {
		mutex_lock(&dmabuf_exporter_shared_lock);
		list_add(&buffer->shared_node, &dmabuf_exporter_shared_exports);
		mutex_unlock(&dmabuf_exporter_shared_lock);
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

/* The shared buffer's fd is writable only through a device opened for writing. */
static int dmabuf_exporter_get_shared_fd(struct file *file, int __user *user_fd)
{
	int access = (file->f_mode & FMODE_WRITE) ? O_RDWR : O_RDONLY;
	struct dmabuf_exporter_buffer *buffer;

	buffer = dmabuf_exporter_buffer_new();
	if (!buffer)
		return -ENOMEM;
	buffer->pages = &dmabuf_exporter_shared_page;
	buffer->nr_pages = 1;
	return dmabuf_exporter_export(buffer, access | O_CLOEXEC, NULL, user_fd);
}

static int dmabuf_exporter_alloc(struct dmabuf_exporter_client *client,
				 struct dmabuf_exporter_alloc __user *user_arg)
{
	struct dmabuf_exporter_alloc arg;
	struct dmabuf_exporter_buffer *buffer;
	unsigned int access;
	char *name = NULL;
	u64 bytes;
	int ret;

	if (copy_from_user(&arg, user_arg, sizeof(arg)))
		return -EFAULT;

	access = arg.fd_flags & O_ACCMODE;
	if (arg.fd_flags & ~(O_ACCMODE | O_CLOEXEC) ||
	    (access != O_RDONLY && access != O_RDWR))
		return -EINVAL;
	if (!memchr(arg.name, '\0', sizeof(arg.name)))
		return -EINVAL;
	if (!arg.size)
		return -EINVAL;
	if (arg.size > READ_ONCE(max_buffer_bytes) || arg.size > (u64)MAX_LFS_FILESIZE)
		return -EFBIG;
	bytes = PAGE_ALIGN(arg.size);

	ret = dmabuf_exporter_charge(client, bytes);
	if (ret)
		return ret;

	if (arg.name[0]) {
		name = kstrdup(arg.name, GFP_KERNEL);
		if (!name) {
			ret = -ENOMEM;
			goto uncharge;
		}
	}

	buffer = dmabuf_exporter_buffer_new();
	if (!buffer) {
		ret = -ENOMEM;
		goto free_name;
	}
	buffer->nr_pages = bytes >> PAGE_SHIFT;
	buffer->pages = dmabuf_exporter_alloc_pages(buffer->nr_pages);
	if (!buffer->pages) {
		ret = -ENOMEM;
		goto free_buffer;
	}
	buffer->owns_pages = true;

	/* From here the buffer carries the charge and releases it when freed. */
	kref_get(&client->ref);
	buffer->client = client;
	return dmabuf_exporter_export(buffer, arg.fd_flags, name, &user_arg->fd);

free_buffer:
	dmabuf_exporter_buffer_free(buffer);
free_name:
	kfree(name);
uncharge:
	dmabuf_exporter_uncharge(client, bytes);
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
	default:
		return -ENOTTY;
	}
}

/* Bracket kernel access to the shared page like a dma-buf CPU access. */
static void *dmabuf_exporter_shared_begin(enum dma_data_direction direction)
{
	struct dmabuf_exporter_buffer *buffer;

	mutex_lock(&dmabuf_exporter_shared_lock);
	list_for_each_entry(buffer, &dmabuf_exporter_shared_exports, shared_node)
		dmabuf_exporter_sync_for_cpu(buffer, direction);
	return kmap_local_page(dmabuf_exporter_shared_page);
}

static void dmabuf_exporter_shared_end(void *vaddr, enum dma_data_direction direction)
{
	struct dmabuf_exporter_buffer *buffer;

	kunmap_local(vaddr);
	list_for_each_entry(buffer, &dmabuf_exporter_shared_exports, shared_node)
		dmabuf_exporter_sync_for_device(buffer, direction);
	mutex_unlock(&dmabuf_exporter_shared_lock);
}

static ssize_t dmabuf_exporter_read(struct file *file, char __user *buf,
				    size_t count, loff_t *ppos)
{
	char *vaddr;
	ssize_t ret;

	vaddr = dmabuf_exporter_shared_begin(DMA_FROM_DEVICE);
	ret = simple_read_from_buffer(buf, count, ppos, vaddr,
				      strnlen(vaddr, DMABUF_EXPORTER_SHARED_SIZE));
	dmabuf_exporter_shared_end(vaddr, DMA_FROM_DEVICE);
	return ret;
}

static ssize_t dmabuf_exporter_write(struct file *file, const char __user *buf,
				     size_t count, loff_t *ppos)
{
	loff_t pos = *ppos;
	char *vaddr, *text;
	size_t n;

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

	vaddr = dmabuf_exporter_shared_begin(DMA_TO_DEVICE);
	memcpy(vaddr + pos, text, n);
	if (pos + n < DMABUF_EXPORTER_SHARED_SIZE)
		vaddr[pos + n] = '\0';
	dmabuf_exporter_shared_end(vaddr, DMA_TO_DEVICE);
	kfree(text);

	*ppos = pos + n;
	return n;
}

static loff_t dmabuf_exporter_llseek(struct file *file, loff_t offset, int whence)
{
	return fixed_size_llseek(file, offset, whence, DMABUF_EXPORTER_SHARED_SIZE);
}

static int dmabuf_exporter_open(struct inode *inode, struct file *file)
{
	struct dmabuf_exporter_client *client;

	client = kzalloc(sizeof(*client), GFP_KERNEL);
	if (!client)
		return -ENOMEM;
	kref_init(&client->ref);
	atomic64_set(&client->bytes, 0);
	file->private_data = client;
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

	ret = misc_register(&dmabuf_exporter_misc);
	if (ret)
		goto free_shared_page;
	return 0;

free_shared_page:
	__free_page(dmabuf_exporter_shared_page);
	return ret;
}

/* Every dma-buf holds a module reference, so none is left by now. */
static void __exit dmabuf_exporter_exit(void)
{
	misc_deregister(&dmabuf_exporter_misc);
	__free_page(dmabuf_exporter_shared_page);
}

module_init(dmabuf_exporter_init);
module_exit(dmabuf_exporter_exit);

MODULE_DESCRIPTION("Exports page-backed kernel memory as dma-bufs through a misc device");
MODULE_LICENSE("GPL");
MODULE_INFO(import_ns, "DMA_BUF");
