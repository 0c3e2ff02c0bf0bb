"""Groups 'vfio-flood-<mode>-<arch>': a flood of DMA faults from user
space.  Scenario tests/scenarios/vfio-flood.sh gives the edu device to
vfio-pci and runs tests/progs/vfio_fault.c's 'flood' step: faulting DMA
writes as fast as the device goes for a fixed guest time, into a device
fault queue (IOMMU_DEV_FAULT_QUEUE_ALLOC) of a small depth that is read only
afterwards.  The flood's shape is the mode's data (modes.py: flood), and
the VM runs under -icount as the storm's does, so that guest time counts
instructions and edu's 100 ms per DMA costs no host time.

The flood has its own VM boot, so QEMU's trace (mode.trace) counts its
faults alone; each line's requester ID (mode.trace_rid) tells the VFIO
device's faults from the other device's.  Expected values come from that
trace and from the mode's data, never from the kernel under test:
- records read + the lost they report = QEMU's faults for the device, and
  the IOMMU driver's 'records' counter grew by QEMU's faults for every
  device during the step;
- sequence numbers agree with the lost counts;
- slab memory after the queue is closed is back where it was, within
  SLAB_SLACK_KB;
- the kernel log grows by at most LOG_LINES lines;
- on modes with devices behind root ports (mode.context: the 'context'
  group's machine), another edu device, bound to edu_fault with its
  handler registered, faults once a third into the flood: its handler
  gets that fault while the flood goes on.
Only modes whose driver counts the records it reads get a group (as for
'vfio').
"""

import re
from collections import Counter

from .. import arches
from .context import qemu_extra as port_devices
from .storm import STORM_QEMU
from .vfio import (accounted, fault_record_problems, is_lost_only,
                   modes_with_records, records, run_group, sequence_problems,
                   show, step_records)

STEP = 'flood'
REC_SIZE = 40            # sizeof(struct iommu_dev_fault)
OTHER_IOVA = 0xdead000   # the other device's DMA (vfio_fault.c OTHER_IOVA)
OTHER_LEN = 4
FLOOD_IOVA = 0x8000000   # the flood's pages (vfio_fault.c)
FLOOD_PAGES = 4096

# Slab growth allowed over the flood, in kB, for Slab and SUnreclaim each,
# measured before the queue is created and after the program exited, each
# time after every slab cache was shrunk (which also empties KASAN's
# quarantine, else every object freed during the flood would still count:
# the core's 88-byte item per fault alone is 2.5 MB on the SMMUv3 flood).
# What is left is noise, at slab-page level: partly used slabs that shrink
# keeps, per-CPU caches (/proc/slabinfo's live objects moved by about 80
# kB, mostly inodes of /proc and sysfs).  Measured over the whole step
# (bind, IOAS, queue, the process), eight runs: -124 to +344 kB.  A kernel
# that kept one 40-byte uapi record per fault would grow by 1,120 to 1,160
# kB on the SMMUv3 flood (28,644 to 29,667 faults), twice this bound, and
# one of the core's 88-byte items per fault by over 2,500 kB.  On VT-d's
# 600 faults only a leak of about 900 bytes or more per fault would show:
# there the check says the queue's memory is given back.
SLAB_SLACK_KB = 512

# Kernel log lines the step may add.  The VFIO bind prints two lines of
# its own: vfio-pci's 'MSI interrupts are not secure' (the scenario allows
# unsafe interrupts) and 'enabling device'.  A fault that the core refuses
# for lack of room (-ENOSPC, counted in the queue's lost) is logged by two
# ratelimited sources, each at most DEFAULT_RATELIMIT_BURST (10) times per
# DEFAULT_RATELIMIT_INTERVAL (5 s), plus a 'callbacks suppressed' line: the
# core's 'fault handler is behind' (one line) and the IOMMU driver's own
# report of a fault nobody took (SMMUv3: the event in five lines; VT-d:
# the record, after a 'DRHD: handling fault status' line).  The queue
# itself refuses faults silently: the loss is the reader's to see.  The
# bound is one window of each source: SMMUv3's refusals come in the
# flood's 3 s; VT-d's one fault per 100 ms gives the core no cause to
# refuse.  Measured: 2 lines on VT-d, 62 on SMMUv3 (2 + 10 + 10 * 5).
BIND_LINES = 2
RATELIMIT_BURST = 10
LOG_LINES = BIND_LINES + (RATELIMIT_BURST * 1 + 1) + (RATELIMIT_BURST * 5 + 1)


