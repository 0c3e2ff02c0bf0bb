# Helpers for scenarios; sourced by the scenario.
load_edu() {
	insmod /lib/edu_fault.ko || return 1
	EDU=$(ls -d /sys/bus/pci/drivers/edu_fault/0000:* 2>/dev/null | head -n1)
	[ -n "$EDU" ] || { echo "edu_fault did not bind"; return 1; }
	result edu_dev "$(basename "$EDU")"
	result handler "$(cat "$EDU/fault_handler" 2>/dev/null || echo unsupported)"
}

# edu_dma read|write IOVA LEN [REPEAT]
edu_dma() {
	echo "$*" > "$EDU/dma" || return 1
	result dma "$@"
}

# handler_count: how many faults the edu driver's handler has received
handler_count() {
	head -n1 "$EDU/faults" 2>/dev/null || echo 0
}

# wait_until SECONDS COMMAND...: poll COMMAND every 0.1 s until it succeeds
# or SECONDS of guest time have passed.  Faults reach handlers and the log
# asynchronously (a work item, an IRQ thread), so a scenario waits for what
# it expects instead of sleeping a fixed time.
wait_until() {
	_n=$(($1 * 10))
	shift
	while ! "$@"; do
		_n=$((_n - 1))
		[ "$_n" -gt 0 ] || { result timeout "$*"; return 1; }
		sleep 0.1
	done
}

# at_least N COMMAND...: the number COMMAND prints is N or more
at_least() {
	_want=$1
	shift
	[ "$("$@")" -ge "$_want" ] 2>/dev/null
}

# log_has TEXT: the kernel log contains TEXT
log_has() {
	dmesg | grep -q -- "$1"
}

# What the edu driver's fault handler received: a count, then one line each
report_handler_faults() {
	[ -r "$EDU/faults" ] || return 0
	{
		read -r n
		result handler_faults "$n"
		while read -r line; do
			result handler_fault $line
		done
	} < "$EDU/faults"
}

# iommu_counters: the IOMMU drivers' fault counters, if they have any, one
# "<name> <value> <unit>" line each, from debugfs files with one line per
# unit: "<unit> name N name N ...".  VT-d has one file for all its units,
# SMMUv3 one per SMMU.  A name without a value gets the value "missing".
iommu_counters() {
	for f in /sys/kernel/debug/iommu/intel/fault_counters \
		 /sys/kernel/debug/iommu/arm-smmu-v3/*/fault_counters; do
		[ -r "$f" ] || continue
		while read -r unit rest; do
			# shellcheck disable=SC2086 # split into name/value pairs
			set -- $rest
			while [ $# -ge 2 ]; do
				echo "$1 $2 $unit"
				shift 2
			done
			[ $# -eq 0 ] || echo "$1 missing $unit"
		done < "$f"
	done
}

report_iommu_counters() {
	iommu_counters | while read -r name value unit; do
		result iommu_counter "$name" "$value" "$unit"
	done
}

# vfio_take [BDF]: give the edu device at BDF (default: the first edu on
# the machine) to vfio-pci, as a VMM's host would; sets BDF and SYS.
# Neither machine isolates MSIs (no VT-d interrupt remapping, no GICv3
# ITS), so iommufd refuses to bind a device unless told that this is fine.
vfio_take() {
	BDF=$1
	if [ -z "$BDF" ]; then
		for _d in /sys/bus/pci/devices/*; do
			if [ "$(cat "$_d/vendor")" = 0x1234 ] &&
			   [ "$(cat "$_d/device")" = 0x11e8 ]; then
				BDF=$(basename "$_d")
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
	echo 1 > /sys/module/iommufd/parameters/allow_unsafe_interrupts ||
		return 1
	echo vfio-pci > "$SYS/driver_override" || return 1
	echo "$BDF" > /sys/bus/pci/drivers_probe
	wait_until 10 vfio_has_cdev
	_drv=$(readlink "$SYS/driver")
	result vfio_driver "${_drv##*/}"
	result vfio_cdev "$(ls "$SYS/vfio-dev/" 2>/dev/null)"
}

vfio_has_cdev() {
	for _d in "$SYS"/vfio-dev/vfio*; do
		[ -e "$_d" ] && return 0
	done
	return 1
}

# fault_records: the IOMMU drivers' 'records' counters summed over their
# units, or 'none'
fault_records() {
	iommu_counters | {
		_sum=none
		while read -r _name _value _unit; do
			[ "$_name" = records ] && _sum=$((${_sum#none} + _value))
		done
		echo "$_sum"
	}
}
