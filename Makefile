# swift-dmabuf: thin entry points; the work is in scripts/.
#   make demo   bootstrap, build, boot Debian 12's kernel in a VM, run the article's scenario
#   make test   every test: host, both stock kernels, and the debug kernel
.PHONY: all demo test bootstrap module check swift c-tests vm-test test-debug debug-kernel bench install-udev clean

all: module swift

bootstrap:
	@scripts/bootstrap

module: bootstrap
	@for r in $$(scripts/kernels | awk '{print $$2}'); do scripts/build-module $$r; done

check: module
	@scripts/checkpatch

swift:
	swift build

c-tests:
	@$(MAKE) -s -C kernel/tests

demo: bootstrap
	@scripts/demo

test: bootstrap
	@scripts/test

vm-test: bootstrap module swift c-tests
	@scripts/test --only-vm

debug-kernel: bootstrap
	@scripts/debug-kernel

test-debug: bootstrap
	@scripts/test --only-debug

bench: bootstrap
	@scripts/bench

install-udev:
	install -m 0644 udev/70-dmabuf-exporter.rules /etc/udev/rules.d/
	getent group dmabuf >/dev/null || groupadd --system dmabuf
	-udevadm control --reload-rules && udevadm trigger --subsystem-match=misc

clean:
	rm -rf build .build
