# A fault storm: back-to-back faulting DMA writes with the fault handler
# registered.  The shape comes from the IOMMU mode (bed/modes.py) on the
# kernel command line: bed.storm_len bytes, bed.storm_count times, which
# the IOMMU records as bed.storm_faults faults.
. /scenarios/lib.sh
load_edu || return 1
edu_dma write 0xdead000 "$bed_storm_len" "$bed_storm_count" || return 1

# faults delivered to the handler plus records the driver counted as dropped
settled() {
	_d=0
	for f in /sys/class/iommu/*/*/fault_records_dropped; do
		[ -r "$f" ] && _d=$((_d + $(cat "$f")))
	done
	[ $(($(handler_count) + _d)) -ge "$bed_storm_faults" ]
}
wait_until 120 settled
result handler_faults "$(handler_count)"
result dma_count "$(cat "$EDU/dma_count")"
report_iommu_counters
