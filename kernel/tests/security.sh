#!/bin/sh
# Runs inside a test VM as root (scripts/vm-run): the device is 0600, an
# unprivileged user is refused, and the shipped udev rule lets members of the
# dmabuf group in. Uses the dmabuf CLI so the user-facing message is checked.
set -eu
dev=/dev/dmabuf_exporter
cli=${DMABUF_CLI:-.build/debug/dmabuf}
fail() { echo "security: FAIL: $*" >&2; exit 1; }

[ "$(stat -c %a $dev)" = 600 ] || fail "$dev is mode $(stat -c %a $dev), want 600"
[ "$(stat -c %U:%G $dev)" = root:root ] || fail "$dev is owned by $(stat -c %U:%G $dev)"

# The guest's /etc is a throwaway overlay. The test user needs no passwd
# entry: an unused uid is as unprivileged as any.
getent group dmabuf >/dev/null || groupadd --system dmabuf
gid=$(getent group dmabuf | cut -d: -f3)
uid=4242
supplementary=65534
as_user() { setpriv --reuid=$uid --regid=$uid --groups=$supplementary "$@"; }

# Refused without the group, with a message that says it is a permission problem.
if out=$(as_user "$cli" alloc --size 4KiB 2>&1); then
	fail "an unprivileged user could allocate: $out"
fi
echo "$out" | grep -qi "permission" || fail "refusal does not say it is a permission problem: $out"
echo "security: unprivileged user refused: $out"

# The shipped rule, applied by udev, opens the device to the dmabuf group.
cp udev/70-dmabuf-exporter.rules /etc/udev/rules.d/
udevadm control --reload-rules
udevadm trigger --subsystem-match=misc --sysname-match=dmabuf_exporter --settle
[ "$(stat -c %a:%G $dev)" = 660:dmabuf ] || fail "udev rule not applied: $(stat -c %a:%G $dev)"
if as_user "$cli" alloc --size 4KiB >/dev/null 2>&1; then
	fail "a user outside the dmabuf group could allocate after the rule"
fi
supplementary=$gid
out=$(as_user "$cli" alloc --size 4KiB) || fail "a dmabuf group member was refused: $out"
echo "security: dmabuf group member allowed: $out"
