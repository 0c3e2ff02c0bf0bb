"""Groups 'storm-<mode>-<arch>': a fault storm with the handler registered
(scenario tests/scenarios/storm.sh; its shape is the mode's, modes.py).
The VM must finish with no lockup, stall or splat, and every fault QEMU
recorded must be delivered to the handler or counted as dropped.
"""

from .. import arches, modes
from . import boot, scenario_checks
from .faults import counter

# edu's DMA completes 100 ms of virtual time after it starts; with icount
# and sleep=off an idle guest jumps to that deadline at once, and guest
# time counts instructions, whatever else the host is doing
STORM_QEMU = ('-icount', 'shift=0,sleep=off')


def checks(label, mode):
    storm = mode.storm
    want = storm.count * mode.faults_per_dma(storm.length)

    def recorded(r):
        qemu = len(r.trace_lines(mode.trace))
        return (qemu == want, f'QEMU recorded {qemu} ({mode.trace}), the '
                f'storm should record {want}\n{r.where()}')

    def delivered(r):
        qemu = len(r.trace_lines(mode.trace))
        got = r.first_int('handler_faults')
        dropped = counter(r, 'fault_records_dropped') or 0
        return (got + dropped == qemu, f'delivered {got} + dropped '
                f'{dropped}, QEMU recorded {qemu}\n{r.where()}')

    def read_all(r):
        qemu = len(r.trace_lines(mode.trace))
        records = counter(r, 'fault_records')
        return records == qemu, f'fault_records {records}, QEMU {qemu}'

    out = [
        (f'{label}: QEMU recorded every fault of the storm', recorded),
        (f'{label}: delivered + dropped = recorded by QEMU', delivered)]
    if mode.counters:
        out.append((f'{label}: the driver read every record', read_all))
    return out


def params(mode):
    """The storm scenario's kernel command line parameters for mode."""
    storm = mode.storm
    return {'storm_len': storm.length, 'storm_count': storm.count,
            'storm_faults': storm.count * mode.faults_per_dma(storm.length)}


def group(arch, mode):
    label = f'storm-{mode.name}-{arch.name}'

    def t(s):
        r = boot(s, arch, mode, 'storm', params=params(mode),
                 qemu_extra=STORM_QEMU)
        scenario_checks(s, label, r, checks(label, mode))
        if not isinstance(r, Exception):
            s.measure(label, f'{len(r.trace_lines(mode.trace))} faults, VM '
                      f'boot to power-off {r.seconds:.0f} s')
    return label, t


def groups():
    return [group(arches.get(a), m) for m in modes.MODES if m.storm
            for a in m.arches]
