"""'make bench': the series against unpatched 6.12, side by side, one run.

Both kernels are built from the same config fragments without the debug
options (flavours series-bench and base-bench) and booted the same way,
under TCG with -icount shift=0,sleep=off: guest time then counts guest
instructions, and does not depend on how busy the host is.  Every figure
is the ratio series/base of medians measured in this one run.

Figures, as data (FIGURES): each names the scenario that measures it and
how to read a per-operation cost out of its result lines.  Today:
  P1  page-request round trip through iommufd's fault queue (iopf_bench:
      IOMMU_TEST_OP_TRIGGER_IOPF, read(), write() of the response).
  P2  the write() of one response through that queue with 1 to 512 groups
      pending (iopf_bench with depths), one value per depth.
  P3  guest time per unrecoverable fault, from the IOMMU's interrupt to the
      handler's return, per IOMMU and path (bench_paths.py).
  P4  a storm of 1,000,000 faults on SMMUv3: faults per second of guest
      time, memory, lockups (bench_storm.py).
The output is a table on the terminal, build/bench/bench.json (one
object per figure) and build/bench/bench.png.
"""

import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass

from . import arches, bench_paths, bench_storm, chain, deps, flavours, modes
from .common import BUILD, REPO, Failure, say

ICOUNT = ('-icount', 'shift=0,sleep=off')
OUTDIR = os.path.join(BUILD, 'bench')


@dataclass(frozen=True)
class Figure:
    name: str
    about: str
    arch: str
    scenario: str
    key: str            # result key: 'run <i> rounds <n> ns <t>' lines
    goal: float         # the ratio series/base we aim at (at most)
    # pending depths, for a figure measured per depth ('depth <d> run ...'
    # lines); its goal is then a flat curve: the cost at the largest depth
    # over the cost at the smallest, on each kernel, at most 'goal'
    depths: tuple = ()
    # its rounds per run: the command's ROUNDS times this
    scale: float = 1.0
    # 'iopf': an iopf_bench figure (this module); 'paths': per IOMMU and
    # fault path (bench_paths.py); 'storm': the big storm (bench_storm.py)
    kind: str = 'iopf'


FIGURES = (
    Figure('P1', 'page-request round trip, iommufd fault queue '
           '(guest ns per round trip)', 'x86_64', 'bench', 'p1', 0.8),
    # PCIe PRI's 512 outstanding groups (the mock device's limits are
    # PRI's); the stall limit is not reachable through the mock
    Figure('P2', 'write() of one page response, iommufd fault queue, by '
           'groups pending (guest ns per response)', 'x86_64', 'bench',
           'p2', 1.1, depths=(1, 8, 64, 256, 512), scale=0.1),
    # the goal is the series' handler path against base's print path
    Figure('P3', 'unrecoverable fault, interrupt to handler return (guest '
           'ns per fault)', '', 'faultpath', 'p3', 1.0, kind='paths'),
    # its goal is 'bounded' (bench_storm.py); the ratio is of faults per
    # second, which edu's DMA rate bounds on both kernels
    Figure('P4', '1,000,000 SMMUv3 faults (faults per second of guest '
           'time)', '', 'faultpath', 'p3', 0.0, kind='storm'),
)
KERNELS = ('base-bench', 'series-bench')


def per_op(r, key, depth=None):
    """Guest ns per operation, one value per run (of one depth)."""
    out = []
    for v in r.result(key):
        f = dict(zip(v[0::2], v[1::2]))
        if depth is not None and f.get('depth') != str(depth):
            continue
        out.append(int(f['ns']) / int(f['rounds']))
    return out


def summary(values):
    m = statistics.median(values)
    return {'runs': values, 'median': m,
            'spread': (max(values) - min(values)) / m if m else 0.0}


def boot(c, flavour, arch, mode, scenario, params, **kw):
    """A benchmark VM run.  A boot whose /init ended before it started the
    scenario, leaving no output (tests/init: four boots of this session's
    benchmarks, before /init retried its open of the results console), is
    booted once more, said on the terminal, so that one lost boot does not
    lose the whole benchmark.  A run that started and failed is not."""
    r = c.vm(flavour, arch, mode, scenario, params=params, **kw)
    if not r.began and not r.timed_out:
        say(f'warning: {flavour.name} {scenario}: /init ended before the '
            f'scenario began ({r.where()}); booting once more')
        # another parameter: the chain boots each distinct run once
        r = c.vm(flavour, arch, mode, scenario,
                 params={**params, 'attempt': 2}, **kw)
    return r


