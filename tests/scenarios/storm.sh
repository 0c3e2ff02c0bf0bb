# A fault storm: back-to-back faulting DMA with the fault handler registered.
# VT-d records one fault per transfer, so it takes 10,000 transfers (the VM
# runs with -icount so that edu's 100 ms DMA timer does not take real time);
# SMMUv3 records one event per 4-byte access, so ten 4092-byte transfers make
# 10,230 events.
. /scenarios/lib.sh
load_edu || return 1
result handler "$(cat "$EDU/fault_handler" 2>/dev/null || echo unsupported)"
case "$(uname -m)" in
aarch64) len=4092; n=10 ;;
*) len=4; n=10000 ;;
esac
echo "write 0xdead000 $len $n" > "$EDU/dma" || return 1
result storm "$len" "$n"
sleep 2
result handler_faults "$(head -n1 "$EDU/faults")"
result dma_count "$(cat "$EDU/dma_count")"
report_iommu_counters