def params(arch, mode):
    f = mode.flood
    return {'dev': arch.edu_addr, 'fault_unit': mode.fault_unit,
            'depth': f.depth, 'flood_ms': int(f.seconds * 1000),
            'flood_len': f.length, 'other': int(mode.context)}


def qemu_args(arch, mode):
    """-icount, and the context group's devices behind root ports."""
    return STORM_QEMU + (port_devices(arch) if mode.context else ())


def edu_rid(arch):
    """The edu device's requester ID: bus 0, its slot and function."""
    slot, fn = arch.edu_slot.split('.')
    return int(slot, 16) << 3 | int(fn)


def qemu_faults(r, arch, mode):
    """(faults QEMU recorded for the edu device, for any other device)."""
    rx = re.compile(mode.trace_rid)
    n = Counter()
    for line in r.trace_lines(mode.trace):
        m = rx.search(line)
        n['edu' if m and int(m.group(1), 16) == edu_rid(arch)
          else 'other'] += 1
    return n['edu'], n['other']


def meminfo(r, when):
    got = [v for v in r.result('meminfo') if v and v[0] == when]
    if not got:
        return {}
    v = got[0][1:]
    return {k: int(x) for k, x in zip(v[0::2], v[1::2])}


def slab_growth(r):
    a, b = meminfo(r, 'before'), meminfo(r, 'after')
    return {k: b[k] - a[k] for k in ('Slab', 'SUnreclaim')
            if k in a and k in b}


def log_growth(r):
    v = r.result('log_lines')
    if not v or len(v[0]) != 2:
        return None
    return int(v[0][1]) - int(v[0][0])


def flood_of(r):
    """(DMAs, guest ms) of the flood."""
    v = [x for x in r.result('vfio_flood') if x and x[0] == STEP]
    return (int(v[0][1]), int(v[0][2])) if v else (None, None)


def other_of(r):
    """(faulted at, seen at, flood end) in ms from the flood's start."""
    v = [x for x in r.result('vfio_other') if x and x[0] == STEP]
    return tuple(int(x) for x in v[0][1:4]) if v else (None, None, None)


def summary(r, arch, mode, u):
    recs = records(r, STEP)
    lost = sum(x['lost'] for x in recs
               if x['flags'] & u.need('flag', 'LOST'))
    faults = sum(1 for x in recs if not is_lost_only(u, x))
    edu, other = qemu_faults(r, arch, mode)
    dmas, ms = flood_of(r)
    return (f'{dmas} DMAs of {mode.flood.length} bytes in {ms} guest ms; '
            f'QEMU recorded {edu} faults of the device (+{other} of the '
            f'other); read {faults} fault records + '
            f'{len(recs) - faults} lost-only, {lost} lost; driver records '
            f'{step_records(r, STEP)}; slab growth {slab_growth(r)} kB; '
            f'{log_growth(r)} kernel log lines; other device (faulted, '
            f'seen, flood end, ms) {other_of(r)}; VM boot to power-off '
            f'{r.seconds:.0f} s')