def measure(c, fig, flavour, rounds, runs):
    arch = arches.get(fig.arch)
    mode = modes.default(arch.name)
    c.progs(flavour, arch)  # a build failure is reported as such
    params = {'rounds': rounds, 'runs': runs, 'figure': fig.name}
    if fig.depths:
        params['depths'] = ','.join(map(str, fig.depths))
    r = boot(c, flavour, arch, mode, fig.scenario, params,
             qemu_extra=ICOUNT, timeout=3600,
             cmdline=arch.mock_iommu_cmdline)
    if fig.depths:
        out = {}
        for d in fig.depths:
            vals = per_op(r, fig.key, d)
            if r.rc != 0 or len(vals) != runs:
                raise Failure(f'{fig.name} depth {d} on {flavour.name}: '
                              f'scenario rc={r.rc}, {len(vals)} of {runs} '
                              f'runs\n{r.last_words()}\n{r.where()}')
            out[str(d)] = summary(vals)
        return out
    vals = per_op(r, fig.key)
    if r.rc != 0 or len(vals) != runs:
        raise Failure(f'{fig.name} on {flavour.name}: scenario rc={r.rc}, '
                      f'{len(vals)} of {runs} runs\n{r.last_words()}\n'
                      f'{r.where()}')
    res = summary(vals)
    phases = r.result(fig.key + '_phases')
    if phases:
        f = dict(zip(phases[0][0::2], phases[0][1::2]))
        res['phases'] = {k: int(v) / rounds for k, v in f.items()}
    return res


