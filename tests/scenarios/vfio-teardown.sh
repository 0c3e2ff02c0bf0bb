# Queue teardown while faults flow: the edu device is given to vfio-pci and
# /progs/vfio_fault (tests/progs/vfio_fault.c) runs one step per run, each
# with a second thread making the device fault all along:
#   close-flowing   the queue closed mid-flow, a while with none, a new one
#   detach-flowing  the device detached from its IOAS and attached again
#   unbind-flowing  the device fd closed (unbind) with the queue open
# The iommu:dev_fault tracepoint gives the IOMMU core's result for every
# fault record an IOMMU driver reported (0: queued for the queue's handler,
# -ENOENT: no handler, so the driver logs it, -ENOSPC: refused), counted
# per step for the device.  Per step:
#   BED: vfio_exit <step> <status>
#   BED: vfio_step_records <step> <before> <after>   the IOMMU drivers'
#        'records' counters ('none' without counters)
#   BED: log_lines <step> <before> <after>           lines of dmesg
#   BED: core_result <step> <result> <count>         dev_fault events of
#        the device, by result
#   BED: trace_overrun <step> <events lost per cpu...>
# Parameters (bed.<key>=): dev, fault_unit, depth, phase_ms, length.
. /scenarios/lib.sh

vfio_take "${bed_dev:-}" || return 1

T=/sys/kernel/tracing
mount -t tracefs tracefs "$T" 2>/dev/null
EV=$T/events/iommu/dev_fault
if [ -d "$EV" ]; then
	echo 8192 > "$T/buffer_size_kb" &&
	echo 1 > "$EV/enable" || result trace_missing "cannot set up $EV"
else
	result trace_missing "no $EV"
fi

run_step() {
	_step=$1
	shift
	[ -w "$T/trace" ] && : > "$T/trace"
	_lines=$(dmesg | wc -l)
	_before=$(fault_records)
	/progs/vfio_fault -u "${bed_fault_unit:-0}" "$BDF" "$_step" "$@"
	result vfio_exit "$_step" $?
	# faults the driver read after the program's end reach the log too
	sleep 1
	result vfio_step_records "$_step" "$_before" "$(fault_records)"
	result log_lines "$_step" "$_lines" "$(dmesg | wc -l)"
	if [ -r "$T/trace" ]; then
		grep " dev_fault: IOMMU:$BDF " "$T/trace" |
			sed 's/.*result=//' | sort | uniq -c |
			while read -r _n _r; do
				result core_result "$_step" "$_r" "$_n"
			done
		# shellcheck disable=SC2046 # one value per CPU
		result trace_overrun "$_step" $(cat "$T"/per_cpu/cpu*/stats |
			grep '^overrun' | cut -d' ' -f2)
	fi
}

for s in close-flowing detach-flowing unbind-flowing; do
	run_step "$s" "${bed_depth:-64}" "${bed_phase_ms:-1500}" \
		"${bed_length:-4}"
done
report_iommu_counters
true
