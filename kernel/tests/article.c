// SPDX-License-Identifier: GPL-2.0
/*
 * The seed article's user program, written against the module's uapi header,
 * plus checks of the device's read()/write()/lseek() path.
 *
 *   article              the article's demo: print the shared buffer's text
 *                        ("DMA-BUF: Data inited by kernel!" on a fresh
 *                        module), then write "Hello from user space!"
 *   article --device-io  the device file's read/write/lseek behaviour
 */
#include "harness.h"

#define USER_TEXT	"Hello from user space!"

static int article_demo(void)
{
	char *user_buffer;
	int fd, dma_fd;

	fd = open(DEV_PATH, O_RDWR);
	if (fd < 0) {
		perror("Failed to open the device");
		return 1;
	}

	if (ioctl(fd, DMABUF_EXPORTER_IOC_GET_SHARED_FD, &dma_fd) < 0) {
		perror("Failed to get DMA-BUF FD");
		close(fd);
		return 1;
	}
	printf("Received DMA-BUF FD: %d\n", dma_fd);

	user_buffer = mmap(NULL, DMABUF_EXPORTER_SHARED_SIZE,
			   PROT_READ | PROT_WRITE, MAP_SHARED, dma_fd, 0);
	if (user_buffer == MAP_FAILED) {
		perror("mmap failed");
		close(dma_fd);
		close(fd);
		return 1;
	}
	printf("DMA-BUF mapped successfully at address: %p\n", user_buffer);

	/* Bounded: the buffer is not required to hold a NUL. */
	printf("DMA-BUF: %.*s\n", (int)strnlen(user_buffer, DMABUF_EXPORTER_SHARED_SIZE),
	       user_buffer);

	printf("Writing to DMA-BUF\n");
	snprintf(user_buffer, DMABUF_EXPORTER_SHARED_SIZE, USER_TEXT);
	printf("DMA-BUF: %s\n", user_buffer);

	munmap(user_buffer, DMABUF_EXPORTER_SHARED_SIZE);
	close(dma_fd);
	close(fd);
	return 0;
}

/* read() until 0, at most @len bytes; returns bytes read. */
static ssize_t read_all(int fd, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, buf + got, len - got);
		CHECK(n >= 0);
		if (!n)
			break;
		got += n;
	}
	return got;
}

static char *map_shared(int dev, int *dma_fd)
{
	CHECK(ioctl(dev, DMABUF_EXPORTER_IOC_GET_SHARED_FD, dma_fd) == 0);
	CHECK(*dma_fd >= 0);
	return must_map(*dma_fd, DMABUF_EXPORTER_SHARED_SIZE,
			PROT_READ | PROT_WRITE, 0);
}

static void unmap_shared(char *p, int dma_fd)
{
	CHECK(munmap(p, DMABUF_EXPORTER_SHARED_SIZE) == 0);
	CHECK(close(dma_fd) == 0);
}

