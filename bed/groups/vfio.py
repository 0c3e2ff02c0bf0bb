"""Groups 'vfio-<mode>-<arch>': a VMM's view of a device's unrecoverable
DMA faults, through VFIO and iommufd's device fault queue
(IOMMU_DEV_FAULT_QUEUE_ALLOC).  Scenario tests/scenarios/vfio.sh runs
tests/progs/vfio_fault.c on the edu device given to vfio-pci.

What each fault record must hold comes from the IOMMU mode's data
(modes.py): the reason of each DMA (mode.reasons), the access (the DMA's
direction, or mode.perms), and how many records one DMA makes
(mode.faults_per_dma).  The address is the IOVA; an IOMMU that records
one fault per transfer (fault_unit 0, such as VT-d, whose fault record
holds bits 63:12 of the address) is compared by page, one that records a
fault per access by the access's own address.  The values of the names
are read from the uapi header of the tree under test (as abi.py does for
the kernel's record).  How many faults there were is QEMU's trace
(mode.trace) for the whole run, and the IOMMU driver's 'records' counter
around each step; so only modes whose driver has that counter get a
group (mode.counters).  A clean kernel log after fds are closed with
records queued is vm_checks' part.
"""

import os
import re
import select
from errno import EINVAL

from .. import arches, kbuild, modes
from . import boot, scenario_checks, series
from .faults import counters_check

PAGE = 0x1000
# the main step's DMAs, in the program's order: direction, and what the
# IOVA is; each has the reason mode.reasons gives for the faults scenario's
# DMA of the same kind (never-mapped write, never-mapped read, read-only)
MAIN_LEN = 8  # bytes per DMA of the main step (vfio_fault.c)
MAIN = [('DMA write to a never-mapped IOVA', 'write'),
        ('DMA read of a never-mapped IOVA', 'read'),
        ('DMA write to the read-only page', 'write')]
# scenario parameters: the main queue's depth; the overflow step's depth
# and faulting DMAs (more than the depth); the close step's DMAs per round
DEPTH = 64
OVF_DEPTH = 4
OVF_N = 10
CLOSE_N = 3
STEPS = ('main', 'overflow', 'hup', 'close')
# reads whose size is not a multiple of the record's: (what, when)
BAD_READS = ('short', 'tiny', 'odd', 'plus_one', 'short_empty', 'odd_empty')
BAD_ALLOCS = ('flags', 'reserved', 'depth0', 'depth_too_big', 'dev_id_ioas',
              'dev_id_none')
UAPI = 'include/uapi/linux/iommufd.h'


def _enum(text, name, prefix):
    """{NAME without prefix: value} of an enum whose values are numbers or
    (1 << n)."""
    m = re.search(r'enum\s+' + name + r'\s*\{(.*?)\};', text, re.S)
    out = {}
    if not m:
        return out
    body = re.sub(r'/\*.*?\*/', '', m.group(1), flags=re.S)
    for item in body.split(','):
        mm = re.match(r'\s*' + prefix + r'(\w+)\s*=\s*\(?\s*(\w+)\s*'
                      r'(?:<<\s*(\w+))?\s*\)?\s*$', item)
        if mm:
            v = int(mm.group(2), 0)
            out[mm.group(1)] = v << int(mm.group(3), 0) if mm.group(3) \
                else v
    return out


class Uapi:
    """The device fault record's names, from the tree's uapi header."""

    def __init__(self, tree):
        path = os.path.join(tree, UAPI)
        text = open(path, errors='replace').read() \
            if os.path.exists(path) else ''
        self.reason = _enum(text, 'iommu_dev_fault_reason',
                            'IOMMU_DEV_FAULT_REASON_')
        self.flag = _enum(text, 'iommu_dev_fault_flags',
                          'IOMMU_DEV_FAULT_FLAG_')
        self.perm = _enum(text, 'iommu_hwpt_pgfault_perm',
                          'IOMMU_PGFAULT_PERM_')

    def need(self, table, name):
        v = getattr(self, table).get(name)
        if v is None:
            raise KeyError(f'{UAPI} defines no {table} {name}')
        return v


def modes_with_records():
    """The modes whose driver counts the fault records it reads."""
    return [m for m in modes.MODES
            if any(name == 'records' for name, _ in m.counters)]


def params(arch, mode):
    return {'dev': arch.edu_addr, 'fault_unit': mode.fault_unit,
            'depth': DEPTH, 'ovf_depth': OVF_DEPTH, 'ovf_n': OVF_N,
            'close_n': CLOSE_N}


# --- what the run reported ------------------------------------------------

