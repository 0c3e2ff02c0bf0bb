"""Groups 'vfio-teardown-<mode>-<arch>': a device fault queue torn down
while faults flow.  Scenario tests/scenarios/vfio-teardown.sh gives the edu
device to vfio-pci and runs three steps of tests/progs/vfio_fault.c, each
with a second thread that makes the device DMA-write never-mapped IOVAs
all along (one page further per DMA, so that a record's address names its
DMA):
- close-flowing: a queue read for PHASE_MS, closed mid-flow; PHASE_MS
  with no queue, when the IOMMU core finds no handler (-ENOENT) and the
  IOMMU driver logs the faults, ratelimited; a new queue, which must start
  at sequence 0 and get only faults of DMAs started after the first queue's
  close returned;
- detach-flowing: the device detached from its IOAS
  (VFIO_DEVICE_DETACH_IOMMUFD_PT) and attached again, the queue read all
  along: the queue is the device's, so records keep coming, and records +
  lost equal the faults exactly;
- unbind-flowing: the device fd closed with the queue open and records
  queued: EPOLLHUP, the records read, then read() returns 0.

One boot per mode, under -icount (as the flood's): edu's 100 ms per DMA
costs no host time, and each phase is PHASE_MS of guest time.  The flow's
DMAs are LENGTH bytes: one fault per DMA where the IOMMU records one per
transfer (VT-d), FAULTS_PER_DMA where it records one per access (SMMUv3).

Where each fault went, per step: read from a queue (records + lost), refused
for want of a handler (the core's iommu:dev_fault tracepoint with result
-ENOENT, counted per step by the scenario), or left unread in a queue /
in flight when it was torn down (the uapi drops those uncounted, so they
are bounded, not counted: IN_FLIGHT_DMAS).  The total a step must account
for is its DMAs seen done times the mode's faults per DMA (modes.py), which
the driver's 'records' counter must equal, and over the boot QEMU's trace
for the device (mode.trace_rid) must equal the steps' sum.
"""

import math

from .. import arches, klog
from .faults import counters_check
from .storm import STORM_QEMU
from .vfio import (accounted, fault_record_problems, is_lost_only,
                   modes_with_records, of_step, records, run_group,
                   sequence_problems, show, step_records)
from .vfio_flood import qemu_faults

PAGE = 0x1000
FLOW_PAGES = 4096              # vfio_fault.c: the flow's IOVAs wrap there
STEPS = {                      # step -> the flow's first IOVA (vfio_fault.c)
    'close-flowing': 0x9000000,
    'detach-flowing': 0xa000000,
    'unbind-flowing': 0xb000000,
}
DEPTH = 64                     # each queue's depth
PHASE_MS = 1500                # guest ms of each phase (about 15 DMAs)
FAULTS_PER_DMA = 64            # where the IOMMU records one per access
# DMAs whose faults may still be on their way (IOMMU driver thread, core
# work item) when a queue goes: a DMA takes 100 ms of guest time, the way
# from QEMU's record to the queue well under one; two leave room.
IN_FLIGHT_DMAS = 2
# the drivers' ratelimit for faults nobody took: DEFAULT_RATELIMIT_BURST
# lines per DEFAULT_RATELIMIT_INTERVAL (VT-d: dmar_fault_handle_one(),
# SMMUv3: the event dump)
RATELIMIT_BURST = 10
RATELIMIT_MS = 5000
ENOENT, EBADF = 2, 9
POLLIN, POLLHUP = 0x1, 0x10


def length(mode):
    return mode.fault_unit * FAULTS_PER_DMA if mode.fault_unit else 4


def params(arch, mode):
    return {'dev': arch.edu_addr, 'fault_unit': mode.fault_unit,
            'depth': DEPTH, 'phase_ms': PHASE_MS, 'length': length(mode)}


# --- what the run reported ------------------------------------------------

def marks(r, step):
    """{what: (DMAs started, DMAs done)} at the program's marks."""
    return {v[0]: (int(v[1]), int(v[2])) for v in of_step(r, 'vfio_mark',
                                                          step)}


