// SPDX-License-Identifier: GPL-2.0
/*
 * Buffer and module lifetime: a mapping keeps a buffer (and the module)
 * alive after every fd is closed; rmmod fails while anything holds a buffer
 * and succeeds once the last holder goes; the module then loads again from
 * $DMABUF_EXPORTER_KO in its initial state. Leaves the module loaded.
 */
#include <sys/syscall.h>

#include "vgem.h"

#define MODNAME	"dmabuf_exporter"

static int try_rmmod(void)
{
	return syscall(SYS_delete_module, MODNAME, O_NONBLOCK);
}

static int module_loaded(void)
{
	return access("/sys/module/" MODNAME, F_OK) == 0;
}

/*
 * rmmod must be refused while @what holds the module: delete_module() says
 * EWOULDBLOCK ("in use"); EBUSY would mean the module is mid-load or unload.
 */
#define CHECK_RMMOD_REFUSED(what) do {					\
	errno = 0;							\
	CHECKF(try_rmmod() == -1 && errno == EWOULDBLOCK,		\
	       "rmmod while %s (refcnt %ld)", (what), module_refcnt());	\
	CHECKF(module_loaded(), "module gone while %s", (what));	\
	printf("%s: rmmod refused while %s (refcnt %ld)\n",		\
	       harness_prog, (what), module_refcnt());			\
} while (0)

/* The last release may be deferred a little (delayed fput): retry. */
static void rmmod_eventually(void)
{
	double deadline = now_sec() + 5;
	int ret;

	while ((ret = try_rmmod()) && errno == EWOULDBLOCK &&
	       now_sec() < deadline)
		sleep_ms(20);
	CHECKF(ret == 0, "rmmod with nothing held (refcnt %ld)", module_refcnt());
	CHECK(!module_loaded());
	CHECK(access(DEV_PATH, F_OK) == -1 && errno == ENOENT);
}

static void load_module(const char *ko)
{
	double deadline = now_sec() + 5;
	int fd = open(ko, O_RDONLY | O_CLOEXEC);

	CHECKF(fd >= 0, "open %s", ko);
	CHECKF(syscall(SYS_finit_module, fd, "", 0) == 0, "finit_module %s", ko);
	CHECK(close(fd) == 0);
	while (access(DEV_PATH, R_OK | W_OK) && now_sec() < deadline)
		sleep_ms(20);
}

/* A freshly loaded module: default parameters, the kernel's text. */
static void check_fresh_module(void)
{
	char text[DMABUF_EXPORTER_SHARED_SIZE];
	int dev = dev_open(), fd;
	ssize_t n;

	CHECK_EQ(param_get("max_buffer_bytes"), 256 * MiB);
	CHECK_EQ(param_get("max_file_bytes"), 1024 * MiB);
	CHECK_EQ(param_get("max_user_bytes"), 1024 * MiB);
	CHECK_EQ(param_get("max_total_bytes"), 0);
	n = read(dev, text, sizeof(text));
	CHECK_EQ(n, strlen(DMABUF_EXPORTER_SHARED_TEXT));
	CHECK(!memcmp(text, DMABUF_EXPORTER_SHARED_TEXT, n));
	fd = must_alloc(dev, PAGE, O_RDWR | O_CLOEXEC, NULL);
	CHECK(close(fd) == 0);
	CHECK(close(dev) == 0);
}

static void test_mapping_outlives_fds(void)
{
	const size_t sz = 4 * PAGE;
	char *p, *s, text[DMABUF_EXPORTER_SHARED_SIZE];
	int dev, fd, sfd;
	ssize_t n;

	SECTION("a mapping outlives the dma-buf fd and the device fd");
	dev = dev_open();
	fd = must_alloc(dev, sz, O_RDWR | O_CLOEXEC, NULL);
	p = must_map(fd, sz, PROT_READ | PROT_WRITE, 0);
	fill_pattern(p, sz, 41);
	CHECK(ioctl(dev, DMABUF_EXPORTER_IOC_GET_SHARED_FD, &sfd) == 0);
	s = must_map(sfd, PAGE, PROT_READ | PROT_WRITE, 0);
	n = pread(dev, text, sizeof(text), 0);
	CHECK(n >= 0);
	CHECK(close(fd) == 0);
	CHECK(close(sfd) == 0);
	CHECK(close(dev) == 0);
	CHECK(check_pattern(p, sz, 41) < 0);
	fill_pattern(p, sz, 42);
	CHECK(check_pattern(p, sz, 42) < 0);
	CHECK(!memcmp(s, text, n));
	s[PAGE - 1] = 'S';
	CHECK_EQ(s[PAGE - 1], 'S');
	s[PAGE - 1] = '\0';
	CHECK(munmap(s, PAGE) == 0);
	CHECK(munmap(p, sz) == 0);
}

static const char *ko;

static void test_rmmod(void)
{
	int dev, fd, sfd, card;
	char *p;
	__u32 handle;

	SECTION("rmmod is refused while anything holds a buffer");
	dev = dev_open();
	CHECK_RMMOD_REFUSED("the device is open");

	fd = must_alloc(dev, 2 * PAGE, O_RDWR | O_CLOEXEC, NULL);
	CHECK(close(dev) == 0);
	CHECK_RMMOD_REFUSED("an ALLOC buffer fd is open");

	p = must_map(fd, 2 * PAGE, PROT_READ | PROT_WRITE, 0);
	fill_pattern(p, 2 * PAGE, 43);
	CHECK(close(fd) == 0);
	CHECK_RMMOD_REFUSED("only a mapping holds the buffer");
	CHECK(check_pattern(p, 2 * PAGE, 43) < 0);
	CHECK(munmap(p, 2 * PAGE) == 0);

	dev = dev_open();
	CHECK(ioctl(dev, DMABUF_EXPORTER_IOC_GET_SHARED_FD, &sfd) == 0);
	CHECK(close(dev) == 0);
	CHECK_RMMOD_REFUSED("a shared-buffer fd is open");
	CHECK(close(sfd) == 0);

	card = must_vgem_open();
	dev = dev_open();
	fd = must_alloc(dev, 2 * PAGE, O_RDWR | O_CLOEXEC, NULL);
	handle = vgem_import(card, fd);
	CHECK(handle != 0);
	CHECK(close(fd) == 0);
	CHECK(close(dev) == 0);
	CHECK_RMMOD_REFUSED("only a vgem import holds the buffer");
	CHECK(vgem_close(card, handle) == 0);
	CHECK(close(card) == 0);

	SECTION("rmmod succeeds after the last holder; the module loads again");
	rmmod_eventually();
	load_module(ko);
	check_fresh_module();

	SECTION("unload and load again with nothing ever held");
	rmmod_eventually();
	load_module(ko);
	check_fresh_module();
}

static void setup(void)
{
	ko = getenv("DMABUF_EXPORTER_KO");
	CHECKF(ko && *ko, "%s", "DMABUF_EXPORTER_KO must name the module's .ko");
}

static const struct harness_test tests[] = {
	HARNESS_TEST(test_mapping_outlives_fds),
	HARNESS_TEST(test_rmmod),
};

int main(int argc, char **argv)
{
	return harness_main(argc, argv, setup, NULL, tests, ARRAY_SIZE(tests));
}
