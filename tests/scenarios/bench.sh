# The page-request benchmarks ('make bench'), iopf_bench with bed.rounds=
# rounds per run and bed.runs= runs:
#   P1, the round trip:
#     BED: p1 run <i> rounds <n> ns <guest ns>
#     BED: p1_phases trigger <ns> read <ns> write <ns>
#     BED: p1_exit <status>
#   P2, with bed.depths=D1,D2,...: the response alone, D groups pending
#     BED: p2 depth <d> run <i> rounds <n> ns <guest ns in write()>
#     BED: p2_exit <status>
. /scenarios/lib.sh

if [ -n "${bed_depths:-}" ]; then
	# shellcheck disable=SC2046 # one argument per depth
	/progs/iopf_bench "$bed_rounds" "$bed_runs" \
		$(echo "$bed_depths" | tr , ' ') > /tmp/p2.out 2>&1
	rc=$?
	result p2_exit $rc
	sed -n 's/^\(depth .*\)/BED: p2 \1/p' /tmp/p2.out
	grep -v '^depth ' /tmp/p2.out
	[ "$rc" = 0 ]
	return
fi

/progs/iopf_bench "$bed_rounds" "$bed_runs" > /tmp/p1.out 2>&1
rc=$?
result p1_exit $rc
sed -n -e 's/^\(run .*\)/BED: p1 \1/p' \
	-e 's/^phases \(.*\)/BED: p1_phases \1/p' /tmp/p1.out
grep -v '^run \|^phases ' /tmp/p1.out
[ "$rc" = 0 ]