def plot(results, path):
    """The PNG: each figure's medians, min..max as error bars (P4 has a
    table of its own, not a plot)."""
    results = [r for r in results if r.get('kind') != 'storm']
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(results), squeeze=False,
                             figsize=(4 * len(results), 4))
    for ax, res in zip(axes[0], results):
        if res.get('kind') == 'paths':
            bench_paths.plot(ax, res)
            continue
        if res.get('depths'):
            for k, color in zip(KERNELS, ('#999999', '#3366aa')):
                ds = res['depths']
                ax.errorbar(ds, [res[k][str(d)]['median'] for d in ds],
                            yerr=[[res[k][str(d)]['median'] -
                                   min(res[k][str(d)]['runs']) for d in ds],
                                  [max(res[k][str(d)]['runs']) -
                                   res[k][str(d)]['median'] for d in ds]],
                            marker='o', capsize=4, color=color, label=k)
            ax.set_xscale('log', base=2)
            ax.set_xlabel('page request groups pending')
            ax.set_ylabel('guest ns per response (median, min..max)')
            ax.set_ylim(bottom=0)
            ax.legend()
            ax.set_title(f'{res["figure"]}: depth {ds[-1]} / depth {ds[0]}: '
                         f'{res["flatness"]["series-bench"]:.2f}\n'
                         f'(series; goal <= {res["goal"]})', fontsize=10)
            continue
        names = list(KERNELS)
        meds = [res[k]['median'] for k in names]
        errs = [[res[k]['median'] - min(res[k]['runs']) for k in names],
                [max(res[k]['runs']) - res[k]['median'] for k in names]]
        ax.bar(names, meds, yerr=errs, capsize=6,
               color=['#999999', '#3366aa'])
        ax.set_title(f'{res["figure"]}: ratio {res["ratio"]:.2f} '
                     f'(goal <= {res["goal"]})')
        ax.set_ylabel('guest ns per operation (median, min..max)')
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def plot_file(json_path, png):
    """Plot with Debian's python3 (python3-matplotlib) when the python
    running the harness has no matplotlib (a pyenv one, say)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        subprocess.run(['/usr/bin/python3', '-m', 'bed.bench', json_path,
                        png], cwd=REPO, check=True)
        return
    plot(json.load(open(json_path)), png)


def run(rounds, runs, select=''):
    deps.ensure_packages(deps.BENCH_PACKAGES)
    c = chain.Chain()
    results = []
    for fig in FIGURES:
        if select and fig.name.lower() not in select.lower().split(','):
            continue
        n = max(1, int(rounds * fig.scale))
        res = {'figure': fig.name, 'about': fig.about, 'goal': fig.goal,
               'rounds': n, 'kind': fig.kind}
        if fig.kind == 'storm':
            del res['rounds']
            for k in KERNELS:
                res[k] = bench_storm.measure(c, fig, flavours.get(k))
            res['bounded'] = all(res[k]['bounded'] for k in KERNELS)
            results.append(res)
            continue
        if fig.kind == 'paths':
            del res['rounds']
            for k in KERNELS:
                res[k] = bench_paths.measure(c, fig, flavours.get(k), runs)
            res['ratio'] = bench_paths.ratios(res)
            results.append(res)
            continue
        for k in KERNELS:
            res[k] = measure(c, fig, flavours.get(k), n, runs)
        if fig.depths:
            res['depths'] = list(fig.depths)
            ds = [str(d) for d in fig.depths]
            res['ratio'] = {d: res['series-bench'][d]['median'] /
                            res['base-bench'][d]['median'] for d in ds}
            res['flatness'] = {k: res[k][ds[-1]]['median'] /
                               res[k][ds[0]]['median'] for k in KERNELS}
        else:
            res['ratio'] = (res['series-bench']['median'] /
                            res['base-bench']['median'])
        results.append(res)
    os.makedirs(OUTDIR, exist_ok=True)
    say('')
    say(f'{"figure":22}{"base":>12}{"series":>12}{"ratio":>8}{"goal":>8}'
        f'{"spread b/s":>16}  what')
    for res in results:
        if res['kind'] == 'paths':
            rows = bench_paths.rows(res)
        elif res['kind'] == 'storm':
            rows = bench_storm.rows(res)
        elif res.get('depths'):
            rows = [(f'{res["figure"]}@{d}', res['base-bench'][str(d)],
                     res['series-bench'][str(d)], res['ratio'][str(d)], '')
                    for d in res['depths']]
        else:
            rows = [(res['figure'], res['base-bench'], res['series-bench'],
                     res['ratio'], f'<={res["goal"]}')]
        for name, b, s, ratio, goal in rows:
            say(f'{name:22}{b["median"]:12.0f}{s["median"]:12.0f}'
                f'{ratio:8.3f}{goal:>8}'
                f'{b["spread"]:8.1%}{s["spread"]:8.1%}  {res["about"]}')
        if res.get('depths'):
            say(f'{res["figure"]}: cost at depth {res["depths"][-1]} over '
                f'depth {res["depths"][0]}: ' + ', '.join(
                    f'{k} {v:.2f}' for k, v in res['flatness'].items()) +
                f' (goal: flat, at most {res["goal"]})')
        if res['kind'] == 'paths':
            for line in bench_paths.report(res):
                say(line)
        if res['kind'] == 'storm':
            for line in bench_storm.report(res):
                say(line)
            say(f'{res["figure"]}: bounded: '
                f'{"yes" if res["bounded"] else "NO"}')
    path = os.path.join(OUTDIR, 'bench.json')
    with open(path, 'w') as f:
        json.dump(results, f, indent=1)
    png = os.path.join(OUTDIR, 'bench.png')
    plot_file(path, png)
    for res in results:
        if res.get('depths') or res['kind'] != 'iopf':
            continue
        ph = [(k, res[k].get('phases')) for k in KERNELS]
        if all(p for _, p in ph):
            say(f'{res["figure"]} by phase, guest ns per operation, one timed '
                'run each: ' + '; '.join(
                    f'{k}: ' + ', '.join(f'{n} {v:.0f}' for n, v in p.items())
                    for k, p in ph))
    say(f'\n{runs} runs of {rounds} rounds per kernel (P2: a tenth, per '
        f'depth); medians in guest ns '
        f'(-icount shift=0,sleep=off)\nJSON: {path}\nplot: {png}')
    return 0


if __name__ == '__main__':
    # python3 -m bed.bench JSON PNG: the plot alone
    plot(json.load(open(sys.argv[1])), sys.argv[2])
