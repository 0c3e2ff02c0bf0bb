# DMA to IOVAs that were never mapped, then a DMA write to a page mapped
# read-only for the device, with the edu driver's fault handler registered.
# Then the handler is unregistered and one more DMA faults: the IOMMU
# driver's own log line must come back.  Each transfer is 4 bytes, one
# fault on every IOMMU (SMMUv3 records one event per 4-byte access).
. /scenarios/lib.sh
load_edu || return 1
RO=$(cat "$EDU/ro_iova")
result ro_iova "$RO"
edu_dma write 0xdead000 4 || return 1
edu_dma read 0xdeae000 4 || return 1
edu_dma write "$RO" 4 || return 1
if [ -w "$EDU/fault_handler" ]; then
	wait_until 20 at_least 3 handler_count
else
	# no handler API: the last fault shows up in the log
	wait_until 20 log_has "${RO#0x}"
fi
report_handler_faults
if [ -w "$EDU/fault_handler" ]; then
	echo 0 > "$EDU/fault_handler" || return 1
	echo clear > "$EDU/faults"
	result handler_after "$(cat "$EDU/fault_handler")"
	edu_dma write 0xdeaf000 4 || return 1
	result after_unregister 0xdeaf000
	# the driver logs a fault nobody took; any handler call came before
	wait_until 20 log_has deaf000
	result handler_faults_after "$(handler_count)"
fi
result dma_count "$(cat "$EDU/dma_count")"
report_iommu_counters
