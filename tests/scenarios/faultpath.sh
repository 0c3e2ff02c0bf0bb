# P3 of 'make bench': guest time per unrecoverable fault in the IOMMU
# driver's fault path, from the interrupt to the return of the handler.
#
# The storm of tests/scenarios/storm.sh (bed.storm_len bytes, bed.storm_count
# DMAs, edu_fault), bed.runs times for each path of bed.paths:
#   print    no fault handler: the driver prints the fault (base: always)
#   handler  edu_fault's handler registered (the series only)
#   iommufd  the device given to vfio-pci, and its faults to user space
#            through an iommufd device fault queue of bed.depth records
#            (vfio_fault's storm step; bed.fault_unit as the mode's); the
#            series only, and after the others
# The time measured is the sum of the intervals spent in (see measure()):
#   - the hard interrupt handler of each IRQ named in bed.irqs (a name of
#     /proc/interrupts), from irq:irq_handler_entry to irq_handler_exit;
#   - the IRQ thread of each IRQ named in bed.threads, while it runs
#     (sched:sched_switch);
#   - each work function of bed.works (workqueue:workqueue_execute_start
#     to workqueue_execute_end), wherever it is queued.
# An interrupt that comes while a work runs on that CPU is counted once.
# The console is quiet during the runs (console loglevel 1).
# Names separated by commas; a work function the kernel does not have is
# simply never seen.
#   BED: p3 path <path> run <i> ns <guest ns> intervals <n> open <n>
#            delivered <n> lost <n> guest_ms <ms>
#     (open: intervals begun and not ended when tracing stopped, which
#     must be none;
#     delivered: to the handler, or records read from the iommufd queue;
#     lost: the iommufd queue's lost counts; guest_ms: from the first DMA
#     to the end of the last)
#   BED: p3_by path <path> run <i> <what> <guest ns> ...   the same time by
#            kind: irq, irq_thread or a work function
# With bed.sample_mem=1 (P4, a long storm), memory in kB: every second of
# guest time during the run, and before and after it (slab caches shrunk):
#   BED: p4_mem path <path> run <i> before|after|peak Slab <kB>
#            SUnreclaim <kB> kmalloc <kB>
# (kmalloc: the kmalloc-* caches of /proc/slabinfo, objects times size).
#   BED: p3_overrun <events lost by the trace buffer, all runs>
#   BED: p3_missing <what could not be set up>
. /scenarios/lib.sh
T=/sys/kernel/tracing
mount -t tracefs tracefs "$T" 2>/dev/null
load_edu || return 1

names() { echo "$1" | tr , ' '; }

# the number of the IRQ called $1 in /proc/interrupts
irq_number() {
	awk -v n="$1" '$NF == n { sub(":", "", $1); print $1; exit }' \
		/proc/interrupts
}

irqs='' pids='' missing=''
for n in $(names "${bed_irqs:-}"); do
	i=$(irq_number "$n")
	if [ -n "$i" ]; then irqs="$irqs $i"; else missing="$missing irq:$n"; fi
done
for n in $(names "${bed_threads:-}"); do
	i=$(irq_number "$n")
	# the thread's name, whole or cut as a task's name is cut
	full=irq/$i-$n
	cut=$(echo "$full" | cut -c1-15)
	p=$(for c in /proc/[0-9]*/comm; do
		case "$(cat "$c" 2>/dev/null)" in
		"$full" | "$cut") basename "${c%/comm}" ;;
		esac
	done | head -n1)
	if [ -n "$i" ] && [ -n "$p" ]; then
		pids="$pids $p"
	else
		missing="$missing thread:$n"
	fi
done
if [ -n "$missing" ]; then
	result p3_missing "$missing"
	cat /proc/interrupts
	grep -h '^irq/' /proc/[0-9]*/comm
fi
result p3_irqs "$irqs"
result p3_pids "$pids"

