# A fault storm: back-to-back faulting DMA writes with the fault handler
# registered.  The shape comes from the IOMMU mode (bed/modes.py) on the
# kernel command line: bed.storm_len bytes, bed.storm_count times, which
# the IOMMU records as bed.storm_faults faults.
#
# A record reaches the handler, or is dropped by the IOMMU driver (its
# fault_records_dropped counter, if it has one), or is refused by the IOMMU
# core, which bounds the records waiting for a handler: the iommu:dev_fault
# tracepoint gives the core's result for every record, and only the
# refused ones (result != 0) are traced here.
#
# With bed.failslab=PERCENT, that share of the IOMMU core's allocations
# for the records fail (lib.sh failslab_fault_path): each is a record the
# core refuses with -ENOMEM.
. /scenarios/lib.sh
core_trace_refused
load_edu || return 1
if [ -n "${bed_failslab:-}" ]; then
	failslab_fault_path "$bed_failslab" || return 1
fi
edu_dma write 0xdead000 "$bed_storm_len" "$bed_storm_count" || return 1

# records the IOMMU driver dropped
driver_dropped() {
	_d=0
	for f in /sys/class/iommu/*/*/fault_records_dropped; do
		[ -r "$f" ] && _d=$((_d + $(cat "$f")))
	done
	echo "$_d"
}
settled() {
	[ $(($(handler_count) + $(driver_dropped) + $(refused))) -ge \
		"$bed_storm_faults" ]
}
wait_until 120 settled
result handler_faults "$(handler_count)"
report_refused
if [ -n "${bed_failslab:-}" ]; then
	failslab_report
	report_handler_faults
fi
result dma_count "$(cat "$EDU/dma_count")"
report_iommu_counters
