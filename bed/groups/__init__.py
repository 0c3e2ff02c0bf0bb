"""The test groups of 'make check', one module each, generated from the
data in arches.py, modes.py and flavours.py.  Each module's groups()
returns [(name, fn)]; fn(suite) runs the group's checks.
"""

from .. import flavours
from ..common import Failure


def all_groups():
    from . import (bench_smoke, build, context, doctables, failslab, faults,
                   hygiene, iommufd,
                   kunit, storm, unplug, vfio, vfio_flood,
                   vfio_teardown)
    return [*build.groups(), *faults.groups(), *storm.groups(),
            *context.groups(), *kunit.groups(), *iommufd.groups(),
            *vfio.groups(), *vfio_flood.groups(), *vfio_teardown.groups(),
            *unplug.groups(), *failslab.groups(), *bench_smoke.groups(),
            *doctables.groups(),
            *hygiene.groups()]


def series():
    return flavours.get(flavours.DEFAULT)


def boot(s, arch, mode, scenario, **kw):
    """The series kernel's VM run of scenario, or the Failure that kept it
    from running."""
    try:
        return s.chain.vm(series(), arch, mode, scenario, **kw)
    except Failure as e:
        return e


def vm_checks(label):
    """The checks every VM run must pass."""
    def ran(r):
        waited = r.timeouts()
        return (not r.timed_out and r.rc == 0 and not waited,
                f'timed out={r.timed_out} scenario rc={r.rc}' +
                ''.join(f'\nwaited in vain for: {w}' for w in waited) +
                f'\n{r.last_words()}\n{r.where()}')

    def clean(r):
        problems = r.kernel_problems()
        return not problems, '\n'.join(problems[:20]) + '\n' + r.where()
    def no_leaks(r):
        # the init script's confirmed kmemleak suspects (debug kernels;
        # none reported when the kernel has no kmemleak)
        n = r.first_int('kmemleak_suspects', 0)
        report = [' '.join(v) for v in r.result('kmemleak_report')]
        return n == 0, '\n'.join(report[:40]) + '\n' + r.where()
    return [(f'{label}: VM ran the scenario and powered off', ran),
            (f'{label}: no warnings, lockdep, KASAN or lockup reports',
             clean),
            (f'{label}: no kmemleak suspects at the end', no_leaks)]


def scenario_checks(s, label, r, checks):
    """The VM checks, then checks on what the scenario reported; those
    count as not run when the scenario never finished."""
    if isinstance(r, Failure):
        return s.not_run([n for n, _ in vm_checks(label) + checks], r)
    s.checks(r, vm_checks(label))
    if r.rc is None:
        return s.not_run([n for n, _ in checks],
                         'the scenario did not finish\n' + r.last_words())
    s.checks(r, checks)


def run_measured(s, label, arch, mode, scenario, checks, measure, **kw):
    """Boot the series kernel with scenario, run the VM checks and checks,
    then print measure(run) as an info line if the VM ran."""
    r = boot(s, arch, mode, scenario, **kw)
    scenario_checks(s, label, r, checks)
    if not isinstance(r, Exception):
        s.measure(label, measure(r))
    return r
