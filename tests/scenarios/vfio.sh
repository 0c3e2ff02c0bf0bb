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

vfio_take "${bed_dev:-}" || return 1

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
