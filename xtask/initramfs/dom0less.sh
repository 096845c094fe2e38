# dom0's side of the dom0less test (xenith.test=dom0less): dom0 stays up beside a dom0less
# domU while the xtask switches the serial input to the domU (CTRL-a x3), runs a command there,
# switches back (Xenith, then dom0) and types a line here.
echo "XENITH-DOM0: dom0less waiting for a line"
if read -r -t 600 line; then
    echo "XENITH-DOM0: dom0less got '$line'"
else
    echo "XENITH-DOM0: dom0less FAIL nothing typed arrived within 600 s"
fi
echo "XENITH-DOM0: done"
