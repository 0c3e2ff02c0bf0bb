"""Decode what the kernel logs about IOMMU faults into one shape."""

import re
from dataclasses import dataclass, field


@dataclass
class Fault:
    source: str          # who reported it: 'dmar', 'smmuv3', 'virtio'
    device: str          # PCI address as printed, bus:dev.fn
    addr: int
    direction: str       # 'read' or 'write'; None if not reported
    reason: int          # hardware code: VT-d fault reason, SMMUv3 event id
    reason_text: str
    pasid: object = None
    raw: list = field(default_factory=list)

    def describe(self):
        pasid = '' if self.pasid is None else f'  pasid {self.pasid:#x}'
        return (f'device {self.device}  address {self.addr:#x}  '
                f'direction {self.direction}  reason {self.reason:#04x} '
                f'({self.reason_text}){pasid}')


DMAR_RE = re.compile(
    r'DMAR: \[DMA (Read|Write) (?:NO_PASID|PASID 0x([0-9a-f]+))\] Request '
    r'device \[([0-9a-f]{2}:[0-9a-f]{2}\.[0-7])\] fault addr 0x([0-9a-f]+) '
    r'\[fault reason 0x([0-9a-f]+)\] (.*)$')


def parse_dmar(lines):
    out = []
    for line in lines:
        m = DMAR_RE.search(line)
        if m:
            out.append(Fault('dmar', m.group(3), int(m.group(4), 16),
                             m.group(1).lower(), int(m.group(5), 16),
                             m.group(6).strip(),
                             int(m.group(2), 16) if m.group(2) else None,
                             [line]))
    return out


SMMU_EVENTS = {
    0x01: 'F_UUT', 0x02: 'C_BAD_STREAMID', 0x03: 'F_STE_FETCH',
    0x04: 'C_BAD_STE', 0x05: 'F_BAD_ATS_TREQ', 0x06: 'F_STREAM_DISABLED',
    0x07: 'F_TRANSL_FORBIDDEN', 0x08: 'C_BAD_SUBSTREAMID',
    0x09: 'F_CD_FETCH', 0x0a: 'C_BAD_CD', 0x0b: 'F_WALK_EABT',
    0x10: 'F_TRANSLATION', 0x11: 'F_ADDR_SIZE', 0x12: 'F_ACCESS',
    0x13: 'F_PERMISSION', 0x20: 'F_TLB_CONFLICT', 0x21: 'F_CFG_CONFLICT',
    0x24: 'E_PAGE_REQUEST', 0x25: 'F_VMS_FETCH',
}

SMMU_EVT_RE = re.compile(r'arm-smmu-v3 \S+: event 0x([0-9a-f]{2}) received:')
SMMU_DW_RE = re.compile(r'arm-smmu-v3 \S+:\s+0x([0-9a-f]{16})\s*$')


def sid_to_pci(sid):
    """On QEMU virt the stream id is the requester id (BDF)."""
    return f'{sid >> 8:02x}:{(sid >> 3) & 0x1f:02x}.{sid & 7}'


def parse_smmu(lines):
    """Events dumped by arm_smmu_evtq_thread: a header and four dwords."""
    out = []
    cur = None
    for line in lines:
        m = SMMU_EVT_RE.search(line)
        if m:
            cur = [line]
            continue
        m = SMMU_DW_RE.search(line)
        if cur is not None and m:
            cur.append(line)
            if len(cur) == 5:
                dw = [int(SMMU_DW_RE.search(x).group(1), 16) for x in cur[1:]]
                evt = dw[0] & 0xff
                sid = dw[0] >> 32
                ssv = bool(dw[0] & (1 << 11))
                rnw = bool(dw[1] & (1 << 35))
                out.append(Fault('smmuv3', sid_to_pci(sid), dw[2],
                                 'read' if rnw else 'write', evt,
                                 SMMU_EVENTS.get(evt, 'unknown'),
                                 (dw[0] >> 12) & 0xfffff if ssv else None,
                                 cur))
                cur = None
        else:
            cur = None
    return out


VIRTIO_RE = re.compile(
    r'virtio_iommu \S+: (unknown|domain|page) fault from EP (\d+)'
    r'(?: at 0x([0-9a-f]+) \[(R?)(W?)(X?)\])?\s*$')
VIRTIO_REASONS = {'unknown': 0, 'domain': 1, 'page': 2}


def parse_virtio(lines):
    """Fault events as viommu logs them; the endpoint id is the requester
    id on both machines.  The direction is None when the event gives no
    access (QEMU gives one only for a forbidden access)."""
    out = []
    for line in lines:
        m = VIRTIO_RE.search(line)
        if m:
            direction = ('write' if m.group(5) else
                         'read' if m.group(4) else None)
            out.append(Fault('virtio', sid_to_pci(int(m.group(2))),
                             int(m.group(3) or '0', 16), direction,
                             VIRTIO_REASONS[m.group(1)], m.group(1),
                             None, [line]))
    return out


# IOMMU mode's log_parser -> parser (modes.py)
PARSERS = {'dmar': parse_dmar, 'smmuv3': parse_smmu, 'virtio': parse_virtio}