def of_step(r, key, step):
    return [v[1:] for v in r.result(key) if v and v[0] == step]


def records(r, step, batches=None):
    """The records read in a step (of some batches), in read order; each
    with 'bound': the dev_id of the bind that preceded it."""
    out, bound = [], None
    for key, v in r.results:
        if not v or v[0] != step:
            continue
        if key == 'vfio_devid':
            bound = int(v[1], 0)
        if key != 'vfio_rec' or (batches is not None and
                                 v[1] not in batches):
            continue
        rec = {k: int(x, 0) for k, x in zip(v[3::2], v[4::2])}
        rec['batch'] = v[1]
        rec['bound'] = bound
        out.append(rec)
    return out


def devids(r, step):
    return [int(v[0], 0) for v in of_step(r, 'vfio_devid', step)]


def dmas(r, step, batch):
    """[(direction, iova, length)] of a batch's faulting DMAs."""
    return [(v[1], int(v[2], 0), int(v[3], 0))
            for v in of_step(r, 'vfio_dma', step) if v[0] == batch]


def reads(r, step):
    """{what: [(count, ret, errno)]} of a step's read() calls."""
    out = {}
    for v in of_step(r, 'vfio_read', step):
        out.setdefault(v[0], []).append(tuple(int(x) for x in v[1:4]))
    return out


def polls(r, step):
    return {v[0]: int(v[1], 0) for v in of_step(r, 'vfio_poll', step)}


def allocs(r, step):
    return {v[0]: (int(v[1]), int(v[2])) for v in of_step(r, 'vfio_alloc',
                                                          step)}


def fired(r, step, batches=None):
    """Faults the step's faulting DMAs must make, by the mode's data."""
    return [(v[0], int(v[1]), int(v[2]))
            for v in of_step(r, 'vfio_fired', step)
            if batches is None or v[0] in batches]


def step_records(r, step):
    """The driver's 'records' counter after - before the step, or None."""
    got = of_step(r, 'vfio_step_records', step)
    if not got or not all(x.isdigit() for x in got[0][:2]):
        return None
    return int(got[0][1]) - int(got[0][0])


def is_lost_only(u, rec):
    return rec['reason'] == u.need('reason', 'NONE')


def accounted(u, recs):
    """Faults the records account for: each fault record, and the lost."""
    lost = u.need('flag', 'LOST')
    return sum((0 if is_lost_only(u, x) else 1) +
               (x['lost'] if x['flags'] & lost else 0) for x in recs)


def sequence_problems(u, recs, first=0):
    """What breaks the numbering: each fault record takes the next number
    after those lost just before it; a lost-only record has the number of
    the next fault.  Returns (problems, the next number)."""
    lost_flag = u.need('flag', 'LOST')
    nxt, bad = first, []
    for x in recs:
        lost = x['lost'] if x['flags'] & lost_flag else 0
        if x['flags'] & lost_flag and not x['lost']:
            bad.append(f'LOST with lost 0: {x}')
        if not x['flags'] & lost_flag and x['lost']:
            bad.append(f'lost {x["lost"]} without LOST: {x}')
        if is_lost_only(u, x) and not x['flags'] & lost_flag:
            bad.append(f'reason NONE without LOST: {x}')
        if x['sequence'] != (nxt + lost) & 0xffffffff:
            bad.append(f'sequence {x["sequence"]}, expected {nxt} + lost '
                       f'{lost}: {x}')
        nxt = x['sequence'] + (0 if is_lost_only(u, x) else 1)
    return bad, nxt


def show(recs):
    return '\n'.join(str(x) for x in recs) or '(no records)'


# --- the checks -------------------------------------------------------------

def perm_name(mode, i, rw):
    """The access the IOMMU reports for main DMA i, '' for none: the DMA's
    direction unless the mode says otherwise (as in faults.py)."""
    return rw.upper() if mode.perms is None else mode.perms[i]


def want_addrs(mode, iova, length):
    """The addresses of a DMA's records: one per access of fault_unit
    bytes, or one per transfer, compared by page (see the module doc)."""
    if mode.fault_unit:
        return [iova + k * mode.fault_unit
                for k in range(mode.faults_per_dma(length))]
    return [iova & ~(PAGE - 1)]


def addr_key(mode, addr):
    return addr if mode.fault_unit else addr & ~(PAGE - 1)


