#!/bin/sh
# dom0 checks, run by /init with xenith.test=dom0. Each check prints one line
# `XENITH-DOM0: <check> ok|FAIL ...`; the xtask fails the case on a FAIL or a missing line.

# -- console input: the xtask types a 175-character line, longer than any UART FIFO -----------
want="XC$(seq 1 60 | tr '\n' x)CD"
echo "XENITH-DOM0: console waiting for a line"
if read -r -t 30 line; then
    if [ "$line" = "$want" ]; then
        echo "XENITH-DOM0: console ok ${#line} characters"
    else
        echo "XENITH-DOM0: console FAIL got '$line'"
    fi
else
    echo "XENITH-DOM0: console FAIL nothing typed arrived within 30 s"
fi

# -- vCPUs ---------------------------------------------------------------------------------
n=$(nproc)
echo "XENITH-DOM0: nproc=$n"
if [ -z "$XENITH_NPROC" ] || [ "$n" = "$XENITH_NPROC" ]; then
    echo "XENITH-DOM0: nproc ok"
else
    echo "XENITH-DOM0: nproc FAIL got $n want $XENITH_NPROC"
fi

# -- timer: uptime advances across a sleep (needs timer interrupts to wake up) ----------------
u1=$(cut -d' ' -f1 /proc/uptime | tr -d .)
sleep 1
u2=$(cut -d' ' -f1 /proc/uptime | tr -d .)
d=$((u2 - u1))
if [ "$d" -ge 90 ] && [ "$d" -le 3000 ]; then
    echo "XENITH-DOM0: timer ok slept=${d}0ms"
else
    echo "XENITH-DOM0: timer FAIL uptime $u1 -> $u2 (centiseconds) across sleep 1"
fi

# -- disk: virtio-blk /dev/vda holds the xtask's header + pattern -----------------------------
i=0
while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if [ -b /dev/vda ]; then
    hdr=$(head -c 4096 /dev/vda | head -n 1)
    want=${hdr##*md5=}
    got=$(dd if=/dev/vda bs=4096 skip=1 2>/dev/null | md5sum | cut -d' ' -f1)
    case "$hdr" in
        XENITH-DISK*)
            if [ "$got" = "$want" ]; then
                echo "XENITH-DOM0: disk ok md5=$got"
            else
                echo "XENITH-DOM0: disk FAIL md5 $got want $want"
            fi ;;
        *) echo "XENITH-DOM0: disk FAIL bad header: $hdr" ;;
    esac
else
    echo "XENITH-DOM0: disk FAIL no /dev/vda"
fi

# -- network: virtio-net eth0 comes up, DHCP from QEMU's user network -------------------------
if [ -e /sys/class/net/eth0 ]; then
    ip link set eth0 up
    i=0
    while [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" != 1 ] && [ $i -lt 50 ]; do
        sleep 0.1; i=$((i + 1))
    done
    state=$(cat /sys/class/net/eth0/operstate)
    if [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" = 1 ]; then
        echo "XENITH-DOM0: net ok eth0 operstate=$state"
    else
        echo "XENITH-DOM0: net FAIL eth0 no carrier (operstate=$state)"
    fi
    lease=$(udhcpc -i eth0 -n -q -t 5 -T 2 -s /bin/true 2>&1 | grep -o 'lease of [0-9.]*' | cut -d' ' -f3)
    if [ -n "$lease" ]; then
        echo "XENITH-DOM0: dhcp ok lease=$lease"
    else
        echo "XENITH-DOM0: dhcp FAIL no lease on eth0"
    fi
else
    echo "XENITH-DOM0: net FAIL no eth0"
fi

# -- the Xen device interface (/proc/xen, /dev/xen/*, privcmd, evtchn): on Xen only -----------
sh /xenith/xen.sh

echo "XENITH-DOM0: done"
