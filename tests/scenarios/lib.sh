# Helpers for scenarios; sourced by /init before the scenario.
load_edu() {
	insmod /lib/edu_fault.ko || return 1
	EDU=$(ls -d /sys/bus/pci/drivers/edu_fault/0000:* 2>/dev/null | head -n1)
	[ -n "$EDU" ] || { echo "edu_fault did not bind"; return 1; }
	result edu_dev "$(basename "$EDU")"
}

# edu_dma read|write IOVA LEN
edu_dma() {
	echo "$1 $2 $3" > "$EDU/dma" || return 1
	result dma "$1" "$2" "$3"
}
