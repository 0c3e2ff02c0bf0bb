# A flood from user space: the edu device is given to vfio-pci and
# /progs/vfio_fault (tests/progs/vfio_fault.c, step 'flood') makes it fault
# as fast as it can for bed.flood_ms ms of guest time, with a queue of
# bed.depth records that it reads only afterwards.  Around the step:
#   BED: vfio_exit flood <status>
#   BED: vfio_step_records flood <before> <after>   the IOMMU drivers'
#        'records' counters ('none' without counters)
#   BED: meminfo <when> Slab <kB> SUnreclaim <kB> Tasks <n>   before the
#        queue is created and after the program exited; every slab cache
#        is shrunk first, which also empties KASAN's quarantine of freed
#        objects
#   BED: log_lines <before> <after>                  lines of dmesg
# When the machine has edu devices behind root ports (bed.other=1), the
# first of them is bound to edu_fault, with its fault handler registered,
# and the program makes it fault once during the flood:
#   BED: other_dev <bdf>
#   BED: other_handler <fault_handler>
#   BED: other_faults <count>   after the step
#   BED: other_fault <record>   what its handler got
# Parameters (bed.<key>=): dev, fault_unit, depth, flood_ms, flood_len,
# other.
. /scenarios/lib.sh

vfio_take "${bed_dev:-}" || return 1

OTHER=
if [ "${bed_other:-0}" = 1 ]; then
	# edu_fault binds every edu device left: those behind the root ports
	insmod /lib/edu_fault.ko || return 1
	for d in /sys/bus/pci/drivers/edu_fault/0000:*; do
		case "$(basename "$d")" in
		0000:00:*) ;;
		*) OTHER=$d; break ;;
		esac
	done
	if [ -z "$OTHER" ]; then
		result error "no edu device behind a root port"
		return 1
	fi
	result other_dev "$(basename "$OTHER")"
	result other_handler "$(cat "$OTHER/fault_handler" 2>/dev/null ||
		echo unsupported)"
fi

# settled_meminfo WHEN: Slab and SUnreclaim once freed objects are back
# in their slabs and empty slabs are given back.  RCU-deferred frees are
# waited for first (a grace period is far shorter than a second).
settled_meminfo() {
	sleep 1
	for _f in /sys/kernel/slab/*/shrink; do
		echo 1 > "$_f"
	done 2>/dev/null
	# shellcheck disable=SC2046,SC2012 # one word per name and value
	result meminfo "$1" $(grep -E '^(Slab|SUnreclaim):' /proc/meminfo |
		tr -d ':' | sed 's/ kB$//') \
		Tasks "$(ls -d /proc/[0-9]* | wc -l)"
}

settled_meminfo before
lines_before=$(dmesg | wc -l)
before=$(fault_records)
# shellcheck disable=SC2086 # no argument without another device
/progs/vfio_fault -u "${bed_fault_unit:-0}" "$BDF" flood \
	"${bed_depth:-16}" "${bed_flood_ms:-3000}" "${bed_flood_len:-4}" \
	$OTHER
result vfio_exit flood $?
result vfio_step_records flood "$before" "$(fault_records)"
result log_lines "$lines_before" "$(dmesg | wc -l)"
settled_meminfo after

if [ -n "$OTHER" ]; then
	# shellcheck disable=SC2034 # handler_count reads it
	EDU=$OTHER
	result other_faults "$(handler_count)"
	{
		read -r _n
		while read -r line; do
			# shellcheck disable=SC2086 # one word per field
			result other_fault $line
		done
	} < "$OTHER/faults"
fi
report_iommu_counters
true