def flow(r, step):
    v = of_step(r, 'vfio_flow', step)
    if not v:
        return None
    base, ln, started, done, err = v[0][:5]
    return {'base': int(base, 0), 'len': int(ln), 'started': int(started),
            'done': int(done), 'err': int(err)}


def core(r, step):
    """{result: count} of the device's iommu:dev_fault events in the step."""
    return {int(v[0]): int(v[1]) for v in of_step(r, 'core_result', step)}


def polls(r, step):
    return {v[0]: int(v[1], 0) for v in of_step(r, 'vfio_poll', step)}


def index(step, rec):
    """The flow DMA whose fault a record is."""
    return (rec['addr'] - STEPS[step]) // PAGE


def logged(r, arch, mode, step):
    """Faults of the flow the IOMMU driver logged during the step."""
    v = of_step(r, 'log_lines', step)
    if not v:
        return None
    lines = r.kernel_log()[int(v[0][0]):int(v[0][1])]
    dev = (r.first('vfio_dev') or '')[5:]
    base = STEPS[step]
    return [f for f in klog.PARSERS[mode.log_parser](lines)
            if f.device == dev and base <= f.addr < base + FLOW_PAGES * PAGE]


def overrun(r, step):
    v = of_step(r, 'trace_overrun', step)
    return [int(x) for x in v[0]] if v else None


# --- the checks -------------------------------------------------------------

