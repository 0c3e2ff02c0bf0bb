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

# The IOMMU drivers' fault counters, if they have any: VT-d's debugfs file
# has one line per unit, "<unit> records N dropped N unknown N overflows N
# prq_unknown N"
report_iommu_counters() {
	f=/sys/kernel/debug/iommu/intel/fault_counters
	[ -r "$f" ] || return 0
	while read -r unit _ records _ dropped _ unknown _ overflows _ prq; do
		result iommu_counter fault_records "$records" "$unit"
		result iommu_counter fault_records_dropped "$dropped" "$unit"
		result iommu_counter fault_records_unknown "$unknown" "$unit"
		result iommu_counter fault_overflows "$overflows" "$unit"
		result iommu_counter prq_unknown "${prq:-missing}" "$unit"
	done < "$f"
}
