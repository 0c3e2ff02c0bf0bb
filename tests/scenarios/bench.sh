# The page-request round-trip benchmark (P1, 'make bench'): iopf_bench
# with bed.rounds= round trips per run and bed.runs= runs.
#   BED: p1 run <i> rounds <n> ns <guest ns>
#   BED: p1_phases trigger <ns> read <ns> write <ns>
#   BED: p1_exit <status>
. /scenarios/lib.sh

/progs/iopf_bench "$bed_rounds" "$bed_runs" > /tmp/p1.out 2>&1
rc=$?
result p1_exit $rc
sed -n -e 's/^\(run .*\)/BED: p1 \1/p' \
	-e 's/^phases \(.*\)/BED: p1_phases \1/p' /tmp/p1.out
grep -v '^run \|^phases ' /tmp/p1.out
[ "$rc" = 0 ]
