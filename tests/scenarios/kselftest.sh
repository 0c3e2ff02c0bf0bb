# Run kselftest programs from /progs (bed/progs.py) and report each test:
#   BED: ktest <prog> ok|fail|skip <test name>
#   BED: kexit <prog> <exit status>
# bed.progs= names them, comma-separated; PROG:TEST runs only the test TEST
# of PROG (the harness's -t).  The TAP output goes to the results log as it
# is, for a failure's details.
. /scenarios/lib.sh

for spec in $(echo "${bed_progs:-iommufd}" | tr , ' '); do
	prog=${spec%%:*}
	only=
	[ "$prog" = "$spec" ] || only=${spec#*:}
	if [ ! -x "/progs/$prog" ]; then
		result kexit "$prog" missing
		continue
	fi
	"/progs/$prog" ${only:+-t "$only"} > "/tmp/$prog.tap" 2>&1
	result kexit "$prog" $?
	# a substituted line starts with "BED:", so no later pattern matches it
	sed -n -e "s/^ok [0-9]* \(.*\) # SKIP.*/BED: ktest $prog skip \1/p" \
		-e "s/^ok [0-9]* \(.*\)/BED: ktest $prog ok \1/p" \
		-e "s/^not ok [0-9]* \(.*\)/BED: ktest $prog fail \1/p" \
		"/tmp/$prog.tap"
	echo "--- $prog TAP"
	cat "/tmp/$prog.tap"
	echo "--- end of $prog TAP"
done
true
