# DMA to IOVAs that were never mapped, then a DMA write to a page mapped
# read-only for the device, with the edu driver's fault handler registered.
# Then the handler is unregistered and one more DMA faults: the IOMMU
# driver's own log line must come back.  Each transfer is a handful of bytes:
# on SMMUv3 every 4-byte access is its own event.
. /scenarios/lib.sh
load_edu || return 1
result handler "$(cat "$EDU/fault_handler" 2>/dev/null || echo unsupported)"
edu_dma write 0xdead000 4 || return 1
edu_dma read 0xdeae000 4 || return 1
RO=$(cat "$EDU/ro_iova")
result ro_iova "$RO"
edu_dma write "$RO" 4 || return 1
sleep 1
report_handler_faults
if [ -w "$EDU/fault_handler" ]; then
	echo 0 > "$EDU/fault_handler" || return 1
	echo clear > "$EDU/faults"
	result handler_after "$(cat "$EDU/fault_handler")"
	edu_dma write 0xdeaf000 4 || return 1
	sleep 1
	result handler_faults_after "$(head -n1 "$EDU/faults")"
fi
result dma_count "$(cat "$EDU/dma_count")"
report_iommu_counters