static int device_io(void)
{
	const size_t sz = DMABUF_EXPORTER_SHARED_SIZE;
	char buf[2 * DMABUF_EXPORTER_SHARED_SIZE], *big, *map, *ro;
	int dev, dev2, dma_fd, fds_before = count_fds();

	dev = dev_open();
	dev2 = dev_open();

	SECTION("lseek");
	CHECK_EQ(lseek(dev, 0, SEEK_END), sz);
	CHECK_EQ(lseek(dev, 0, SEEK_SET), 0);
	CHECK_EQ(lseek(dev, 100, SEEK_SET), 100);
	CHECK_EQ(lseek(dev, 10, SEEK_CUR), 110);
	CHECK_EQ(lseek(dev, -6, SEEK_END), sz - 6);
	CHECK_EQ(lseek(dev, sz, SEEK_SET), sz);
	CHECK_ERR(lseek(dev, sz + 1, SEEK_SET), EINVAL);
	CHECK_ERR(lseek(dev, -1, SEEK_SET), EINVAL);
	CHECK_EQ(lseek(dev, 0, SEEK_SET), 0);

	SECTION("write then read back");
	CHECK_EQ(write(dev, "0123456789abcdef", 16), 16);
	CHECK_EQ(lseek(dev, 0, SEEK_CUR), 16);
	CHECK_EQ(lseek(dev, 0, SEEK_SET), 0);
	memset(buf, 0x7f, sizeof(buf));
	CHECK_EQ(read_all(dev, buf, sizeof(buf)), 16);
	CHECK(!memcmp(buf, "0123456789abcdef", 16));
	CHECK_EQ(read(dev, buf, sizeof(buf)), 0);
	/* Another open file sees the same text from its own offset 0. */
	CHECK_EQ(read_all(dev2, buf, sizeof(buf)), 16);
	CHECK(!memcmp(buf, "0123456789abcdef", 16));

	SECTION("read at offsets");
	CHECK_EQ(lseek(dev, 5, SEEK_SET), 5);
	CHECK_EQ(read_all(dev, buf, sizeof(buf)), 11);
	CHECK(!memcmp(buf, "56789abcdef", 11));
	CHECK_EQ(lseek(dev, 0, SEEK_SET), 0);
	CHECK_EQ(read(dev, buf, 3), 3);
	CHECK(!memcmp(buf, "012", 3));
	CHECK_EQ(read(dev, buf, 3), 3);
	CHECK(!memcmp(buf, "345", 3));
	CHECK_EQ(lseek(dev, 0, SEEK_CUR), 6);
	CHECK_EQ(pread(dev, buf, sizeof(buf), 10), 6);
	CHECK(!memcmp(buf, "abcdef", 6));
	CHECK_EQ(lseek(dev, 0, SEEK_CUR), 6);	/* pread leaves the offset */
	CHECK_EQ(pread(dev, buf, sizeof(buf), 16), 0);
	CHECK_EQ(pread(dev, buf, sizeof(buf), sz), 0);

	SECTION("write puts a NUL after the bytes");
	CHECK_EQ(pwrite(dev, "AB", 2, 0), 2);
	CHECK_EQ(pread(dev, buf, sizeof(buf), 0), 2);
	CHECK(!memcmp(buf, "AB", 2));
	/*
	 * read() serves the text: the bytes before the buffer's first NUL.
	 * An offset past it reads 0 even though older bytes follow.
	 */
	CHECK_EQ(pread(dev, buf, sizeof(buf), 5), 0);

	SECTION("device writes are seen by a fresh mapping");
	map = map_shared(dev, &dma_fd);
	CHECK(!memcmp(map, "AB\0" "3456789abcdef\0", 17));
	snprintf(map, sz, "written through a mapping");
	CHECK_EQ(pread(dev, buf, sizeof(buf), 0), strlen("written through a mapping"));
	CHECK(!memcmp(buf, "written through a mapping", strlen("written through a mapping")));
	unmap_shared(map, dma_fd);

	SECTION("write at the end: short write, no room for a NUL");
	CHECK_EQ(pwrite(dev, "0123456789", 10, sz - 6), 6);
	map = map_shared(dev, &dma_fd);
	CHECK(!memcmp(map + sz - 6, "012345", 6));
	unmap_shared(map, dma_fd);
	/* The text still ends at the first NUL, far before. */
	CHECK_EQ(pread(dev, buf, sizeof(buf), sz - 6), 0);

	SECTION("write at or beyond 4096: ENOSPC");
	CHECK_EQ(lseek(dev, sz, SEEK_SET), sz);
	CHECK_ERR(write(dev, "x", 1), ENOSPC);
	CHECK_EQ(lseek(dev, 0, SEEK_CUR), sz);
	CHECK_ERR(pwrite(dev, "x", 1, sz), ENOSPC);
	CHECK_ERR(pwrite(dev, "x", 1, sz + 1), ENOSPC);
	CHECK_ERR(pwrite(dev, "x", 1, 1 << 20), ENOSPC);
	CHECK_EQ(read(dev, buf, sizeof(buf)), 0);

	SECTION("whole-buffer write, no NUL anywhere");
	big = malloc(sz);
	CHECK(big != NULL);
	memset(big, 'Q', sz);
	CHECK_EQ(pwrite(dev, big, sz, 0), sz);
	CHECK_EQ(lseek(dev, 0, SEEK_SET), 0);
	CHECK_EQ(read_all(dev, buf, sizeof(buf)), sz);
	CHECK(!memcmp(buf, big, sz));
	CHECK_EQ(pread(dev, buf, sizeof(buf), sz - 6), 6);
	CHECK(!memcmp(buf, "QQQQQQ", 6));
	CHECK_EQ(pwrite(dev, big, sz, 1), sz - 1);	/* short */
	free(big);
	CHECK_EQ(pwrite(dev, "", 0, 0), 0);

	SECTION("bad user pointers: EFAULT");
	/* Reads first: a failed write may leave zeroes behind. */
	CHECK(pread(dev, buf, 4, 0) == 4);
	CHECK_ERR(pread(dev, null_ptr, 4, 0), EFAULT);
	ro = readonly_page(NULL, 0);
	CHECK_ERR(pread(dev, ro, 4, 0), EFAULT);
	CHECK(munmap(ro, PAGE) == 0);
	CHECK_ERR(pwrite(dev, null_ptr, 4, 0), EFAULT);
	CHECK_ERR(pwrite(dev, unmapped_page(), 4, 0), EFAULT);

	SECTION("restore the kernel's text");
	CHECK_EQ(pwrite(dev, DMABUF_EXPORTER_SHARED_TEXT,
			sizeof(DMABUF_EXPORTER_SHARED_TEXT), 0),
		 sizeof(DMABUF_EXPORTER_SHARED_TEXT));
	CHECK_EQ(pread(dev, buf, sizeof(buf), 0), strlen(DMABUF_EXPORTER_SHARED_TEXT));
	CHECK(!memcmp(buf, DMABUF_EXPORTER_SHARED_TEXT, strlen(DMABUF_EXPORTER_SHARED_TEXT)));

	CHECK(close(dev2) == 0);
	CHECK(close(dev) == 0);
	CHECK_EQ(count_fds(), fds_before);
	printf("%s: device-io OK\n", harness_prog);
	return 0;
}

int main(int argc, char **argv)
{
	harness_init(argv[0]);
	if (argc == 1)
		return article_demo();
	if (argc == 2 && !strcmp(argv[1], "--device-io"))
		return device_io();
	fprintf(stderr, "usage: %s [--device-io]\n", argv[0]);
	return 2;
}