def checks(label, arch, mode, u):
    unit = mode.faults_per_dma(length(mode))

    def faults(recs):
        """The fault records: a lost-only record has no address."""
        return [x for x in recs if not is_lost_only(u, x)]

    def made(r, step):
        """Faults the step's DMAs made: every DMA seen done faulted."""
        f = flow(r, step)
        return f['done'] * unit if f else None

    def ran(r):
        exits = {v[0]: v[1] for v in r.result('vfio_exit')}
        errors = (r.result('vfio_error') + r.result('vfio_unsupported') +
                  r.result('vfio_timeout') + r.result('error') +
                  r.result('trace_missing'))
        ok = (all(exits.get(s) == '0' for s in STEPS) and not errors and
              r.first('vfio_driver') == 'vfio-pci' and
              all(flow(r, s) and flow(r, s)['done'] > 0 for s in STEPS))
        return ok, (f'exit status per step {exits}, driver '
                    f'{r.first("vfio_driver")}; errors {errors}; flows '
                    f'{[flow(r, s) for s in STEPS]}\n{r.where()}')

    def traced(r):
        o = {s: overrun(r, s) for s in STEPS}
        return all(v is not None and not any(v) for v in o.values()), (
            f'trace buffer overruns per step {o}\n{r.where()}')

    def driver_counted(step, exact=True):
        def check(r):
            f = flow(r, step)
            got = step_records(r, step)
            events = sum(core(r, step).values())
            if exact:
                ok = f and got == events == f['done'] * unit > 0
            else:
                ok = (f and f['done'] * unit <= got <= f['started'] * unit
                      and got == events and got > 0)
            return ok, (f'the driver read {got} records; the core traced '
                        f'{events} reports {core(r, step)}; the flow '
                        f'{f} makes {unit} per DMA\n{r.where()}')
        return check

    def qemu_total(r):
        edu, other = qemu_faults(r, arch, mode)
        steps = [step_records(r, s) for s in STEPS]
        ok = None not in steps and edu == sum(steps) > 0 and other == 0
        return ok, (f'QEMU recorded {edu} faults of the device ({other} of '
                    f'others); the driver read {steps} per step\n'
                    f'{r.where()}')

    counters = counters_check(mode)

    # close-flowing
    C = 'close-flowing'

    def close_first(r):
        recs = records(r, C, ('first',))
        m = marks(r, C)
        bad, nxt = sequence_problems(u, recs)
        late = [x for x in faults(recs) if index(C, x) >= m['close_ret'][0]]
        ok = recs and not bad and not late
        return ok, (f'{len(recs)} records; {bad} {late}\n{show(recs)}\n'
                    f'{r.where()}')

    def close_gap(r):
        m = marks(r, C)
        n = core(r, C).get(-ENOENT, 0)
        lo = unit * max(0, m['alloc_call'][1] - m['close_ret'][0] -
                        IN_FLIGHT_DMAS)
        hi = unit * (m['alloc_ret'][0] - m['close_call'][1] + IN_FLIGHT_DMAS)
        gap = range(m['close_ret'][0], m['alloc_call'][1] - IN_FLIGHT_DMAS)
        seen = [x for x in faults(records(r, C)) if index(C, x) in gap]
        ok = 0 < n and lo <= n <= hi and not seen
        return ok, (f'{n} faults found no handler (core -ENOENT), between '
                    f'{lo} and {hi} expected from the marks {m}; records '
                    f'of DMAs {gap.start}..{gap.stop - 1}, made with no '
                    f'queue: {show(seen)}\n{r.where()}')

    def close_logged(step):
        def check(r):
            got = logged(r, arch, mode, step)
            n = core(r, step).get(-ENOENT, 0)
            v = of_step(r, 'log_lines', step)
            cap = RATELIMIT_BURST * (
                math.ceil((4 * PHASE_MS + 2000) / RATELIMIT_MS) + 1)
            ok = got is not None and 1 <= len(got) <= min(n, cap)
            return ok, (f'{None if got is None else len(got)} faults of '
                        f'the flow logged (log lines {v}), {n} found no '
                        f'handler, at most {cap} by the ratelimit\n'
                        f'{r.where()}')
        return check

    def close_second(r):
        recs = records(r, C, ('second',))
        m = marks(r, C)
        bad, nxt = sequence_problems(u, recs)
        if nxt != accounted(u, recs):
            bad.append(f'numbered up to {nxt}, {accounted(u, recs)} '
                       'accounted')
        early = [x for x in faults(recs) if index(C, x) < m['close_ret'][0]]
        problems = [p for x in recs if not is_lost_only(u, x)
                    for p in fault_record_problems(
                        u, dict(x, flags=x['flags'] & ~u.need('flag', 'LOST'),
                                lost=0), mode.reasons[0], 'WRITE')]
        ok = recs and not bad and not early and not problems
        return ok, (f'{len(recs)} records; numbering {bad}; of DMAs started '
                    f'before the first queue\'s close returned (DMA '
                    f'{m["close_ret"][0]}): {show(early)}; {problems[:5]}'
                    f'\n{show(recs)}\n{r.where()}')

    def close_adds_up(r):
        f = made(r, C)
        m = marks(r, C)
        a = accounted(u, records(r, C, ('first',)))
        b = accounted(u, records(r, C, ('second',)))
        n = core(r, C).get(-ENOENT, 0)
        left = None if f is None else f - a - b - n
        hi = unit * (m['close_ret'][0] - m['last_read'][1] + IN_FLIGHT_DMAS)
        ok = left is not None and 0 <= left <= hi
        return ok, (f'{f} faults = first queue {a} + no handler {n} + '
                    f'second queue {b} + {left} left in the first queue or '
                    f'in flight at its close (at most {hi}: DMAs '
                    f'{m["last_read"][1]}..{m["close_ret"][0]} and '
                    f'{IN_FLIGHT_DMAS} in flight)\n{r.where()}')

    # detach-flowing
    D = 'detach-flowing'

    def detach_ioctls(r):
        got = {v[0]: (int(v[1]), int(v[2])) for v in of_step(r, 'vfio_ioctl',
                                                             D)}
        return got == {'detach': (0, 0), 'attach': (0, 0)}, (
            f'{got}\n{r.where()}')

    def blocked(r):
        """(DMAs that surely ran while the device was detached, DMAs that
        may have)."""
        m = marks(r, D)
        return (max(0, m['attach_call'][1] - m['detach_ret'][0]),
                m['attach_ret'][0] - m['detach_call'][1])

    def detach_counted(r):
        f = flow(r, D)
        got = step_records(r, D)
        events = sum(core(r, D).values())
        lo, hi = blocked(r)
        if mode.blocked_reason:
            ok = got == events == f['done'] * unit > 0
            want = f'{f["done"] * unit}'
        else:
            # only the DMAs of an attached device fault, all or nothing
            ok = (got == events > 0 and got % unit == 0 and
                  unit * (f['done'] - hi) <= got <= unit * (f['done'] - lo))
            want = (f'{unit} per DMA but those of the detached device '
                    f'(between {lo} and {hi} of {f["done"]})')
        return ok, (f'the driver read {got} records; the core traced '
                    f'{events} reports {core(r, D)}; expected {want}\n'
                    f'{r.where()}')

    def detach_exact(r):
        recs = records(r, D)
        got = step_records(r, D)
        bad, nxt = sequence_problems(u, recs)
        total = accounted(u, recs)
        if nxt != total:
            bad.append(f'numbered up to {nxt}, {total} accounted')
        wrong = [x for x in recs if x['dev_id'] != x['bound']]
        ok = total == got and total > 0 and not bad and not wrong
        return ok, (f'records + lost = {total}, the driver read {got}; '
                    f'numbering {bad[:10]}; wrong dev_id {wrong[:5]}\n'
                    f'{show(recs)}\n{r.where()}')

    def detached(r):
        m = marks(r, D)
        gap = range(m['detach_ret'][0], m['attach_call'][1])
        recs = [x for x in faults(records(r, D)) if index(D, x) in gap]
        if not mode.blocked_reason:
            return not recs and len(gap) > 0, (
                f'DMAs {gap.start}..{gap.stop - 1} of the detached device '
                f'(no fault on {mode.name}): {show(recs)}\n{r.where()}')
        problems = [p for x in recs for p in fault_record_problems(
            u, dict(x, flags=x['flags'] & ~u.need('flag', 'LOST'), lost=0),
            mode.blocked_reason, 'WRITE')]
        return len(recs) == unit * len(gap) > 0 and not problems, (
            f'{len(recs)} records of DMAs {gap.start}..{gap.stop - 1}, '
            f'{unit * len(gap)} expected; {problems[:5]}\n{show(recs)}\n'
            f'{r.where()}')

    def detach_again(r):
        m = marks(r, D)
        recs = records(r, D)
        before = [x for x in faults(recs) if index(D, x) < m['detach_call'][1]]
        after = [x for x in faults(recs) if index(D, x) >= m['attach_ret'][0]]
        problems = [p for x in after + before if not is_lost_only(u, x)
                    for p in fault_record_problems(
                        u, dict(x, flags=x['flags'] & ~u.need('flag', 'LOST'),
                                lost=0), mode.reasons[0], 'WRITE')]
        ok = before and after and not problems
        return ok, (f'{len(before)} records before the detach, '
                    f'{len(after)} of DMAs started after the attach; '
                    f'{problems[:5]}\n{show(recs)}\n{r.where()}')

    # unbind-flowing
    U = 'unbind-flowing'

    def unbind_polls(r):
        p = polls(r, U)
        rd = [int(v[2]) for v in of_step(r, 'vfio_read', U)
              if v[0] == 'unbound']
        recs = records(r, U, ('unbound',))
        f = flow(r, U)
        ok = (p.get('before_unbind', 0) & POLLIN and
              p.get('unbound', 0) & POLLHUP and
              p.get('drained', 0) & POLLHUP and
              not p.get('drained', 0) & POLLIN and
              rd and rd[-1] == 0 and recs and f and f['err'] == EBADF)
        return ok, (f'polls {p}; reads after unbind {rd} (last must be '
                    f'0); {len(recs)} records read after unbind; the flow '
                    f'ended with errno {f and f["err"]} (EBADF {EBADF})\n'
                    f'{r.where()}')

    def unbind_numbered(r):
        recs = records(r, U)
        bad, _ = sequence_problems(u, recs)
        wrong = [x for x in recs if x['dev_id'] != x['bound']]
        return recs and not bad and not wrong, (
            f'{bad[:10]} {wrong[:5]}\n{show(recs)}\n{r.where()}')

    def unbind_adds_up(r):
        got = step_records(r, U)
        rd = accounted(u, records(r, U))
        n = core(r, U).get(-ENOENT, 0)
        dropped = None if got is None else got - rd - n
        hi = unit * IN_FLIGHT_DMAS
        ok = dropped is not None and 0 <= dropped <= hi
        return ok, (f'the driver read {got} = records + lost {rd} + no '
                    f'handler {n} + {dropped} in flight at unbind, dropped '
                    f'uncounted (at most {hi})\n{r.where()}')

    out = [
        (f'{label}: every step ran, faults flowing', ran),
        (f'{label}: the core\'s dev_fault trace lost no event', traced),
        (f'{label}: QEMU\'s faults of the device = the driver\'s records '
         'over the steps', qemu_total),
    ]
    if mode.counters:
        out.append((f'{label}: driver counters: every record read, none '
                    'dropped, unattributed or lost to overflow', counters))
    out += [
        (f'{label}: close: the driver read every fault of the DMAs, each '
         'reported to the core', driver_counted(C)),
        (f'{label}: close: the first queue got faults, numbered from 0, '
         'before its close', close_first),
        (f'{label}: close: with no queue, faults find no handler and reach '
         'no queue', close_gap),
        (f'{label}: close: the driver logs faults with no handler, '
         'ratelimited', close_logged(C)),
        (f'{label}: close: a new queue starts at sequence 0 with faults of '
         'DMAs after the close only', close_second),
        (f'{label}: close: read + no handler + left at close = the faults, '
         'what was left bounded', close_adds_up),
        (f'{label}: detach: detach and attach again succeed while faults '
         'flow', detach_ioctls),
        (f'{label}: detach: the driver read every fault of the DMAs, each '
         'reported to the core', detach_counted),
        (f'{label}: detach: records + lost = the faults the driver read, '
         'numbered without a gap', detach_exact),
        (f'{label}: detach: DMAs while detached: '
         + (f'one record each, WRITE, {mode.blocked_reason}'
            if mode.blocked_reason else 'no fault, no record'), detached),
        (f'{label}: detach: records before the detach and after the '
         f'attach, WRITE, {mode.reasons[0]}', detach_again),
        (f'{label}: unbind: EPOLLHUP, queued records read, then read() '
         'returns 0', unbind_polls),
        (f'{label}: unbind: the driver read every fault of the DMAs, each '
         'reported to the core', driver_counted(U, exact=False)),
        (f'{label}: unbind: sequence numbers agree with the lost counts',
         unbind_numbered),
        (f'{label}: unbind: read + no handler + dropped in flight = the '
         'faults, what was dropped bounded', unbind_adds_up),
    ]
    return out


def summary(r, arch, mode, u):
    parts = []
    for s in STEPS:
        f = flow(r, s)
        recs = records(r, s)
        lg = logged(r, arch, mode, s)
        parts.append(
            f'{s}: {f and f["done"]} DMAs ({f and f["started"]} started), '
            f'driver records {step_records(r, s)}, core results '
            f'{core(r, s)}, read {accounted(u, recs)} '
            f'({sum(1 for x in recs if not is_lost_only(u, x))} records), '
            f'logged {None if lg is None else len(lg)}')
    edu, other = qemu_faults(r, arch, mode)
    return (f'QEMU {edu} faults of the device (+{other}); ' +
            '; '.join(parts) + f'; VM boot to power-off {r.seconds:.0f} s')


def group(arch, mode):
    label = f'vfio-teardown-{mode.name}-{arch.name}'

    def t(s):
        run_group(s, label, arch, mode, 'vfio-teardown', checks, summary,
                  params=params(arch, mode), qemu_extra=STORM_QEMU)
    return label, t


def groups():
    return [group(arches.get(a), m) for m in modes_with_records()
            if m.flood for a in m.arches]
