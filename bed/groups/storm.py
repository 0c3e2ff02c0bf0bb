"""Groups 'storm-<mode>-<arch>': a fault storm with the handler registered
(scenario tests/scenarios/storm.sh; its shape is the mode's, modes.py).
The VM must finish with no lockup, stall or splat, and every fault QEMU
recorded must be delivered to the handler, counted as dropped by the IOMMU
driver, or refused by the IOMMU core, as its dev_fault tracepoint shows.
The core may refuse records only for the reason it documents: -ENOSPC, its
bound on the records waiting for one device's handler.
"""

from errno import ENOSPC

from .. import arches, modes
from . import run_measured
from .faults import counter

# edu's DMA completes 100 ms of virtual time after it starts; with icount
# and sleep=off an idle guest jumps to that deadline at once, and guest
# time counts instructions, whatever else the host is doing
STORM_QEMU = ('-icount', 'shift=0,sleep=off')


def checks(label, mode, storm=None, refusals=(-ENOSPC,)):
    """The storm's checks; storm: its shape, by default the mode's;
    refusals: the results the core may give a record it does not queue."""
    storm = storm or mode.storm
    want = storm.count * mode.faults_per_dma(storm.length)

    def recorded(r):
        qemu = len(r.trace_lines(mode.trace))
        return (qemu == want, f'QEMU recorded {qemu} ({mode.trace}), the '
                f'storm should record {want}\n{r.where()}')

    def delivered(r):
        qemu = len(r.trace_lines(mode.trace))
        got = r.first_int('handler_faults')
        dropped = counter(r, 'dropped') or 0
        refused = r.first_int('core_refused', 0)
        return (got + dropped + refused == qemu,
                f'delivered {got} + dropped by the driver {dropped} + '
                f'refused by the core {refused}, QEMU recorded {qemu}\n'
                f'{r.where()}')

    def refused_why(r):
        codes = [c for v in r.result('core_refused_codes') for c in v]
        lost = [v for v in r.result('trace_overrun') if v != ['0'] and
                any(x != '0' for x in v)]
        missing = r.result('trace_missing')
        return (set(codes) <= {str(c) for c in refusals} and not lost and
                not missing,
                f'dev_fault results of refused records: {codes or "none"} '
                f'(only {", ".join(map(str, refusals))} expected); trace '
                f'buffer '
                f'overruns: {lost or "none"}; tracepoint set up: '
                f'{"no: " + str(missing) if missing else "yes"}\n'
                f'{r.where()}')

    def read_all(r):
        qemu = len(r.trace_lines(mode.trace))
        records = counter(r, 'records')
        return records == qemu, f'records {records}, QEMU {qemu}'

    out = [
        (f'{label}: QEMU recorded every fault of the storm', recorded),
        (f'{label}: delivered + dropped + refused = recorded by QEMU',
         delivered),
        (f'{label}: the core refused records only when the handler was '
         f'behind' + ('' if refusals == (-ENOSPC,) else ' or memory ran out'),
         refused_why)]
    if mode.counters:
        out.append((f'{label}: the driver read every record', read_all))
    return out


def params(mode, storm=None):
    """The storm scenario's kernel command line parameters for mode and
    storm, by default the mode's storm shape."""
    storm = storm or mode.storm
    return {'storm_len': storm.length, 'storm_count': storm.count,
            'storm_faults': storm.count * mode.faults_per_dma(storm.length)}


def group(arch, mode):
    label = f'storm-{mode.name}-{arch.name}'

    def t(s):
        run_measured(
            s, label, arch, mode, 'storm', checks(label, mode),
            lambda r: f'{len(r.trace_lines(mode.trace))} faults, '
                      f'{r.first_int("handler_faults")} delivered, '
                      f'{r.first_int("core_refused", 0)} refused by the '
                      f'core, VM boot to power-off {r.seconds:.0f} s',
            params=params(mode), qemu_extra=STORM_QEMU)
    return label, t


def groups():
    return [group(arches.get(a), m) for m in modes.MODES if m.storm
            for a in m.arches]
