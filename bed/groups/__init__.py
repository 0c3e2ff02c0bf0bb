"""The test groups of 'make check', one module each, generated from the
data in arches.py, modes.py and flavours.py.  Each module's groups()
returns [(name, fn)]; fn(suite) runs the group's checks.
"""

from .. import flavours
from ..common import Failure


def all_groups():
    from . import build, faults, hygiene, kunit, storm
    return [*build.groups(), *faults.groups(), *storm.groups(),
            *kunit.groups(), *hygiene.groups()]


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
        return (not r.timed_out and r.rc == 0,
                f'timed out={r.timed_out} scenario rc={r.rc}\n{r.where()}')

    def clean(r):
        problems = r.kernel_problems()
        return not problems, '\n'.join(problems[:20]) + '\n' + r.where()
    return [(f'{label}: VM ran the scenario and powered off', ran),
            (f'{label}: no warnings, lockdep, KASAN or lockup reports',
             clean)]
