# The context device fault handlers run in, with two edu devices, A and B,
# each behind a PCIe root port of its own (so that a bus reset resets only
# it):
# 1. A's handler is held in its call (edu-fault's handler_hold); a fault
#    of B is delivered to B's handler while A's call is still held.  No
#    timing threshold: A is released only after B's fault arrived.
# 2. A's handler resets A; A's next fault is delivered all the same.
. /scenarios/lib.sh
insmod /lib/edu_fault.ko || return 1
# the edu devices behind root ports: those not on bus 00
set --
for d in /sys/bus/pci/drivers/edu_fault/0000:*; do
	case "$(basename "$d")" in
	0000:00:*) ;;
	*) set -- "$@" "$d" ;;
	esac
done
if [ $# -lt 2 ]; then
	result error "two edu devices behind root ports expected, found $#"
	return 1
fi
A=$1
B=$2
result dev_a "$(basename "$A")"
result dev_b "$(basename "$B")"
if [ ! -w "$A/handler_hold" ]; then
	result error "edu_fault has no handler knobs (no fault API?)"
	return 1
fi

# faults DIR: how many faults the handler of that device received
faults() {
	head -n1 "$1/faults"
}
# reads FILE VALUE: the first word of FILE is VALUE
reads() {
	[ "$(cut -d' ' -f1 "$1")" = "$2" ]
}

# 1. a handler held on A does not hold up B
echo 1 > "$A/handler_hold"
edu_dma_to() {
	echo "$2 $3 4" > "$1/dma" && result dma "$(basename "$1")" "$2" "$3"
}
edu_dma_to "$A" write 0xdead000 || return 1
wait_until 20 reads "$A/in_handler" 1 || return 1
edu_dma_to "$B" write 0xdead000 || return 1
wait_until 20 at_least 1 faults "$B"
# read together: B was delivered, and A's call had not returned yet
result b_faults "$(faults "$B")"
result a_in_handler "$(cat "$A/in_handler")"
echo 0 > "$A/handler_hold"
wait_until 20 reads "$A/in_handler" 0 || return 1
result a_faults "$(faults "$A")"

# 2. a handler that resets its device
echo clear > "$A/faults"
echo 1 > "$A/reset_on_fault"
edu_dma_to "$A" write 0xdeae000 || return 1
wait_until 20 at_least 1 cut -d' ' -f1 "$A/resets" || return 1
wait_until 20 reads "$A/in_handler" 0 || return 1
result resets $(cat "$A/resets")
echo 0 > "$A/reset_on_fault"
edu_dma_to "$A" write 0xdeaf000 || return 1
wait_until 20 at_least 2 faults "$A"
result a_faults_after_reset "$(faults "$A")"
