#!/bin/sh
# Xen device checks, run by /init with xenith.test=xen and by dom0.sh before it says done.
# Only on Xen (the kernel found a /hypervisor node: /sys/hypervisor/type is `xen`), where /init
# has loaded the Xen modules; elsewhere one `XENITH-XEN: skipped (not on Xen)` line.
# /bin/xen-check (tools/xen-check) prints `XENITH-XEN: <check> ok|FAIL ...` lines, then
# `XENITH-XEN: done passed=N failed=M`.
if [ "$(cat /sys/hypervisor/type 2>/dev/null)" != xen ]; then
    echo "XENITH-XEN: skipped (not on Xen)"
    exit 0
fi
echo "XENITH-XEN: kernel: $(dmesg | grep -m1 -o 'Xen [0-9.]* support found')," \
    "$(dmesg | grep -m1 -o 'Using [A-Za-z0-9-]* ABI')"
/bin/xen-check
rc=$?
if [ $rc -gt 1 ]; then
    echo "XENITH-XEN: xen-check FAIL exited with status $rc"
fi
# dom0's xenstored (started by /init), its clients, Debian's C clients.
sh /xenith/xenstore.sh
