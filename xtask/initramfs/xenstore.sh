#!/bin/sh
# xenstore checks, run by xen.sh on Xen once /init has started /bin/xenstored. Every line is
# `XENITH-XS: <check> ok|FAIL ...`; the last is `XENITH-XS: done passed=N failed=M`, printed
# by /bin/xenstore-check (tools/xenstored/src/check.rs) after the checks of Debian's own C
# clients (xenstore-utils, libxenstore4, glibc from Debian arm64) below.
P="XENITH-XS:"
if [ ! -S /run/xenstored/socket ]; then
    echo "$P xenstored FAIL not running; its log:"
    cat /run/xenstored.log
    echo "$P done passed=0 failed=1"
    exit 0
fi

# Debian's clients over the socket (/var/run/xenstored/socket, libxenstore's default).
ok() { echo "$P $1 ok $2"; }
fail() { echo "$P $1 FAIL $2"; }
if out=$(xenstore-write /xenith/c/a hello /xenith/c/b "two words" 2>&1); then
    ok debian-xenstore-write "2 nodes"
else
    fail debian-xenstore-write "$out"
fi
v=$(xenstore-read /xenith/c/a 2>&1)
[ "$v" = hello ] && ok debian-xenstore-read "a=$v" || fail debian-xenstore-read "got '$v'"
ls=$(xenstore-ls /xenith/c 2>&1)
if echo "$ls" | grep -q '^a = "hello"' && echo "$ls" | grep -q '^b = "two words"'; then
    ok debian-xenstore-ls "$(echo "$ls" | tr '\n' ' ')"
else
    fail debian-xenstore-ls "got '$ls'"
fi
n=$(xenstore-ls /local/domain/0 2>&1 | grep -c .)
[ "$n" -ge 2 ] && ok debian-xenstore-ls-dom0 "$n lines" || fail debian-xenstore-ls-dom0 "$n lines"
xenstore-rm /xenith/c/a
if xenstore-exists /xenith/c/a 2>/dev/null; then
    fail debian-xenstore-rm "a still exists"
else
    ok debian-xenstore-rm "a gone, exists says no"
fi
# XENSTORED_PATH names the xenbus device: the socket connect fails, libxenstore falls back
# to it, i.e. through dom0's kernel ring.
v=$(XENSTORED_PATH=/dev/xen/xenbus xenstore-read /local/domain/0/name 2>&1)
[ "$v" = Domain-0 ] && ok debian-xenstore-xenbus "name=$v via /dev/xen/xenbus" \
    || fail debian-xenstore-xenbus "got '$v'"

# xenconsoled (started by /init after xenstored) is up and watching xenstore.
if pidof xenconsoled >/dev/null && grep -q "watching xenstore" /run/xenconsoled.log; then
    ok xenconsoled "pid=$(pidof xenconsoled) watching @introduceDomain, @releaseDomain, /local/domain"
else
    fail xenconsoled "not running: $(cat /run/xenconsoled.log 2>/dev/null | tail -n 3)"
fi

/bin/xenstore-check 400 | tee /tmp/xs-check.out
# The same throughput with client and daemon pinned to one vCPU (no cross-vCPU wake-ups).
pid=$(pidof xenstored)
if taskset -p 1 "$pid" >/dev/null 2>&1; then
    taskset 1 /bin/xenstore-check 1000 bench | tee -a /tmp/xs-check.out
    taskset -p ff "$pid" >/dev/null 2>&1
fi
cpu=$(cut -d' ' -f14,15 "/proc/$pid/stat")
echo "$P info xenstored utime+stime ticks: $cpu, uptime $(cut -d' ' -f1 /proc/uptime) s"
if grep -q -E "FAIL|stalled" /tmp/xs-check.out; then
    echo "$P info xenstored log:"
    tail -n 20 /run/xenstored.log
    echo "$P info Xen interrupts:"
    grep -i -E "xen|evtchn" /proc/interrupts
fi
if ! kill -0 "$pid" 2>/dev/null; then
    echo "$P xenstored-alive FAIL the daemon died"
fi
