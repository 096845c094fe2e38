#!/bin/sh
# xl checks, run by /init with xenith.test=xl: a Debian domU built by `xl create`, its shell
# reached with `xl console`, shut down, destroyed, crashed. One line per check:
# `XENITH-XL: <check> ok|FAIL ...`, figures on `XENITH-XL: figures ...`, then `XENITH-XL: done`.
P="XENITH-XL:"
up() { cut -d' ' -f1 /proc/uptime; }
# Seconds between two uptimes (centisecond resolution), as d.dd.
dt() { a=$(echo "$1" | tr -d .); b=$(echo "$2" | tr -d .); d=$((b - a)); printf '%d.%02d' $((d / 100)) $((d % 100)); }
free_mib() { xl info | sed -n 's/^free_memory *: //p'; }
gone() { ! xl list | grep -q "^$1 "; }
wait_gone() { i=0; while ! gone "$1" && [ $i -lt "$2" ]; do sleep 1; i=$((i + 1)); done; gone "$1"; }

if [ "$(cat /sys/hypervisor/type 2>/dev/null)" != xen ]; then
    echo "$P skipped (not on Xen)"; echo "$P done"; exit 0
fi
mkdir -p /var/log/xen /run/xenstored /var/run
for d in xenstored xenconsoled; do
    if pidof "$d" >/dev/null; then continue; fi
    if [ -x "/bin/$d" ]; then
        "/bin/$d" &
    else
        # Without the daemons every xenstore request would wait forever: stop here.
        echo "$P $d FAIL /bin/$d is not in the initramfs"; echo "$P done"; exit 0
    fi
done
sleep 1

# -- one domU: create, list, console, shutdown, memory back ----------------------------------
free0=$(free_mib)
u0=$(up)
if xl create /etc/xen/guest.cfg; then echo "$P create ok"; else echo "$P create FAIL"; fi
u1=$(up)
free1=$(free_mib)
xl list
if xl list | grep -q '^Domain-0 ' && xl list | grep -q '^guest '; then
    echo "$P list ok"
else
    echo "$P list FAIL"
fi
rm -f /tmp/con.log
(
    i=0
    while ! grep -q 'domU# ' /tmp/con.log 2>/dev/null && [ $i -lt 240 ]; do sleep 1; i=$((i + 1)); done
    up > /tmp/shell-at
    echo 'echo DOMU-SAYS-$((6*7)) on $(uname -m) nproc=$(nproc)'
    sleep 3
    printf '\035'
) | xl console guest > /tmp/con.log 2>&1
rc=$?
sed 's/^/  console| /' /tmp/con.log | tail -15
if grep -q 'DOMU-SAYS-42 on aarch64' /tmp/con.log; then echo "$P console ok"; else echo "$P console FAIL no reply from the domU shell"; fi
if [ $rc = 0 ] && ! gone guest; then echo "$P detach ok"; else echo "$P detach FAIL rc=$rc"; fi
boot=$(dt "$u0" "$(cat /tmp/shell-at 2>/dev/null || up)")
if xl shutdown -w guest && wait_gone guest 30; then echo "$P shutdown ok"; else echo "$P shutdown FAIL"; xl list; fi
sleep 1
free2=$(free_mib)
if [ "$free2" = "$free0" ]; then echo "$P memory ok free=$free0"; else echo "$P memory FAIL free $free0 -> $free2 MiB"; fi
over=$((free0 - free1 - 128))

# -- two domUs at once (one spinning), pause/unpause, reboot, dmesg, xl destroy -----------------
# g1 only burns its vCPU; g2 must still boot to its shell and answer, and dom0 (this script)
# goes on: a spinning domU stalls nobody.
c0=$(up)
xl create /etc/xen/guest.cfg 'name="g1"' 'extra="console=hvc0 xenith.spin"' \
    && xl create /etc/xen/guest.cfg 'name="g2"'
n=$(xl list | grep -c '^g[12] ')
xl list
rm -f /tmp/con2.log
(
    i=0
    while ! grep -q 'domU# ' /tmp/con2.log 2>/dev/null && [ $i -lt 240 ]; do sleep 1; i=$((i + 1)); done
    echo 'echo G2-SAYS-$((7*6))'
    sleep 3
    printf '\035'
) | xl console g2 > /tmp/con2.log 2>&1
if [ "$n" = 2 ] && grep -q 'G2-SAYS-42' /tmp/con2.log; then
    echo "$P two ok (g2 answered beside the spinning g1)"
else
    echo "$P two FAIL (listed $n)"; tail -5 /tmp/con2.log
fi
xl pause g2
if xl list | grep '^g2 ' | grep -q 'p'; then pst=ok; else pst=FAIL; fi
xl unpause g2
if [ $pst = ok ] && ! xl list | grep '^g2 ' | grep -q -- '--p'; then
    echo "$P pause ok"
else
    echo "$P pause FAIL"; xl list
fi
id1=$(xl domid g2)
xl reboot g2
i=0
while [ $i -lt 60 ]; do
    id2=$(xl domid g2 2>/dev/null)
    if [ -n "$id2" ] && [ "$id2" != "$id1" ]; then break; fi
    sleep 1; i=$((i + 1))
done
if [ -n "$id2" ] && [ "$id2" != "$id1" ]; then
    echo "$P reboot ok (g2 restarted: domain $id1 -> $id2)"
else
    echo "$P reboot FAIL (g2: $id1 -> ${id2:-gone})"; xl list
fi
# The hypervisor's console ring: Xenith's log names it; Xen's lines start `(XEN)` (its boot
# banner may have left its 16 KiB ring by now).
xl dmesg > /tmp/dmesg.txt 2>&1
if grep -q 'Xenith' /tmp/dmesg.txt || grep -q '^(XEN) ' /tmp/dmesg.txt; then
    echo "$P dmesg ok $(wc -c < /tmp/dmesg.txt) bytes"
else
    echo "$P dmesg FAIL $(head -c 200 /tmp/dmesg.txt)"
fi
xl destroy g1; xl destroy g2
c1=$(up)
if gone g1 && gone g2; then echo "$P destroy ok"; else echo "$P destroy FAIL"; xl list; fi
cycle=$(dt "$c0" "$c1")
sleep 1
free3=$(free_mib)
if [ "$free3" = "$free0" ]; then echo "$P memory2 ok"; else echo "$P memory2 FAIL free $free0 -> $free3 MiB"; fi

# -- a domU that panics: reported and reaped ---------------------------------------------------
xl create /etc/xen/crash.cfg
if wait_gone crashy 240 && grep -q 'has shut down, reason code' /var/log/xen/xl-crashy.log; then
    echo "$P crash ok $(grep 'has shut down' /var/log/xen/xl-crashy.log | head -1)"
else
    echo "$P crash FAIL"; xl list; cat /var/log/xen/xl-crashy.log
fi

echo "$P figures create=$(dt "$u0" "$u1")s boot_to_shell=${boot}s two_domus_cycle=${cycle}s overhead_mib=$over free_mib=$free0"
echo "$P done"
