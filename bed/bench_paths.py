"""P3 of 'make bench': guest time per unrecoverable fault in the IOMMU
driver's fault path, from the interrupt to the handler's return, on each
IOMMU (scenario tests/scenarios/faultpath.sh).

The paths, each against base's print path:
  base print       6.12: the driver prints the fault (ratelimited)
  series print     the series with no handler: reported, then printed
  series handler   the series with edu_fault's handler registered
  series iommufd   the series, the device given to vfio-pci and its faults
                   to user space through an iommufd device fault queue
Per IOMMU, as data (PATHS): the interrupts, IRQ threads and work functions
in which a fault is handled from the interrupt to the handler's return, on
either kernel; the scenario traces them all and counts, per CPU, the time
spent inside any of them.  QEMU's trace event of the mode is the count of
faults.
"""

import statistics
from dataclasses import dataclass

from . import arches, modes
from .common import Failure
from .modes import Storm

# base's only path, and the series' paths; the first is the reference
BASE_PATHS = ('print',)
SERIES_PATHS = ('print', 'handler', 'iommufd')


@dataclass(frozen=True)
class FaultPath:
    mode: str
    arch: str
    irqs: tuple       # names in /proc/interrupts: hard interrupt handlers
    threads: tuple    # names in /proc/interrupts: their IRQ threads
    works: tuple      # work functions, of either kernel
    storm: Storm      # one run: the edu DMAs, as the storm group's
    # the iommufd path's queue: 0 holds a run's faults; else this many
    # records, read only after the run
    depth: int = 0


# the IOMMU core's work (the series), which calls the handler
CORE_WORKS = ('iommu_fault_work',)

PATHS = (
    # dmar_fault() in hard interrupt context; the series moves the records
    # to dmar_fault_work()
    FaultPath('vtd-legacy', 'x86_64', ('dmar0',), (),
              ('dmar_fault_work',) + CORE_WORKS, Storm(length=4, count=300)),
    # the event queue's IRQ thread (its hard part is the default one)
    FaultPath('smmuv3', 'arm64', ('arm-smmu-v3-evtq',), ('arm-smmu-v3-evtq',),
              CORE_WORKS, Storm(length=4092, count=1)),
    # the event virtqueue's callback, from the device's INTx handler (on
    # q35 the virtio-iommu at 04.0 is virtio0, and takes no MSI-X); the
    # series reports from a work
    FaultPath('virtio', 'x86_64', ('virtio0',), (),
              ('viommu_fault_work',) + CORE_WORKS,
              Storm(length=4, count=300)),
)


def measure(c, fig, flavour, runs):
    """{mode: {path: summary of guest ns per fault}} for one kernel."""
    return {p.mode: run_paths(c, fig, flavour, p, runs)[0] for p in PATHS}


def vm_params(p, mode, paths, runs, sample_mem=False):
    """The scenario's parameters: IOMMU p (its mode), paths, runs each."""
    per_run = p.storm.count * mode.faults_per_dma(p.storm.length)
    return {'runs': runs, 'paths': ','.join(paths),
            'irqs': ','.join(p.irqs), 'threads': ','.join(p.threads),
            'works': ','.join(p.works), 'storm_len': p.storm.length,
            'storm_count': p.storm.count, 'fault_unit': mode.fault_unit,
            'depth': p.depth or per_run, 'sample_mem': int(sample_mem)}


