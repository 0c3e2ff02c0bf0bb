"""Groups 'unplug-<mode>-<arch>': the edu device taken from its fault
handler while its DMA faults flow: hot-unplugged and rescanned, its driver
module removed and loaded again, its driver unbound and bound again
(scenario tests/scenarios/unplug.sh).  Each time the handler must have been
receiving faults when the removal began, the device must fault into its
new handler once it is back, and no handler may be called after its
unregistration returned: the edu driver warns on such a call, and a call
after its data is freed is a KASAN report, which the clean-log check
catches.  Over the whole run every fault QEMU recorded must be accounted
for: given to a handler, refused by the IOMMU core (no handler any more,
or the handler behind), or counted by the IOMMU driver as dropped or from
an unknown requester (the device was gone when its record was read).
"""

import re
from errno import ENODEV, ENOENT, ENOSPC

from .. import arches, modes
from . import run_measured
from .faults import counter
from .storm import STORM_QEMU

PHASES = ('unplug', 'rmmod', 'unbind')

# Each DMA is 4 bytes: one fault on every IOMMU.  The handler must have had
# FLOW faults of the background DMA before a removal starts, and AFTER
# faulting DMAs must reach the handler bound afterwards.
LEN = 4
FLOW = 20
AFTER = 3

# What the IOMMU core may answer for a record of a device being taken away
REFUSALS = {-ENOENT: 'no handler', -ENOSPC: 'handler behind',
            -ENODEV: 'device left its IOMMU'}

GONE_RE = re.compile(r'fault handler unregistered after (\d+) faults')


def handler_totals(r):
    """Faults each unregistered handler had, from the edu driver's log."""
    return [int(m.group(1)) for line in r.kernel_log()
            for m in [GONE_RE.search(line)] if m]


def per_phase(r, key):
    """{phase: [values]} of result key, whose first value names the phase"""
    return {v[0]: v[1:] for v in r.result(key) if v}


def checks(label, mode):
    def removed(r):
        rcs = per_phase(r, 'phase')
        flowed = per_phase(r, 'phase_flowed')
        ok = all(rcs.get(p) == ['0'] and flowed.get(p) and
                 int(flowed[p][0]) >= FLOW for p in PHASES)
        return (ok, f'removal status per phase: {rcs}; faults the handler '
                f'had received when each began: {flowed} (at least {FLOW} '
                f'wanted)\n{r.where()}')

    def came_back(r):
        after = per_phase(r, 'phase_after')
        ok = all(after.get(p) and int(after[p][0]) >= AFTER for p in PHASES)
        return (ok, f'faults the handler bound afterwards received, per '
                f'phase: {after} (at least {AFTER} wanted)\n{r.where()}')

    def unregistered(r):
        totals = handler_totals(r)
        return (len(totals) == len(PHASES) and all(totals),
                f'handlers unregistered, with their faults: {totals} '
                f'(one per phase expected)\n{r.where()}')

    def accounted(r):
        qemu = len(r.trace_lines(mode.trace))
        delivered = sum(handler_totals(r)) + r.first_int('handler_final', 0)
        refused = r.first_int('core_refused', 0)
        dropped = counter(r, 'dropped') or 0
        unknown = counter(r, 'unknown') or 0
        return (delivered + refused + dropped + unknown == qemu,
                f'delivered {delivered} + refused by the core {refused} + '
                f'dropped by the driver {dropped} + unknown requester '
                f'{unknown}, QEMU recorded {qemu}\n{r.where()}')

    def refusals(r):
        codes = {int(v[0]): int(v[1])
                 for v in r.result('core_refused_count')}
        overrun = [v for v in r.result('trace_overrun')
                   if any(x != '0' for x in v)]
        missing = r.result('trace_missing')
        return (set(codes) <= set(REFUSALS) and not overrun and not missing,
                f'refused records by result: {codes or "none"} (allowed: '
                f'{REFUSALS}); trace overruns: {overrun or "none"}; '
                f'tracepoint: {missing or "set up"}\n{r.where()}')

    out = [
        (f'{label}: each removal began while the handler received faults, '
         f'and completed', removed),
        (f'{label}: each removal unregistered the handler once',
         unregistered),
        (f'{label}: the device faulted into a new handler after each return',
         came_back),
        (f'{label}: delivered + refused + dropped + unknown = recorded by '
         f'QEMU', accounted),
        (f'{label}: the core refused records only for a reason of removal',
         refusals)]
    if mode.counters:
        def read_all(r):
            qemu = len(r.trace_lines(mode.trace))
            records = counter(r, 'records')
            return records == qemu, f'records {records}, QEMU {qemu}'
        out.append((f'{label}: the driver read every record', read_all))
    return out


def params(mode):
    per = mode.faults_per_dma(LEN)
    return {'unplug_len': LEN, 'unplug_flow': FLOW, 'unplug_after': AFTER,
            'unplug_after_faults': AFTER * per}


def group(arch, mode):
    label = f'unplug-{mode.name}-{arch.name}'

    def t(s):
        run_measured(
            s, label, arch, mode, 'unplug', checks(label, mode),
            lambda r: f'{len(r.trace_lines(mode.trace))} faults, '
                      f'handlers {handler_totals(r)} + '
                      f'{r.first_int("handler_final", 0)}, '
                      f'{r.first_int("core_refused", 0)} refused by the '
                      f'core, VM boot to power-off {r.seconds:.0f} s',
            params=params(mode), qemu_extra=STORM_QEMU)
    return label, t


def groups():
    # each mode on its first architecture: the removal paths are the PCI
    # core's and the IOMMU driver's, not the machine's
    return [group(arches.get(m.arches[0]), m) for m in modes.MODES]
