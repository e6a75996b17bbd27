# swift-dmabuf: thin entry points; the work is in scripts/.
#   make demo   bootstrap, build, boot Debian 12's kernel in a VM, run the article's scenario
#   make test   every test: host, both stock kernels, and the debug kernel
#   make soak   the pipeline in a 6.12 VM for MINUTES (60) under faults; report in build/soak/
.PHONY: all demo test bootstrap module check swift c-tests vm-test test-debug debug-kernel bench \
	install uninstall install-udev docs lint fuzz coverage soak clean

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

# scripts/test builds what the VMs need itself, once.
vm-test: bootstrap
	@scripts/test --only-vm

debug-kernel: bootstrap
	@scripts/debug-kernel

test-debug: bootstrap
	@scripts/test --only-debug

bench: bootstrap
	@scripts/bench

# The pipeline (capture -> worker -> display) in a VM for MINUTES under faults on a seeded
# schedule; report in build/soak/, and with MINUTES >= 60 the committed docs/soak/.
MINUTES ?= 60
KERNEL ?= stock-6.12
soak: bootstrap
	@scripts/soak --minutes $(MINUTES) --kernel $(KERNEL) $(if $(SEED),--seed $(SEED))

# The CLI (release, static Swift runtime) to /usr/local/bin, the module through
# DKMS for every kernel with headers, the udev rule and the dmabuf group.
install:
	@scripts/install

uninstall:
	@scripts/uninstall

# Only the udev rule and the group (make install does this too).
install-udev:
	install -D -m 0644 udev/70-dmabuf-exporter.rules /etc/udev/rules.d/70-dmabuf-exporter.rules
	getent group dmabuf >/dev/null || groupadd --system dmabuf
	-udevadm control --reload-rules && udevadm trigger --subsystem-match=misc

# DocC for every library target, one combined archive; scripts/docs --strict (in make test)
# fails on warnings and on a public symbol missing from its module's Topics.
docs:
	@scripts/docs

lint:
	@scripts/lint

# Line coverage of the module and the Swift libraries from the last make test, with HTML
# reports under build/coverage/ (genhtml, llvm-cov show).
coverage:
	@scripts/coverage --html

# libFuzzer on the fdinfo and size parsers; FUZZ_ARGS go to libFuzzer.
fuzz:
	@scripts/fuzz $(FUZZ_ARGS)

clean:
	rm -rf build .build .build-release
