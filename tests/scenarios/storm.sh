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
. /scenarios/lib.sh
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
load_edu || return 1
edu_dma write 0xdead000 "$bed_storm_len" "$bed_storm_count" || return 1

# records the IOMMU core refused
refused() {
	if [ -r "$EV/enable" ]; then
		grep -c ' dev_fault: ' "$T/trace"
	else
		echo 0
	fi
}
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
result core_refused "$(refused)"
[ -r "$EV/enable" ] && result core_refused_codes \
	$(grep ' dev_fault: ' "$T/trace" | sed 's/.*result=//' | sort -u)
[ -r "$T/per_cpu/cpu0/stats" ] && result trace_overrun \
	$(cat "$T"/per_cpu/cpu*/stats | grep '^overrun' | cut -d' ' -f2)
result dma_count "$(cat "$EDU/dma_count")"
report_iommu_counters
