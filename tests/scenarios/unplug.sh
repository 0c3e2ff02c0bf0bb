# Removal while faults flow.  The edu driver's background DMA thread
# (dma_bg) makes the device fault without a pause, and once the handler has
# received bed.unplug_flow faults the device is taken away from it, three
# ways, each followed by faults from the device as it comes back:
#   unplug   /sys/bus/pci/devices/<bdf>/remove, then a bus rescan
#   rmmod    the edu_fault module removed, then loaded again
#   unbind   the driver unbound through sysfs, then bound again
# On unbind the edu driver unregisters its handler while the DMA goes on,
# then stops the DMA, and logs how many faults the handler had received;
# a handler call after unregistration returned warns (or, once the driver
# data is freed, is a KASAN report).  After each return the device does
# bed.unplug_after faulting DMAs of bed.unplug_len bytes, which must all
# reach the new handler (bed.unplug_after_faults records).
#
# Results:
#   BED: phase <name> <rc of the removal>
#   BED: phase_flowed <name> <faults the handler had when removal began>
#   BED: phase_after <name> <faults the new handler received>
#   BED: handler_final <faults of the handler bound at the end>
#   the core's refused records (lib.sh report_refused) and the IOMMU
#   driver's counters; the handlers' totals are in the log.
. /scenarios/lib.sh
core_trace_refused
load_edu || return 1
BDF=$(basename "$EDU")
LEN=${bed_unplug_len:-4}

# flow: start the background DMA and wait until the handler has had some
flow() {
	_base=$(handler_count)
	echo "write 0xdead000 $LEN" > "$EDU/dma_bg" || return 1
	wait_until 60 at_least $((_base + ${bed_unplug_flow:-20})) handler_count
}

edu_bound() {
	[ -e "/sys/bus/pci/drivers/edu_fault/$BDF" ]
}

# back NAME: edu_fault is bound again; its handler gets every fault
back() {
	wait_until 20 edu_bound || return 1
	EDU=/sys/bus/pci/drivers/edu_fault/$BDF
	edu_dma write 0xdeb0000 "$LEN" "${bed_unplug_after:-3}" || return 1
	wait_until 30 at_least "${bed_unplug_after_faults:-3}" handler_count
	result phase_after "$1" "$(handler_count)"
}

# phase NAME COMMAND...: faults flowing, COMMAND takes the device away
phase() {
	_name=$1
	shift
	flow || return 1
	result phase_flowed "$_name" "$(handler_count)"
	"$@"
	result phase "$_name" $?
}

remove_dev() {
	echo 1 > "/sys/bus/pci/devices/$BDF/remove" &&
		[ ! -e "/sys/bus/pci/devices/$BDF" ]
}

phase unplug remove_dev || return 1
echo 1 > /sys/bus/pci/rescan
back unplug || return 1

phase rmmod rmmod edu_fault || return 1
insmod /lib/edu_fault.ko || return 1
back rmmod || return 1

phase unbind sh -c "echo $BDF > /sys/bus/pci/drivers/edu_fault/unbind" ||
	return 1
echo "$BDF" > /sys/bus/pci/drivers/edu_fault/bind
back unbind || return 1

result handler_final "$(handler_count)"
report_refused
report_iommu_counters
