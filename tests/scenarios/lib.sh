# Helpers for scenarios; sourced by /init before the scenario.
load_edu() {
	insmod /lib/edu_fault.ko || return 1
	EDU=$(ls -d /sys/bus/pci/drivers/edu_fault/0000:* 2>/dev/null | head -n1)
	[ -n "$EDU" ] || { echo "edu_fault did not bind"; return 1; }
	result edu_dev "$(basename "$EDU")"
}

# edu_dma read|write IOVA LEN
edu_dma() {
	echo "$1 $2 $3" > "$EDU/dma" || return 1
	result dma "$1" "$2" "$3"
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

# The IOMMU drivers' fault counters in sysfs, if they have any
report_iommu_counters() {
	for f in /sys/class/iommu/*/*/fault_records*; do
		[ -r "$f" ] || continue
		result iommu_counter "$(basename "$f")" "$(cat "$f")"
	done
}