# an event filter: "$2 == a || $2 == b ..."
filter() {
	_f='' _field=$1
	shift
	for _v in "$@"; do
		_f="${_f:+$_f || }$_field == $_v"
	done
	echo "$_f"
}
E=$T/events
echo 0 > "$T/tracing_on"
echo 16384 > "$T/buffer_size_kb"
# shellcheck disable=SC2086 # one value per word
{
	{ [ -z "$irqs" ] || {
		filter irq $irqs > "$E/irq/irq_handler_entry/filter" &&
		filter irq $irqs > "$E/irq/irq_handler_exit/filter" &&
		echo 1 > "$E/irq/irq_handler_entry/enable" &&
		echo 1 > "$E/irq/irq_handler_exit/enable"
	}; } &&
	{ [ -z "$pids" ] || {
		echo "($(filter prev_pid $pids)) || ($(filter next_pid $pids))" \
			> "$E/sched/sched_switch/filter" &&
		echo 1 > "$E/sched/sched_switch/enable"
	}; } &&
	echo 1 > "$E/workqueue/workqueue_execute_start/enable" &&
	echo 1 > "$E/workqueue/workqueue_execute_end/enable"
} || { result p3_missing tracing; return 1; }

# "Slab <kB> SUnreclaim <kB> kmalloc <kB>" now
mem() {
	{
		grep -E '^(Slab|SUnreclaim):' /proc/meminfo
		awk '$1 ~ /^kmalloc-/ { kb += $3 * $4 / 1024 }
		     END { printf "kmalloc: %d\n", kb }' /proc/slabinfo
	} | awk '{ sub(":", "", $1); printf "%s %s ", $1, $2 }'
}

