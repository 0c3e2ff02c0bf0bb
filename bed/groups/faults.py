"""Groups 'faults-<mode>-<arch>': real DMA faults reach the edu driver's
fault handler, one record each, with the generic reason the IOMMU mode's
spec gives (modes.py); after unregister the driver's log line is back; the
counts add up against QEMU's own trace.  Scenario tests/scenarios/faults.sh.
"""

from .. import abi, arches, kbuild, klog, modes
from . import boot, scenario_checks, series

# The scenario's DMAs: (what, IOVA, direction); 'ro' is the page the edu
# driver mapped read-only.  Then, after unregister, a write to AFTER.
DMAS = [
    ('DMA write to never-mapped 0xdead000', 0xdead000, 'write'),
    ('DMA read of never-mapped 0xdeae000', 0xdeae000, 'read'),
    ('DMA write to the read-only page', 'ro', 'write'),
]
AFTER = 0xdeaf000


def handler_records(r):
    """The edu driver's fault log: one dict per 'handler_fault' line."""
    out = []
    for fields in r.result('handler_fault'):
        rec = dict(zip(fields[0::2], fields[1::2]))
        for k in list(rec):
            if k != 'dev':
                rec[k] = int(rec[k], 0)
        out.append(rec)
    return out


def counter(r, name):
    """A counter of the IOMMU driver, summed over its IOMMU units."""
    got = [v[1] for v in r.result('iommu_counter') if v[0] == name]
    if not got or not all(x.isdigit() for x in got):
        return None
    return sum(int(x) for x in got)


def counters_check(mode):
    """A check that each of the mode's driver counters (mode.counters) has
    its expected value: a number, or QEMU's count of faults (QEMU_COUNT)."""
    def counters(r):
        qemu = len(r.trace_lines(mode.trace))
        names = [name for name, _ in mode.counters]
        want = [qemu if w == modes.QEMU_COUNT else w
                for _, w in mode.counters]
        got = [counter(r, name) for name in names]
        return (got == want,
                f'{", ".join(names)}: {got}, expected {want} (QEMU '
                f'recorded {qemu})\n{r.where()}')
    return counters


def expected(r, mode):
    """[(what, iova, direction, reason name)] for this run."""
    ro = r.first_int('ro_iova')
    return [(what, ro if iova == 'ro' else iova, rw, reason)
            for (what, iova, rw), reason in zip(DMAS, mode.reasons)]


def perm_name(mode, i, rw):
    """The access the IOMMU reports for DMA i (3: the write after
    unregister), as an IOMMU_FAULT_PERM_* name, '' for none."""
    return rw.upper() if mode.perms is None else mode.perms[i]


def checks(label, arch, mode, names):
    parse_log = klog.PARSERS[mode.log_parser]
    dev = arch.edu_addr

    def registered(r):
        return (r.first('handler') == '1',
                f'fault_handler reads {r.first("handler")!r}\n{r.where()}')

    def one_record(i):
        def check(r):
            what, iova, rw, reason = expected(r, mode)[i]
            perm = perm_name(mode, i, rw)
            want = dict(dev=dev, type=names.value('type', 'DMA_UNRECOV'),
                        addr=iova,
                        perm=names.value('perm', perm) if perm else 0,
                        reason=names.value('reason', reason))
            recs = handler_records(r)
            match = [x for x in recs
                     if all(x.get(k) == v for k, v in want.items())]
            valid = names.value('flags', 'ADDR_VALID')
            shown = '\n'.join(str(x) for x in recs) or '(none)'
            return (len(match) == 1 and bool(match[0]['flags'] & valid),
                    f'expected one record with {want} and ADDR_VALID, '
                    f'found {len(match)}; the handler got:\n{shown}\n'
                    f'{r.where()}')
        return check

    def exactly(r):
        n, recs = r.first_int('handler_faults'), handler_records(r)
        return (n == len(DMAS) == len(recs),
                f'handler_faults {n}, records listed {len(recs)}\n'
                f'{r.where()}')

    def quiet(r):
        iovas = [e[1] for e in expected(r, mode)]
        logged = [f for f in parse_log(r.kernel_log()) if f.addr in iovas]
        return not logged, '\n'.join(f.describe() for f in logged)

    def nothing_after(r):
        after = r.first_int('handler_faults_after')
        return (after == 0 and r.first('handler_after') == '0',
                f'handler_faults_after {after}\n{r.where()}')

    def logged_again(r):
        logged = parse_log(r.kernel_log())
        direction = 'write' if perm_name(mode, 3, 'write') else None
        back = [f for f in logged if f.addr == AFTER and
                f.direction == direction and f.device == dev[5:]]
        return (len(back) == 1, 'logged:\n' +
                '\n'.join(f.describe() for f in logged) + '\n' + r.where())

    def adds_up(r):
        qemu = len(r.trace_lines(mode.trace))
        n = r.first_int('handler_faults')
        logged = len(parse_log(r.kernel_log()))
        return (qemu == n + logged == len(DMAS) + 1,
                f'QEMU recorded {qemu} ({mode.trace}); {n} went to the '
                f'handler, {logged} were logged; expected {len(DMAS)} + 1'
                f'\n{r.where()}')

    counters = counters_check(mode)

    out = [(f'{label}: edu driver registered a device fault handler',
            registered)]
    for i, (what, _, rw, reason) in enumerate(
            (w, i, rw, why) for (w, i, rw), why in zip(DMAS, mode.reasons)):
        perm = perm_name(mode, i, rw) or 'no access given'
        out.append((f'{label}: handler got the {what} as one record: '
                    f'{perm}, {reason}', one_record(i)))
    out += [
        (f'{label}: handler got exactly one record per fault', exactly),
        (f'{label}: faults the handler took are not logged', quiet),
        (f'{label}: after unregister the handler gets nothing',
         nothing_after),
        (f'{label}: after unregister the driver logs the fault again',
         logged_again),
        (f'{label}: QEMU\'s count = handler records + logged faults',
         adds_up),
    ]
    if mode.counters:
        out.append((f'{label}: driver counters: every record read, none '
                    'dropped, unattributed or lost to overflow', counters))
    return out


def group(arch, mode):
    label = f'faults-{mode.name}-{arch.name}'

    def t(s):
        r = boot(s, arch, mode, 'faults')
        names = abi.Abi(kbuild.source(series()))
        scenario_checks(s, label, r, checks(label, arch, mode, names))
    return label, t


def groups():
    return [group(arches.get(a), m) for m in modes.MODES for a in m.arches]