def fault_record_problems(u, rec, reason, perm):
    """How one fault record differs from what its DMA must give: perm is
    an IOMMU_PGFAULT_PERM_* name, '' for none."""
    want = {
        'flags': u.need('flag', 'ADDR_VALID'),
        'dev_id': rec['bound'],
        'reason': u.need('reason', reason),
        'perm': u.need('perm', perm) if perm else 0,
        'reserved': 0,
        'lost': 0,
    }
    return [f'{k} {rec.get(k)} (want {v})' for k, v in want.items()
            if rec.get(k) != v]


def checks(label, arch, mode, u):
    unit = mode.faults_per_dma

    def ran(r):
        exits = {v[0]: v[1] for v in r.result('vfio_exit')}
        errors = r.result('vfio_error') + r.result('vfio_unsupported')
        ok = all(exits.get(s) == '0' for s in STEPS) and not errors
        return ok, (f'exit status per step: {exits}; errors: {errors}\n'
                    f'{r.where()}')

    def bound(r):
        ok = (r.first('vfio_driver') == 'vfio-pci' and
              all(devids(r, s) for s in STEPS))
        return ok, (f'driver {r.first("vfio_driver")}, cdev '
                    f'{r.first("vfio_cdev")}, dev_ids per step '
                    f'{[devids(r, s) for s in STEPS]}\n{r.where()}')

    def bad_allocs(r):
        got = allocs(r, 'main')
        bad = {w: got.get(w) for w in BAD_ALLOCS
               if got.get(w, (0, 0))[0] != -1}
        return not bad, (f'accepted or not tried: {bad}\nall: {got}\n'
                         f'{r.where()}')

    def one_queue(r):
        got = allocs(r, 'main')
        ok = got.get('ok', (None,))[0] == 0 and \
            got.get('second', (None,))[0] == -1
        return ok, f'{got}\n{r.where()}'

    def control(r):
        c = of_step(r, 'vfio_control', 'main')
        p = polls(r, 'main').get('after_control')
        return (bool(c) and c[0][0] == 'ok' and p == 0,
                f'control DMA {c}, poll after it {p} (want ok, 0)\n'
                f'{r.where()}')

    def main_dma(i):
        def check(r):
            d = dmas(r, 'main', 'faults')
            if len(d) != len(MAIN):
                return False, f'DMAs {d}\n{r.where()}'
            direction, iova, length = d[i]
            if direction != MAIN[i][1]:
                return False, f'DMA {i} is a {direction}\n{r.where()}'
            recs = records(r, 'main', ('faults',))
            want = want_addrs(mode, iova, length)
            mine = [x for x in recs
                    if addr_key(mode, x['addr']) in
                    {addr_key(mode, a) for a in want}]
            got = sorted(addr_key(mode, x['addr']) for x in mine)
            problems = [p for x in mine for p in fault_record_problems(
                u, x, mode.reasons[i],
                perm_name(mode, i, direction))]
            ok = got == sorted(addr_key(mode, a) for a in want) and \
                not problems
            return ok, (f'want {len(want)} record(s) at '
                        f'{[hex(a) for a in want]}; problems: {problems}\n'
                        f'records:\n{show(recs)}\n{r.where()}')
        return check

    def one_per_fault(r):
        recs = records(r, 'main', ('faults',))
        want = sum(n * unit(length)
                   for _, n, length in fired(r, 'main', ('faults',)))
        driver = step_records(r, 'main')
        n = len(recs)
        return (n == want == driver and want == len(MAIN) * unit(MAIN_LEN),
                f'{n} records read; {want} expected from the DMAs '
                f'({mode.name}: {unit(MAIN_LEN)} per {MAIN_LEN}-byte DMA); '
                f'the driver read {driver} from the IOMMU in this step\n'
                f'{show(recs)}'
                f'\n{r.where()}')

    def numbered(r):
        recs = records(r, 'main')
        bad, _ = sequence_problems(u, recs)
        bad += [f'lost record in the main step: {x}' for x in recs
                if x['flags'] & u.need('flag', 'LOST')]
        bad += [f'reserved {x["reserved"]}: {x}'
                for s in STEPS for x in records(r, s) if x['reserved']]
        return not bad, '\n'.join(bad[:20]) + f'\n{r.where()}'

    def bad_reads(r):
        got = reads(r, 'main')
        bad = {w: got.get(w) for w in BAD_READS
               if got.get(w) is None or
               any(x[1:] != (-1, EINVAL) for x in got[w])}
        return not bad, (f'not -1/EINVAL ({EINVAL}): {bad}\n'
                         f'all reads: {got}\n{r.where()}')

    def good_reads(r):
        got = reads(r, 'main')
        p = polls(r, 'main')
        one = got.get('one', [None])[0]
        big = got.get('big', [None])[0]
        empty = got.get('empty', [None])[0]
        rec = 40
        problems = []
        if p.get('pending', 0) & select.POLLIN == 0:
            problems.append(f'poll with records queued: {p.get("pending")}')
        if one is None or one[1] != rec:
            problems.append(f'read of {rec} bytes: {one}')
        if big is None or big[1] <= 0 or big[1] % rec or big[1] >= big[0]:
            problems.append(f'first oversized read: {big}')
        if empty is None or empty[1] != 0:
            problems.append(f'read of the empty queue: {empty}')
        if p.get('empty') is None or p['empty'] & select.POLLIN:
            problems.append(f'poll of the empty queue: {p.get("empty")}')
        return not problems, (f'{problems}\nreads {got}\npolls {p}\n'
                              f'{r.where()}')

    # overflow
    def ovf_lost(r):
        recs = records(r, 'overflow', ('overflow',))
        lost_flag = u.need('flag', 'LOST')
        first = next((i for i, x in enumerate(recs)
                      if x['flags'] & lost_flag), None)
        lost = sum(x['lost'] for x in recs if x['flags'] & lost_flag)
        before = len(recs) if first is None else first
        ok = first is not None and lost > 0 and before <= OVF_DEPTH
        return ok, (f'{fired(r, "overflow", ("overflow",))} faulting DMAs '
                    f'with a queue of {OVF_DEPTH}: {before} records before '
                    f'the first LOST, {lost} lost in all\n{show(recs)}\n'
                    f'{r.where()}')

    def ovf_adds_up(r):
        recs = records(r, 'overflow')
        got = accounted(u, recs)
        want = sum(n * unit(length) for _, n, length
                   in fired(r, 'overflow'))
        driver = step_records(r, 'overflow')
        return (got == want == driver and want > 0,
                f'records + lost = {got}; the DMAs make {want}; the driver '
                f'read {driver} in this step\n{show(recs)}\n{r.where()}')

    def ovf_numbered(r):
        recs = records(r, 'overflow')
        bad, nxt = sequence_problems(u, recs)
        total = accounted(u, recs)
        if nxt != total:
            bad.append(f'numbered up to {nxt}, {total} faults accounted')
        return not bad, '\n'.join(bad[:20]) + f'\n{show(recs)}\n{r.where()}'

    def ovf_again(r):
        recs = records(r, 'overflow', ('again',))
        d = dmas(r, 'overflow', 'again')
        want = [(a, direction) for direction, iova, length in d
                for a in want_addrs(mode, iova, length)]
        problems = [p for x in recs for p in fault_record_problems(
            u, x, mode.reasons[0], perm_name(mode, 0, 'write'))]
        got = [addr_key(mode, x['addr']) for x in recs]
        ok = (got == [addr_key(mode, a) for a, _ in want] and
              not problems and bool(d))
        return ok, (f'want {[hex(a) for a, _ in want]}, problems '
                    f'{problems}\n{show(recs)}\n{r.where()}')

    # hup
    def hup(r):
        p = polls(r, 'hup')
        recs = records(r, 'hup', ('unbound',))
        want = sum(n * unit(length) for _, n, length in fired(r, 'hup'))
        problems = [q for x in recs for q in fault_record_problems(
            u, x, mode.reasons[0], perm_name(mode, 0, 'write'))]
        bad, _ = sequence_problems(u, recs)
        ok = (p.get('bound') == 0 and
              p.get('unbound', 0) & select.POLLHUP and
              p.get('drained', 0) & select.POLLHUP and
              not p.get('drained', 0) & select.POLLIN and
              len(recs) == want == step_records(r, 'hup') and
              not problems and not bad)
        return ok, (f'polls {p} (POLLIN {select.POLLIN:#x}, POLLHUP '
                    f'{select.POLLHUP:#x}); {len(recs)} records read after '
                    f'unbind, {want} queued before it (driver '
                    f'{step_records(r, "hup")}); {problems} {bad}\n'
                    f'{show(recs)}\n{r.where()}')

    # close
    def reopened(r):
        a = allocs(r, 'close')
        recs = records(r, 'close', ('reopened',))
        d = dmas(r, 'close', 'reopened')
        want = [a_ for _, iova, length in d
                for a_ in want_addrs(mode, iova, length)]
        problems = [q for x in recs for q in fault_record_problems(
            u, x, mode.reasons[0], perm_name(mode, 0, 'write'))]
        bad, _ = sequence_problems(u, recs)
        ok = (a.get('ok', (None,))[0] == 0 and
              a.get('again', (None,))[0] == 0 and
              [addr_key(mode, x['addr']) for x in recs] ==
              [addr_key(mode, x) for x in want] and not problems and
              not bad)
        return ok, (f'allocations {a}; want records at '
                    f'{[hex(x) for x in want]}; {problems} {bad}\n'
                    f'{show(recs)}\n{r.where()}')

    def max_depth(r):
        a = allocs(r, 'close').get('max_depth')
        return a == (0, 0), f'{a}\n{r.where()}'

    def close_counted(r):
        want = sum(n * unit(length) for _, n, length in fired(r, 'close'))
        driver = step_records(r, 'close')
        return want == driver and want > 0, (
            f'the DMAs of the step make {want} faults, the driver read '
            f'{driver}\n{r.where()}')

    def adds_up(r):
        qemu = len(r.trace_lines(mode.trace))
        read = sum(accounted(u, records(r, s)) for s in STEPS)
        unread = sum(n * unit(length) for s in STEPS
                     for b, n, length in fired(r, s)
                     if b.startswith('unread'))
        return (qemu == read + unread and qemu > 0,
                f'QEMU recorded {qemu} ({mode.trace}); records + lost '
                f'{read}; faults left unread at close {unread}\n'
                f'{r.where()}')

    counters = counters_check(mode)

    out = [
        (f'{label}: every step ran', ran),
        (f'{label}: edu given to vfio-pci and bound to an iommufd', bound),
        (f'{label}: queue allocation refuses flags, reserved, depth 0 or '
         f'too deep, ids that are not a bound device', bad_allocs),
        (f'{label}: one queue per device: a second is refused', one_queue),
        (f'{label}: a mapped DMA works and queues nothing', control),
    ]
    for i, (what, rw) in enumerate(MAIN):
        perm = perm_name(mode, i, rw) or 'no access given'
        out.append((f'{label}: the {what}: {unit(MAIN_LEN)} record(s) '
                    f'with the dev_id, IOVA, {perm}, {mode.reasons[i]}',
                    main_dma(i)))
    out += [
        (f'{label}: one record per fault, as many as the driver read',
         one_per_fault),
        (f'{label}: sequence numbers from 0, nothing lost, reserved 0',
         numbered),
        (f'{label}: read() of a size not a multiple of 40 gives EINVAL, '
         'queue full or empty', bad_reads),
        (f'{label}: read() returns whole records: 1 of 1, all of many, 0 '
         'when empty; poll() agrees', good_reads),
        (f'{label}: overflow: the records before the loss fit the depth, '
         'the loss is reported', ovf_lost),
        (f'{label}: overflow: records + lost = faults recorded', ovf_adds_up),
        (f'{label}: overflow: sequence numbers agree with the lost counts',
         ovf_numbered),
        (f'{label}: overflow: drained, the queue takes faults again',
         ovf_again),
        (f'{label}: unbind: EPOLLHUP, and queued records can be read', hup),
        (f'{label}: close: the largest depth is accepted', max_depth),
        (f'{label}: close: a queue closed and created again works from 0',
         reopened),
        (f'{label}: close: every fault of the step was read by the driver',
         close_counted),
        (f'{label}: QEMU\'s count = records + lost + left unread', adds_up),
    ]
    if mode.counters:
        out.append((f'{label}: driver counters: every record read, none '
                    'dropped, unattributed or lost to overflow', counters))
    return out


def run_group(s, label, arch, mode, scenario, checks, summary=None, **kw):
    """One VFIO group: build the programs, boot the series with scenario,
    run checks(label, arch, mode, uapi) on the result and, if given,
    record summary(run, arch, mode, uapi) as the group's measurement.
    The vfio-flood and vfio-teardown groups run this way too."""
    try:
        s.chain.progs(series(), arch)
        s.check(f'{label}: test programs built', True)
    except Exception as e:
        s.not_run([f'{label}: test programs built'], e)
    r = boot(s, arch, mode, scenario, **kw)
    u = Uapi(kbuild.source(series()))
    scenario_checks(s, label, r, checks(label, arch, mode, u))
    if summary and not isinstance(r, Exception):
        try:
            s.measure(label, summary(r, arch, mode, u))
        except Exception as e:
            s.measure(label, f'no summary: {e!r}')


def group(arch, mode):
    label = f'vfio-{mode.name}-{arch.name}'

    def t(s):
        run_group(s, label, arch, mode, 'vfio', checks,
                  params=params(arch, mode))
    return label, t


def groups():
    return [group(arches.get(a), m) for m in modes_with_records()
            for a in m.arches]