def run_paths(c, fig, flavour, p, runs, sample_mem=False):
    """One VM: each path of the kernel on IOMMU p, runs times; the
    per-path summaries, and the VM's Run."""
    from .bench import ICOUNT, boot, summary
    paths = SERIES_PATHS if flavour.tree == 'series' else BASE_PATHS
    arch = arches.get(p.arch)
    mode = modes.get(p.mode, arch.name)
    per_run = p.storm.count * mode.faults_per_dma(p.storm.length)
    r = boot(c, flavour, arch, mode, fig.scenario,
             {**vm_params(p, mode, paths, runs, sample_mem),
              'figure': fig.name},
             qemu_extra=ICOUNT, timeout=7200)
    where = (f'{fig.name} {p.mode} on {flavour.name}')
    qemu = len(r.trace_lines(mode.trace))
    lines = r.result('p3')
    problems = []
    if r.rc != 0 or len(lines) != runs * len(paths):
        problems.append(f'scenario rc={r.rc}, {len(lines)} of '
                        f'{runs * len(paths)} runs')
    if qemu != per_run * runs * len(paths):
        problems.append(f'QEMU recorded {qemu} faults, the runs should '
                        f'record {per_run * runs * len(paths)}')
    if r.result('p3_missing'):
        problems.append(f'not traced: {r.result("p3_missing")}')
    lost = r.first_int('p3_overrun', -1)
    if lost != 0:
        problems.append(f'trace buffer overruns: {lost} (-1: not reported)')
    left = [v for v in lines if dict(zip(v[0::2], v[1::2])).get('open') != '0']
    if left:
        problems.append(f'intervals left open when tracing stopped: {left}')
    if problems:
        raise Failure(f'{where}: ' + '; '.join(problems) +
                      f'\n{r.last_words()}\n{r.where()}')
    res = {}
    for path in paths:
        runs_of = [dict(zip(v[0::2], v[1::2])) for v in lines
                   if v[1] == path]
        res[path] = summary([int(f['ns']) / per_run for f in runs_of])
        for k in ('delivered', 'lost', 'guest_ms'):
            res[path][k] = [int(f[k]) for f in runs_of]
        res[path]['faults'] = per_run
        # where the time went: median per interval kind, per fault
        by = [dict(zip(v[4::2], map(int, v[5::2])))
              for v in r.result('p3_by') if v[1] == path]
        kinds = sorted({k for b in by for k in b})
        res[path]['by'] = {k: statistics.median(b.get(k, 0) for b in by)
                           / per_run for k in kinds}
    return res, r


def ratios(res):
    """Each series path against base's print path, per IOMMU."""
    ref = BASE_PATHS[0]
    return {m: {path: res['series-bench'][m][path]['median'] /
                res['base-bench'][m][ref]['median']
                for path in SERIES_PATHS}
            for m in res['series-bench']}


def rows(res):
    """Table rows: (name, base summary, series summary, ratio, goal)."""
    ref = BASE_PATHS[0]
    out = []
    for m, by_path in res['ratio'].items():
        for path, ratio in by_path.items():
            out.append((f'{res["figure"]} {m} {path}',
                        res['base-bench'][m][ref], res['series-bench'][m][path],
                        ratio, f'<={res["goal"]}' if path == 'handler' else ''))
    return out


def report(res):
    """Lines under the table: each path's time by where it was spent."""
    out = []
    for k in ('base-bench', 'series-bench'):
        for m, by_path in res[k].items():
            for path, v in by_path.items():
                out.append(f'{res["figure"]} {m} {k.split("-")[0]} {path}, '
                           f'guest ns per fault by where: ' + ', '.join(
                               f'{w} {ns:.0f}' for w, ns in v['by'].items()))
    return out


def plot(ax, res):
    """Per IOMMU, base's print path and each series path, min..max bars."""
    ref = BASE_PATHS[0]
    bars = [('base-bench', ref, '#999999')] + [
        ('series-bench', p, c) for p, c in zip(
            SERIES_PATHS, ('#88aadd', '#3366aa', '#223366'))]
    ms = list(res['series-bench'])
    width = 0.8 / len(bars)
    for i, (k, path, color) in enumerate(bars):
        s = [res[k][m][path] for m in ms]
        xs = [j + i * width for j in range(len(ms))]
        ax.bar(xs, [v['median'] for v in s], width, color=color,
               label=f'{k.split("-")[0]} {path}',
               yerr=[[v['median'] - min(v['runs']) for v in s],
                     [max(v['runs']) - v['median'] for v in s]], capsize=4)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(ms))], ms)
    # the IOMMUs' costs are orders of magnitude apart
    ax.set_yscale('log')
    ax.set_ylabel('guest ns per fault, interrupt to handler return')
    ax.legend(fontsize=8)
    ax.set_title(f'{res["figure"]}: series handler / base print '
                 f'(goal <= {res["goal"]})\n' + ', '.join(
                     f'{m} {v["handler"]:.2f}'
                     for m, v in res['ratio'].items()), fontsize=10)