def checks(label, arch, mode, u):
    depth = mode.flood.depth
    lost_flag = u.need('flag', 'LOST')

    def ran(r):
        exits = [v[1] for v in r.result('vfio_exit') if v and v[0] == STEP]
        errors = (r.result('vfio_error') + r.result('vfio_unsupported') +
                  r.result('vfio_timeout') + r.result('error'))
        ok = (exits == ['0'] and not errors and
              r.first('vfio_driver') == 'vfio-pci')
        return ok, (f'exit status {exits}, driver {r.first("vfio_driver")}'
                    f'; errors: {errors}\n{r.where()}')

    def flooded(r):
        edu, _ = qemu_faults(r, arch, mode)
        return edu > 2 * depth, (
            f'QEMU recorded {edu} faults of the device; the flood must '
            f'make more than twice the queue\'s {depth}\n{r.where()}')

    def exact(r):
        recs = records(r, STEP)
        got = accounted(u, recs)
        edu, _ = qemu_faults(r, arch, mode)
        return got == edu and edu > 0, (
            f'records + lost = {got}; QEMU recorded {edu} faults of the '
            f'device\n{show(recs)}\n{r.where()}')

    def driver(r):
        edu, other = qemu_faults(r, arch, mode)
        got = step_records(r, STEP)
        return got == edu + other and got > 0, (
            f'the driver read {got} records in the step; QEMU recorded '
            f'{edu} faults of the device and {other} of the other\n'
            f'{r.where()}')

    def first_loss(r):
        recs = records(r, STEP)
        first = next((i for i, x in enumerate(recs)
                      if x['flags'] & lost_flag), None)
        lost = sum(x['lost'] for x in recs if x['flags'] & lost_flag)
        before = len(recs) if first is None else first
        return (first is not None and lost > 0 and before <= depth, (
            f'{before} records before the first LOST (queue of {depth}), '
            f'{lost} lost in all\n{show(recs)}\n{r.where()}'))

    def numbered(r):
        recs = records(r, STEP)
        bad, nxt = sequence_problems(u, recs)
        total = accounted(u, recs)
        if nxt != total:
            bad.append(f'numbered up to {nxt}, {total} faults accounted')
        return not bad, '\n'.join(bad[:20]) + f'\n{show(recs)}\n{r.where()}'

    def well_formed(r):
        recs = [x for x in records(r, STEP) if not is_lost_only(u, x)]
        bad = []
        for x in recs:
            # the loss is numbered()'s; the rest as for any write fault
            y = dict(x, flags=x['flags'] & ~lost_flag, lost=0)
            p = fault_record_problems(u, y, mode.reasons[0], 'WRITE')
            if not FLOOD_IOVA <= x['addr'] < FLOOD_IOVA + FLOOD_PAGES * 4096:
                p.append(f'addr {x["addr"]:#x} outside the flood\'s pages')
            if p:
                bad.append(f'{p}: {x}')
        return bool(recs) and not bad, ('\n'.join(bad[:20]) +
                                        f'\n{show(recs)}\n{r.where()}')

    def slab(r):
        g = slab_growth(r)
        ok = (set(g) == {'Slab', 'SUnreclaim'} and
              all(v <= SLAB_SLACK_KB for v in g.values()))
        edu, _ = qemu_faults(r, arch, mode)
        return ok, (f'growth {g} kB (meminfo before '
                    f'{meminfo(r, "before")}, after {meminfo(r, "after")})'
                    f', at most {SLAB_SLACK_KB} kB allowed; one record '
                    f'kept per fault would be {edu * REC_SIZE // 1024} kB'
                    f'\n{r.where()}')

    def log(r):
        n = log_growth(r)
        return n is not None and n <= LOG_LINES, (
            f'{n} kernel log lines during the step, at most {LOG_LINES} '
            f'allowed\n{r.where()}')

    out = [
        (f'{label}: the flood ran and every record was read', ran),
        (f'{label}: the flood made more faults than twice the queue\'s '
         'depth', flooded),
        (f'{label}: records + lost = faults QEMU recorded for the device',
         exact),
        (f'{label}: the driver read as many records as QEMU recorded',
         driver),
        (f'{label}: the queue filled before the first loss, which was '
         'reported', first_loss),
        (f'{label}: sequence numbers agree with the lost counts', numbered),
        (f'{label}: every fault record has the dev_id, a flood IOVA, '
         f'WRITE, {mode.reasons[0]}', well_formed),
        (f'{label}: slab memory after the queue is closed: growth within '
         f'{SLAB_SLACK_KB} kB', slab),
        (f'{label}: the kernel log grows by at most {LOG_LINES} lines',
         log),
    ]
    if mode.context:
        def other(r):
            at, seen, end = other_of(r)
            n = r.first_int('other_faults')
            recs = [dict(zip(v[0::2], v[1::2]))
                    for v in r.result('other_fault')]
            _, q = qemu_faults(r, arch, mode)
            want = mode.faults_per_dma(OTHER_LEN)
            ok = (r.first('other_handler') == '1' and n == want == q and
                  all(int(x.get('addr', '0'), 0) == OTHER_IOVA and
                      x.get('dev') == r.first('other_dev') for x in recs) and
                  at is not None and 0 <= at <= seen < end)
            return ok, (f'other device {r.first("other_dev")}, handler '
                        f'{r.first("other_handler")}: its handler got {n} '
                        f'faults, QEMU recorded {q}, {want} expected; '
                        f'faulted at {at} ms, seen at {seen} ms, flood '
                        f'ended at {end} ms\n{recs}\n{r.where()}')
        out.append((f'{label}: another device\'s fault reaches its handler '
                    'during the flood', other))
    else:
        def no_other(r):
            return not r.result('other_dev'), r.where()
        out.append((f'{label}: another device\'s fault during the flood: '
                    f'skipped, {mode.name} has no devices behind root ports',
                    no_other))
    return out


def group(arch, mode):
    label = f'vfio-flood-{mode.name}-{arch.name}'

    def t(s):
        run_group(s, label, arch, mode, 'vfio-flood', checks, summary,
                  params=params(arch, mode),
                  qemu_extra=qemu_args(arch, mode))
    return label, t


def groups():
    return [group(arches.get(a), m) for m in modes_with_records()
            if m.flood for a in m.arches]
