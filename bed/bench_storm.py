"""P4 of 'make bench': a storm of about 1,000,000 faults on SMMUv3.

QEMU's SMMUv3 records one event per 4-byte access: 978 edu DMAs of 4092
bytes make 1,000,494 events, in about 98 s of guest time (edu completes a
DMA 100 ms after it starts).  The scenario is P3's (faultpath.sh), one run
per path, with memory sampled every second of guest time:
  base print        6.12 prints (ratelimited)
  series print      no handler
  series handler    edu_fault's handler
  series iommufd    user space's queue of DEPTH records, not read until
                    the storm ends: all but DEPTH faults are counted lost
For each: faults per second of guest time, guest CPU time per fault (as
P3), and Slab and kmalloc before, at the peak and after.  The goal is
'bounded': memory within BOUNDS_KB of where it started, no warning, soft
lockup or RCU stall in the kernel log, and on the iommufd path every fault
read or counted lost.
"""

from dataclasses import replace

from . import bench_paths
from .common import Failure
from .modes import Storm

BIG = replace(next(p for p in bench_paths.PATHS if p.mode == 'smmuv3'),
              storm=Storm(length=4092, count=978), depth=16)

# Growth allowed over the value before the storm, in kB.  What the series
# may hold during a storm: the IOMMU core's queue of at most 256 records
# per handler (an iommufd_fault_item is well under 1 kB: 256 kB); on the
# iommufd path, vfio_fault opens the device, iommufd and a queue of DEPTH
# records after the 'before' sample, all counted as growth (a few tens of
# kB); the event queue is allocated at probe.  The rest is the shell and
# the sampler, and slab pages not yet given back: 1 MB for all of it.
# After the storm, with the slabs shrunk and vfio_fault gone, 256 kB.
BOUNDS_KB = {'peak': 1024 + 256, 'after': 256}
MEASURES = ('Slab', 'kmalloc')


def measure(c, fig, flavour):
    """One kernel: per path, rate, CPU time per fault, memory, problems
    (the kernel log's warnings, lockups and stalls)."""
    res, r = bench_paths.run_paths(c, fig, flavour, BIG, 1, sample_mem=True)
    mem = {}
    for v in r.result('p4_mem'):
        # path <path> run 1 <when> <name> <kB> ...
        f = dict(zip(v[5::2], map(int, v[6::2])))
        mem.setdefault(v[1], {})[v[4]] = f
    out = {'faults': res[next(iter(res))]['faults'], 'paths': {},
           'problems': [x.strip() for x in r.kernel_problems()]}
    for path, s in res.items():
        m = mem.get(path)
        if not m or set(m) != {'before', 'peak', 'after'}:
            raise Failure(f'{fig.name} {path} on {flavour.name}: memory '
                          f'samples {m}\n{r.where()}')
        growth = {when: {k: m[when][k] - m['before'][k] for k in MEASURES}
                  for when in ('peak', 'after')}
        faults = s['faults']
        ms = s['guest_ms'][0]
        accounted = (s['delivered'][0] + s['lost'][0]
                     if path == 'iommufd' else faults)
        out['paths'][path] = {
            'faults_per_s': faults / (ms / 1000) if ms else 0.0,
            'guest_ms': ms, 'cpu_ns_per_fault': s['median'],
            'delivered': s['delivered'][0], 'lost': s['lost'][0],
            'memory_kb': m, 'growth_kb': growth,
            'bounded': all(v <= BOUNDS_KB[when]
                           for when, g in growth.items()
                           for v in g.values()) and accounted == faults}
    out['bounded'] = (not out['problems'] and
                      all(p['bounded'] for p in out['paths'].values()))
    return out


def rows(res):
    """Table rows: faults per second of guest time, each series path
    against base's print path."""
    ref = bench_paths.BASE_PATHS[0]
    b = res['base-bench']['paths'][ref]
    out = []
    for path, s in res['series-bench']['paths'].items():
        out.append((f'{res["figure"]} {path} faults/s',
                    {'median': b['faults_per_s'], 'spread': 0.0},
                    {'median': s['faults_per_s'], 'spread': 0.0},
                    s['faults_per_s'] / b['faults_per_s'], 'bounded'))
    return out


def report(res):
    """Lines under the table: memory growth, lost counts, problems."""
    out = []
    for k in ('base-bench', 'series-bench'):
        for path, s in res[k]['paths'].items():
            g = s['growth_kb']
            out.append(
                f'{res["figure"]} {k} {path}: {res[k]["faults"]} faults in '
                f'{s["guest_ms"] / 1000:.1f} guest s, '
                f'{s["cpu_ns_per_fault"]:.0f} guest ns of CPU per fault; '
                f'kB over the start, peak: ' +
                ', '.join(f'{n} {v}' for n, v in g['peak'].items()) +
                '; after: ' +
                ', '.join(f'{n} {v}' for n, v in g['after'].items()) +
                (f'; read {s["delivered"]}, lost {s["lost"]}'
                 if path == 'iommufd' else '') +
                (f'; handler got {s["delivered"]}, the other '
                 f'{res[k]["faults"] - s["delivered"]} were not delivered '
                 f'(the storm group counts the core\'s refusals, its queue '
                 f'full, from the iommu:dev_fault tracepoint)'
                 if path == 'handler' else '') +
                ('' if s['bounded'] else ' -- NOT BOUNDED'))
        out.append(f'{res["figure"]} {k}: warnings, soft lockups, RCU '
                   f'stalls in the kernel log: '
                   f'{res[k]["problems"] or "none"}')
    return out
