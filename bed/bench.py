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
The output is a table on the terminal, build/bench/bench.json (one
object per figure) and build/bench/bench.png.
"""

import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass

from . import arches, chain, deps, flavours, modes
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


FIGURES = (
    Figure('P1', 'page-request round trip, iommufd fault queue '
           '(guest ns per round trip)', 'x86_64', 'bench', 'p1', 0.8),
)
KERNELS = ('base-bench', 'series-bench')


def per_op(r, key):
    """Guest ns per operation, one value per run."""
    out = []
    for v in r.result(key):
        f = dict(zip(v[0::2], v[1::2]))
        out.append(int(f['ns']) / int(f['rounds']))
    return out


def summary(values):
    m = statistics.median(values)
    return {'runs': values, 'median': m,
            'spread': (max(values) - min(values)) / m if m else 0.0}


def measure(c, fig, flavour, rounds, runs):
    arch = arches.get(fig.arch)
    mode = modes.default(arch.name)
    c.progs(flavour, arch)  # a build failure is reported as such
    r = c.vm(flavour, arch, mode, fig.scenario,
             params={'rounds': rounds, 'runs': runs}, qemu_extra=ICOUNT,
             timeout=3600, cmdline=arch.mock_iommu_cmdline)
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
    """The PNG: each figure's medians, min..max as error bars."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(results), squeeze=False,
                             figsize=(4 * len(results), 4))
    for ax, res in zip(axes[0], results):
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
        res = {'figure': fig.name, 'about': fig.about, 'goal': fig.goal,
               'rounds': rounds}
        for k in KERNELS:
            res[k] = measure(c, fig, flavours.get(k), rounds, runs)
        res['ratio'] = (res['series-bench']['median'] /
                        res['base-bench']['median'])
        results.append(res)
    os.makedirs(OUTDIR, exist_ok=True)
    say('')
    say(f'{"figure":8}{"base":>12}{"series":>12}{"ratio":>8}{"goal":>8}'
        f'{"spread b/s":>16}  what')
    for res in results:
        b, s = res['base-bench'], res['series-bench']
        say(f'{res["figure"]:8}{b["median"]:12.0f}{s["median"]:12.0f}'
            f'{res["ratio"]:8.3f}{"<=" + str(res["goal"]):>8}'
            f'{b["spread"]:8.1%}{s["spread"]:8.1%}  {res["about"]}')
    path = os.path.join(OUTDIR, 'bench.json')
    with open(path, 'w') as f:
        json.dump(results, f, indent=1)
    png = os.path.join(OUTDIR, 'bench.png')
    plot_file(path, png)
    for res in results:
        ph = [(k, res[k].get('phases')) for k in KERNELS]
        if all(p for _, p in ph):
            say(f'{res["figure"]} by phase, guest ns per operation, one timed '
                'run each: ' + '; '.join(
                    f'{k}: ' + ', '.join(f'{n} {v:.0f}' for n, v in p.items())
                    for k, p in ph))
    say(f'\n{runs} runs of {rounds} rounds per kernel; medians in guest ns '
        f'(-icount shift=0,sleep=off)\nJSON: {path}\nplot: {png}')
    return 0


if __name__ == '__main__':
    # python3 -m bed.bench JSON PNG: the plot alone
    plot(json.load(open(sys.argv[1])), sys.argv[2])
