# The fault storm of storm.sh while a share of the IOMMU core's allocations
# for fault records fail: bed.failslab percent (lib.sh failslab_fault_path).
# A scenario of its own so that its logs do not replace the storm's.
: "${bed_failslab:=10}"
. /scenarios/storm.sh
