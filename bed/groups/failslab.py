"""Groups 'failslab-<mode>-<arch>': a fault storm, as the storm group's,
while failslab fails a share of the slab allocations made under
iommu_report_device_fault() and of no other (the stack filter of the
kernel's fault injection; scenario tests/scenarios/failslab.sh, which is
storm.sh with bed.failslab).  Every failure must be counted: each one
is a record the IOMMU core refuses with -ENOMEM, so the core's -ENOMEM
count equals the number of failures the fault injection made.  The
records that reach the handler, as far as the edu driver keeps them (its
last 32), are whole: the faulting address of the storm, its reason and
its access.  The storm's own checks apply too: nothing is lost between
QEMU and the handler, the driver read every record.

Page requests cannot come from QEMU 7.2; allocation failures on their
path are the iommufd selftests' (iommufd_fail_nth and iommufd_iopf_once).
"""

from errno import ENOMEM, ENOSPC

from .. import abi, arches, kbuild, modes
from . import run_measured, series, storm
from .faults import handler_records, perm_name

# failslab's probability, in percent, on the fault path
PERCENT = 10
# the storm: the mode's DMA length, as many DMAs as make about FAULTS
# faults (modes without a storm shape: one 4-byte DMA a fault)
FAULTS = 2000
STORM_IOVA = 0xdead000


def shape(mode):
    length = mode.storm.length if mode.storm else 4
    count = -(-FAULTS // mode.faults_per_dma(length))
    return modes.Storm(length=length, count=count)


def checks(label, mode, names):
    length = shape(mode).length

    def counted(r):
        injected = r.first_int('failslab_injected')
        codes = {int(v[0]): int(v[1])
                 for v in r.result('core_refused_count')}
        return (injected > 0 and codes.get(-ENOMEM, 0) == injected and
                set(codes) <= {-ENOMEM, -ENOSPC},
                f'failslab failed {injected} allocations (range '
                f'{r.result("failslab_range")}); the core refused, by '
                f'result: {codes} (only -ENOMEM, one per failure, and '
                f'-ENOSPC expected)\n{r.where()}')

    def whole(r):
        recs = handler_records(r)
        perm = perm_name(mode, 0, 'write')
        want = dict(type=names.value('type', 'DMA_UNRECOV'),
                    reason=names.value('reason', mode.reasons[0]),
                    perm=names.value('perm', perm) if perm else 0)
        valid = names.value('flags', 'ADDR_VALID')
        bad = [x for x in recs
               if any(x.get(k) != v for k, v in want.items()) or
               not x['flags'] & valid or
               not STORM_IOVA <= x['addr'] < STORM_IOVA + length]
        return (recs and not bad,
                f'{len(recs)} records listed, {len(bad)} not {want} with '
                f'ADDR_VALID and an address in the storm\'s '
                f'{length} bytes at {STORM_IOVA:#x}:\n' +
                '\n'.join(str(x) for x in bad[:10]) + f'\n{r.where()}')

    return [
        (f'{label}: each allocation failure is a record refused with '
         f'-ENOMEM', counted),
        (f'{label}: the records the edu driver kept (its last 32) are whole',
         whole),
    ] + storm.checks(label, mode, shape(mode), (-ENOSPC, -ENOMEM))


def group(arch, mode):
    label = f'failslab-{mode.name}-{arch.name}'

    def t(s):
        p = storm.params(mode, shape(mode))
        p['failslab'] = PERCENT
        names = abi.Abi(kbuild.source(series()))
        run_measured(
            s, label, arch, mode, 'failslab', checks(label, mode, names),
            lambda r: f'{len(r.trace_lines(mode.trace))} faults, '
                      f'{r.first_int("failslab_injected")} allocations '
                      f'failed, {r.first_int("handler_faults")} delivered, '
                      f'VM boot to power-off {r.seconds:.0f} s',
            params=p, qemu_extra=storm.STORM_QEMU)
    return label, t


def groups():
    # each mode on its first architecture
    return [group(arches.get(m.arches[0]), m) for m in modes.MODES]