# mem, once what was freed is back in the slabs and empty slabs are given
# back (RCU-deferred frees are waited for first)
settled_mem() {
	sleep 1
	for _f in /sys/kernel/slab/*/shrink; do
		echo 1 > "$_f"
	done 2>/dev/null
	mem
}

# the largest of each value in the lines mem printed
peak() {
	awk '{ for (k = 1; k < NF; k += 2) if ($(k + 1) > m[$k]) m[$k] = $(k + 1) }
	     END { for (k in m) printf "%s %d ", k, m[k] }' "$1"
}

uptime_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

# The measured intervals in $T/trace: "<ns> <intervals> <left open>", then
# "<what> <ns>" for each kind.  A work or the IRQ thread is followed by its
# task (pid), wherever it runs: the workqueues here are unbound, and a task
# that sleeps or is preempted may go on on another CPU (its interval then
# also holds the time it was off the CPU).  A fault interrupt is followed
# by its CPU, and not counted when it comes while one of those tasks runs
# there (it is inside that task's interval).
measure() {
	awk -v irqs="$irqs" -v pids="$pids" -v works="$(names "${bed_works:-}")" '
	BEGIN {
		split(irqs, a, " "); for (k in a) irq[a[k]] = 1
		split(pids, a, " "); for (k in a) pid[a[k]] = 1
		split(works, a, " "); for (k in a) work[a[k]] = 1
	}
	function add(what, d) { total += d; by[what] += d; n++ }
	function task_start(p, c, t, what) {
		if (p in tstart) return
		tstart[p] = t; twhat[p] = what; tcpu[p] = c; busy[c]++
	}
	function task_end(p, t) {
		if (!(p in tstart)) return
		add(twhat[p], t - tstart[p])
		busy[tcpu[p]]--
		delete tstart[p]
	}
	/^#/ { next }
	{
		c = ""; t = ""; ev = ""; p = ""
		for (k = 1; k <= NF; k++) {
			if (c == "" && $k ~ /^\[[0-9]+\]$/) {
				c = $k
				# the task: "<comm>-<pid>" just before the CPU
				p = $(k - 1); sub(/.*-/, "", p)
				continue
			}
			if (c != "" && t == "" && $k ~ /^[0-9]+\.[0-9]+:$/) {
				t = substr($k, 1, length($k) - 1); ev = $(k + 1)
				break
			}
		}
		if (ev == "") next
		# microseconds; busybox awk reads "027540" as octal: no zeros first
		split(t, ts, ".")
		t = ts[1] * 1000000 + ("1" ts[2]) - 1000000
		if (ev == "irq_handler_entry:") {
			if (!busy[c]) istart[c] = t
			next
		}
		if (ev == "irq_handler_exit:") {
			if (c in istart) { add("irq", t - istart[c]); delete istart[c] }
			next
		}
		if (ev == "workqueue_execute_start:" && ($NF in work)) {
			task_start(p, c, t, $NF); next
		}
		if (ev == "workqueue_execute_end:" && ($NF in work)) {
			task_end(p, t); next
		}
		if (ev == "sched_switch:") {
			for (k = 1; k <= NF; k++) {
				split($k, kv, "=")
				if (kv[1] == "prev_pid" && (kv[2] in pid)) task_end(kv[2], t)
				if (kv[1] == "next_pid" && (kv[2] in pid))
					task_start(kv[2], c, t, "irq_thread")
			}
		}
	}
	END {
		left = 0
		for (k in tstart) left++
		for (k in istart) left++
		# %d is an int in busybox awk: totals pass 2^31 ns
		printf "%.0f %d %d", total * 1000, n, left
		for (k in by) printf " %s %.0f", k, by[k] * 1000
		printf "\n"
	}' "$T/trace"
}

# What the print paths cost is printk's, not the emulated serial line's:
# the kernel log still gets every line, the console only emergencies (the
# 8250 driver polls the UART for every character it writes)
echo 1 > /proc/sys/kernel/printk

overrun=0
for path in $(names "${bed_paths:-print}"); do
	case $path in
	print) [ -w "$EDU/fault_handler" ] && echo 0 > "$EDU/fault_handler" ;;
	handler) echo 1 > "$EDU/fault_handler" || return 1 ;;
	iommufd)
		if [ -z "${BDF:-}" ]; then
			rmmod edu_fault && vfio_take "$(basename "$EDU")" ||
				return 1
		fi
		;;
	*) echo "unknown path $path"; return 1 ;;
	esac
	i=0
	while [ "$i" -lt "${bed_runs:-5}" ]; do
		i=$((i + 1))
		before=$(handler_count)
		if [ "${bed_sample_mem:-0}" = 1 ]; then
			result p4_mem path "$path" run "$i" before $(settled_mem)
			while :; do mem; echo; sleep 1; done > /tmp/mem.log &
			sampler=$!
		fi
		echo > "$T/trace"
		echo 1 > "$T/tracing_on"
		t0=$(uptime_ms)
		if [ "$path" = iommufd ]; then
			/progs/vfio_fault -u "$bed_fault_unit" "$BDF" storm \
				"$bed_depth" "$bed_storm_count" "$bed_storm_len" \
				> /tmp/storm.out || return 1
			grep 'vfio_timeout\|vfio_error' /tmp/storm.out
		else
			echo "write 0xdead000 $bed_storm_len $bed_storm_count" \
				> "$EDU/dma" || return 1
		fi
		ms=$(($(uptime_ms) - t0))
		# the faults are in flight until the work they queued has run:
		# an idle second of guest time
		sleep 1
		echo 0 > "$T/tracing_on"
		if [ -n "${sampler:-}" ]; then
			kill "$sampler"
			wait "$sampler" 2>/dev/null
			sampler=
			result p4_mem path "$path" run "$i" peak \
				$(peak /tmp/mem.log)
			result p4_mem path "$path" run "$i" after $(settled_mem)
		fi
		set -- $(measure)
		overrun=$((overrun + $(cat "$T"/per_cpu/cpu*/stats |
			sed -n 's/^overrun: //p' | tr '\n' '+')0))
		if [ "$path" = iommufd ]; then
			# records of a fault: all but the one that only carries
			# a lost count (reason 0, IOMMU_DEV_FAULT_REASON_NONE)
			delivered=$(awk '$2 == "vfio_rec" {
				for (k = 3; k < NF; k++)
					if ($k == "reason" && $(k + 1) != 0) n++
			} END { print n + 0 }' /tmp/storm.out)
			# the DMAs' time, without the program's wait for the queue
			ms=$(awk '$2 == "vfio_storm_ms" { print $3 }' /tmp/storm.out)
			lost=$(awk '$2 == "vfio_rec" {
				for (k = 3; k < NF; k++) if ($k == "lost") n += $(k + 1)
			} END { print n + 0 }' /tmp/storm.out)
		else
			delivered=$(($(handler_count) - before)) lost=0
		fi
		result p3 path "$path" run "$i" ns "$1" intervals "$2" \
			open "$3" delivered "$delivered" lost "$lost" \
			guest_ms "$ms"
		shift 3
		result p3_by path "$path" run "$i" "$@"
	done
done
# events the trace buffer lost, summed over the runs (clearing the buffer
# for a run resets its counters)
result p3_overrun "$overrun"
if [ -z "${BDF:-}" ]; then
	result dma_count "$(cat "$EDU/dma_count")"
fi
