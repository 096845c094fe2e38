#!/bin/sh
# Domain benchmark, run by /init with xenith.test=bench (`cargo xtask bench --domains`), the
# same on Xenith and on Xen 4.17: xenstored throughput, then one Debian domU created with
# `xl create` and reached with `xl console`, the hypervisor's memory for it, and create-to-destroy
# cycles. Lines:
#   XENITH-BENCH: mark <name> <dom0 uptime>   the xtask takes the host time of the line too
#   XENITH-XS: bench-*-pinned ok ...           xenstore-check's throughput
#   XENITH-BENCH: memory free_before=P free_after=P domu_pages=P pool_pages=P heap_before=B
#                 heap_after=B     (P in pages, B in bytes; pool: Xen's stage-2 pool, in the rest)
#   XENITH-BENCH: done
# No checks here (xl.sh has them): a failed step prints `XENITH-BENCH: FAIL <why>`.
P="XENITH-BENCH:"
up() { cut -d' ' -f1 /proc/uptime; }
mark() { echo "$P mark $1 $(up)"; }
fail() { echo "$P FAIL $*"; }
gone() { ! xl list | grep -q "^$1 "; }
# A tight poll: under -icount a sleep is idle time, which virtual time skips over in one step.
wait_gone() { w=0; while ! gone "$1" && [ $w -lt 600 ]; do sleep 0.05; w=$((w + 1)); done; gone "$1"; }
free_pages() { xl pages | sed -n 's/^free_pages //p'; }
dom_pages() { xl pages "$1" | sed -n 's/^domain .* tot_pages \([0-9]*\) .*/\1/p'; }
pool_pages() { xl pages "$1" | sed -n 's/.* paging_mempool_pages \([0-9]*\).*/\1/p'; }
# Xenith's heap (its own objects, outside the frame allocator) from debug key 'm' (xl
# debug-keys, then the console ring); empty on Xen, whose allocations are all pages.
heap_bytes() {
    xl debug-keys m 2>/dev/null
    xl dmesg 2>/dev/null | sed -n 's/.*heap in use: .*(\([0-9]*\) bytes).*/\1/p' | tail -n 1
}

if [ "$(cat /sys/hypervisor/type 2>/dev/null)" != xen ]; then
    echo "$P skipped (not on Xen)"; echo "$P done"; exit 0
fi
mkdir -p /var/log/xen /run/xenstored /var/run
for d in xenstored xenconsoled; do
    if ! pidof "$d" >/dev/null; then
        [ -x "/bin/$d" ] || { fail "/bin/$d is not in the initramfs"; echo "$P done"; exit 0; }
        "/bin/$d" &
    fi
done
sleep 1
xv() { xl info | sed -n "s/^xen_$1 *: //p"; }
echo "$P hypervisor $(xv major).$(xv minor)$(xv extra)"

# Under Xenith: its guest exits on pCPU 0 by kind (debug key 'e'), to see where time goes.
exits() {
    if xl info | grep -q '^xen_extra.*xenith'; then
        xl debug-keys e
        echo "$P info $1 $(xl dmesg | grep 'pCPU 0: ' | tail -n 1 | sed 's/.*pCPU 0: //')"
    fi
}

# -- xenstored: requests per second, client and daemon on vCPU 0 ------------------------------
pid=$(pidof xenstored)
taskset -p 1 "$pid" >/dev/null 2>&1
exits "exits-before-xenstore"
taskset 1 /bin/xenstore-check 2000 bench
exits "exits-after-xenstore"
taskset -p ff "$pid" >/dev/null 2>&1

# -- one domU: create, boot to its shell, memory -------------------------------------------------
heap0=$(heap_bytes)
free0=$(free_pages)
exits "exits-before-create"
mark create-start
xl create /etc/xen/guest.cfg || fail "xl create"
mark create-end
# The console through FIFOs, so that its output is read as it comes (no polling): the shell's
# banner line, then the answer to a command typed there.
rm -f /tmp/cin /tmp/cout
mkfifo /tmp/cin /tmp/cout
exec 3<>/tmp/cin 4<>/tmp/cout
xl console guest <&3 >&4 2>&1 &
cpid=$!
if grep -m1 -q "Enter 'help'" <&4; then mark shell; else fail "no shell banner"; fi
echo 'echo DOMU-UP-$((6*7))' >&3
if grep -m1 -q 'DOMU-UP-42' <&4; then mark reply; else fail "no answer from the domU shell"; fi
exits "exits-at-shell"
kill "$cpid" 2>/dev/null
wait "$cpid" 2>/dev/null
exec 3>&- 4>&-
free1=$(free_pages)
dom=$(dom_pages guest)
pool=$(pool_pages guest)
heap1=$(heap_bytes)
echo "$P memory free_before=$free0 free_after=$free1 domu_pages=$dom pool_pages=${pool:-0}" \
    "heap_before=${heap0:-0} heap_after=${heap1:-0}"
xl destroy guest
wait_gone guest || fail "guest not gone after xl destroy"
sleep 1
echo "$P memory-back free=$(free_pages) (before $free0)"

# -- create-to-destroy cycles: xl create, xl destroy, until xl list no longer has it ------------
for i in 1 2 3; do
    mark "cycle-start-$i"
    xl create /etc/xen/guest.cfg "name=\"c$i\"" >/dev/null 2>&1 || fail "xl create c$i"
    xl destroy "c$i" || fail "xl destroy c$i"
    wait_gone "c$i" || fail "c$i not gone"
    mark "cycle-end-$i"
done
sleep 1
# A leak would grow with each domain; dom0's own growth (its stage-2 for what it mapped) not.
echo "$P memory-end free=$(free_pages) after 4 domains (before $free0)"
echo "$P done"
