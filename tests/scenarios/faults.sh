# DMA to IOVAs that were never mapped, then a DMA write to a page mapped
# read-only for the device.  Each transfer is a handful of bytes: on SMMUv3
# every 4-byte access is its own event, and Linux's dump is ratelimited.
. /scenarios/lib.sh
load_edu || return 1
result handler "$(cat "$EDU/fault_handler" 2>/dev/null || echo unsupported)"
edu_dma write 0xdead000 4 || return 1
edu_dma read 0xdeae000 4 || return 1
RO=$(cat "$EDU/ro_iova")
result ro_iova "$RO"
edu_dma write "$RO" 4 || return 1
sleep 1
result dma_count "$(cat "$EDU/dma_count")"
report_handler_faults
