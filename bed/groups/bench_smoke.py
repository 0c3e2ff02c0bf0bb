"""Groups 'bench-faultpath-<mode>-<arch>': P3 and P4 of 'make bench' with a
tiny storm on the series' debug kernel, so that the benchmark cannot rot
(scenario tests/scenarios/faultpath.sh, data in bed/bench_paths.py).  One
VM per IOMMU of P3, every series path, memory sampled as P4 does.  Nothing
here is timed: the checks are that each path was measured (its interrupt,
thread and work intervals seen), that every fault QEMU recorded reached the
path's end, and that the memory samples are there.
"""

from dataclasses import replace

from .. import arches, bench_paths, modes
from ..bench import ICOUNT
from . import run_measured

# DMAs per run: a few faults where a DMA records one, one DMA where it
# records one per 4 bytes
SMOKE_DMAS = 3


def checks(label, mode, p, paths):
    per_run = p.storm.count * mode.faults_per_dma(p.storm.length)

    def lines(r):
        return {v[1]: dict(zip(v[0::2], v[1::2])) for v in r.result('p3')}

    def kinds(r):
        return {v[1]: set(v[4::2]) for v in r.result('p3_by')}

    # what each path's time must have been seen in: the IOMMU's interrupt
    # or IRQ thread, and on the series' handler paths the core's work
    def want(path):
        w = {'irq_thread'} if p.threads else {'irq'}
        if path != 'print':
            w |= set(bench_paths.CORE_WORKS)
        return w

    def measured(r):
        got, seen = lines(r), kinds(r)
        ok = (set(got) == set(paths) and not r.result('p3_missing') and
              all(f.get('open') == '0' for f in got.values()) and
              all(want(path) <= seen.get(path, set()) for path in paths) and
              r.first_int('p3_overrun', -1) == 0)
        return ok, (f'paths measured: {got}; seen in: {seen}; not traced: '
                    f'{r.result("p3_missing") or "nothing"}; trace buffer '
                    f'overruns: {r.first("p3_overrun")}\n{r.where()}')

    def recorded(r):
        qemu = len(r.trace_lines(mode.trace))
        return (qemu == per_run * len(paths),
                f'QEMU recorded {qemu}, the runs should record '
                f'{per_run * len(paths)}\n{r.where()}')

    def reached(r):
        # the handler may be behind a 1,023-event DMA: the IOMMU core
        # refuses what it cannot queue (the storm group checks that);
        # here each record read from the iommufd queue, or counted lost
        got = lines(r)
        h = got.get('handler', {})
        q = got.get('iommufd', {})
        ok = (0 < int(h.get('delivered', 0)) <= per_run and
              int(q.get('delivered', 0)) + int(q.get('lost', 0)) == per_run)
        return ok, (f'{per_run} faults per run; handler got '
                    f'{h.get("delivered")}; iommufd read '
                    f'{q.get("delivered")}, lost {q.get("lost")}\n'
                    f'{r.where()}')

    def memory(r):
        got = {(v[1], v[4]) for v in r.result('p4_mem')
               if {'Slab', 'kmalloc'} <= set(v[5::2])}
        want = {(path, w) for path in paths
                for w in ('before', 'peak', 'after')}
        return got == want, (f'memory samples with Slab and kmalloc '
                             f'{sorted(got)}, want {sorted(want)}\n'
                             f'{r.where()}')

    return [(f'{label}: every path measured, in the interrupt or IRQ thread '
             f'and the core\'s work, nothing left open or lost', measured),
            (f'{label}: QEMU recorded every fault of the runs', recorded),
            (f'{label}: the handler and the iommufd queue got the faults',
             reached),
            (f'{label}: memory sampled before, during and after each run',
             memory)]


def group(p):
    arch = arches.get(p.arch)
    mode = modes.get(p.mode, arch.name)
    label = f'bench-faultpath-{mode.name}-{arch.name}'
    p = replace(p, storm=replace(
        p.storm, count=1 if mode.fault_unit else SMOKE_DMAS))
    paths = bench_paths.SERIES_PATHS

    def t(s):
        run_measured(
            s, label, arch, mode, 'faultpath', checks(label, mode, p, paths),
            lambda r: ', '.join(f'{v[1]} {v[5]} ns' for v in
                                r.result('p3')) + ' (debug kernel, no '
                                'timing)',
            params=bench_paths.vm_params(p, mode, paths, 1, True),
            qemu_extra=ICOUNT)
    return label, t


def groups():
    return [group(p) for p in bench_paths.PATHS]
