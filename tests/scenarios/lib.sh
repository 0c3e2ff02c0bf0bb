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

# core_trace_refused: trace the records the IOMMU core did not give to a
# handler (iommu:dev_fault with a result other than 0); sets T and EV.
# 'refused' counts them and 'report_refused' reports their results.
core_trace_refused() {
	T=/sys/kernel/tracing
	mount -t tracefs tracefs "$T" 2>/dev/null
	EV=$T/events/iommu/dev_fault
	if [ -d "$EV" ]; then
		echo 4096 > "$T/buffer_size_kb" &&
		echo 'result != 0' > "$EV/filter" &&
		echo 1 > "$EV/enable" || result trace_missing "cannot set up $EV"
	else
		result trace_missing "no $EV"
	fi
}

refused() {
	if [ -r "$EV/enable" ]; then
		grep -c ' dev_fault: ' "$T/trace"
	else
		echo 0
	fi
}

# core_refused_codes: one line "<result> <count>" per result
report_refused() {
	result core_refused "$(refused)"
	[ -r "$EV/enable" ] && result core_refused_codes \
		$(grep ' dev_fault: ' "$T/trace" | sed 's/.*result=//' | sort -u)
	[ -r "$EV/enable" ] &&
		grep ' dev_fault: ' "$T/trace" | sed 's/.*result=//' | sort |
		uniq -c | while read -r _n _code; do
			result core_refused_count "$_code" "$_n"
		done
	[ -r "$T/per_cpu/cpu0/stats" ] && result trace_overrun \
		$(cat "$T"/per_cpu/cpu*/stats | grep '^overrun' | cut -d' ' -f2)
}

# sym_range NAME: "START END" of function NAME's text, in hex: from its
# address to the next symbol's; nothing if it is not in kallsyms
sym_range() {
	_start=$(grep " [Tt] $1\$" /proc/kallsyms | cut -d' ' -f1 | head -n1)
	[ -n "$_start" ] || return 0
	_end=$(cut -d' ' -f1 /proc/kallsyms | sort -u |
	       grep -A1 "^$_start\$" | tail -n1)
	[ "$_end" != "$_start" ] && echo "$_start $_end"
}

# failslab_fault_path PERCENT: fail PERCENT % of the slab allocations made
# with iommu_report_device_fault() on the stack (fault-injection's stack
# filter), and no other.  kmemleak's own allocations for them
# (its __alloc_object() on the stack) are left alone: kmemleak survives their
# failure, so they would be failures nobody can count.  failslab_report
# reports how many it failed: 'times' counts down from FAILSLAB_TIMES.
FAILSLAB_TIMES=1000000
failslab_fault_path() {
	_f=/sys/kernel/debug/failslab
	if [ ! -w "$_f/require-start" ]; then
		result failslab_missing "$_f/require-start"
		return 1
	fi
	# shellcheck disable=SC2046 # two words
	set -- "$1" $(sym_range iommu_report_device_fault) \
		$(sym_range __alloc_object)
	if [ $# -lt 3 ]; then
		result failslab_missing "iommu_report_device_fault in kallsyms"
		return 1
	fi
	result failslab_range "0x$2" "0x$3"
	echo "0x$2" > "$_f/require-start" &&
	echo "0x$3" > "$_f/require-end" || return 1
	if [ $# -ge 5 ]; then
		result failslab_reject "0x$4" "0x$5"
		echo "0x$4" > "$_f/reject-start" &&
		echo "0x$5" > "$_f/reject-end" || return 1
	fi
	echo N > "$_f/ignore-gfp-wait" &&
	echo 0 > "$_f/verbose" &&
	echo 1 > "$_f/interval" &&
	echo "$FAILSLAB_TIMES" > "$_f/times" &&
	echo "$1" > "$_f/probability"
}

failslab_report() {
	_f=/sys/kernel/debug/failslab
	echo 0 > "$_f/probability"
	result failslab_injected $((FAILSLAB_TIMES - $(cat "$_f/times")))
}
