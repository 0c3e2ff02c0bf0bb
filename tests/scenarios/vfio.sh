# A VMM's view of a device's DMA faults: the edu device is given to
# vfio-pci (not edu_fault), and /progs/vfio_fault (tests/progs/vfio_fault.c)
# binds it to an iommufd through its VFIO cdev, creates its fault queue,
# makes it DMA to IOVAs that fault and reads the records, one step per run:
#   main      a good DMA, then a write and a read of never-mapped IOVAs and
#             a write to a read-only page; read() sizes
#   overflow  more faults than the queue holds, then more after draining
#   hup       the device unbound with records queued
#   close     fds closed with records queued; a queue created again
# The program prints its own 'BED:' lines (see its header).  Per step:
#   BED: vfio_exit <step> <status>
#   BED: vfio_step_records <step> <before> <after>   the IOMMU drivers'
#        'records' counters around the step ('none' without counters)
# Parameters (bed.<key>=): dev (PCI address; default: the first edu),
# fault_unit (modes.py), depth, ovf_depth, ovf_n, close_n.
. /scenarios/lib.sh

BDF=${bed_dev:-}
if [ -z "$BDF" ]; then
	for d in /sys/bus/pci/devices/*; do
		if [ "$(cat "$d/vendor")" = 0x1234 ] &&
		   [ "$(cat "$d/device")" = 0x11e8 ]; then
			BDF=$(basename "$d")
			break
		fi
	done
fi
SYS=/sys/bus/pci/devices/$BDF
if [ -z "$BDF" ] || [ ! -d "$SYS" ]; then
	result error "no edu device"
	return 1
fi
result vfio_dev "$BDF"

if [ ! -x /progs/vfio_fault ]; then
	result vfio_exit all missing
	return 1
fi

# Neither machine isolates MSIs (no VT-d interrupt remapping, no GICv3
# ITS), so iommufd refuses to bind a device unless told that this is fine,
# as a VMM's host would be
echo 1 > /sys/module/iommufd/parameters/allow_unsafe_interrupts || return 1

# give the device to vfio-pci
echo vfio-pci > "$SYS/driver_override" || return 1
echo "$BDF" > /sys/bus/pci/drivers_probe
has_vfio_dev() {
	for _d in "$SYS"/vfio-dev/vfio*; do
		[ -e "$_d" ] && return 0
	done
	return 1
}
wait_until 10 has_vfio_dev
drv=$(readlink "$SYS/driver")
result vfio_driver "${drv##*/}"
result vfio_cdev "$(ls "$SYS/vfio-dev/" 2>/dev/null)"

# fault_records: the IOMMU drivers' 'records' counters summed over their
# units (the debugfs files report_iommu_counters reads), or 'none'
fault_records() {
	_sum=none
	for _f in /sys/kernel/debug/iommu/intel/fault_counters \
		  /sys/kernel/debug/iommu/arm-smmu-v3/*/fault_counters; do
		[ -r "$_f" ] || continue
		while read -r _unit _rest; do
			# shellcheck disable=SC2086 # split into name/value pairs
			set -- $_rest
			while [ $# -ge 2 ]; do
				if [ "$1" = records ]; then
					_sum=$((${_sum#none} + $2))
				fi
				shift 2
			done
		done < "$_f"
	done
	echo "$_sum"
}

# run_step STEP ARGS...: one run of the program, with the driver's count
# of fault records before and after it
run_step() {
	_step=$1
	shift
	_before=$(fault_records)
	/progs/vfio_fault -u "${bed_fault_unit:-0}" "$BDF" "$_step" "$@"
	result vfio_exit "$_step" $?
	result vfio_step_records "$_step" "$_before" "$(fault_records)"
}

run_step main "${bed_depth:-64}"
run_step overflow "${bed_ovf_depth:-4}" "${bed_ovf_n:-10}"
run_step hup
run_step close "${bed_close_n:-3}"
report_iommu_counters
true
