"""Groups 'kunit-<arch>': KUnit at boot in the series kernel, parsed with
the tree's own 'kunit.py parse'.  Every case counts; the suites the series
and the arch's IOMMU modes name must run.  Run one suite by hand with
'make vm SCENARIO=boot KUNIT=1 PARAM=kunit.filter_glob=<suite>'.
"""

import json
import os
import subprocess

from .. import arches, kbuild, modes
from . import boot, series, vm_checks

# suites the series adds for every arch; each mode adds its own
SERIES_SUITES = ('iommu-fault',)


def kunit_cases(node, prefix=''):
    name = f'{prefix}{node.get("name", "")}'
    for case in node.get('test_cases', []):
        yield f'{name}.{case["name"]}', case.get('status')
    for sub in node.get('sub_groups', []):
        yield from kunit_cases(sub, f'{name}.' if node.get('name') else '')


def parse(r):
    """(cases [(name, status)], kunit.py output, its exit code)."""
    log = os.path.join(r.logdir, 'dmesg.log')
    with open(log, 'w') as f:
        f.write('\n'.join(r.kernel_log()) + '\n')
    js = os.path.join(r.logdir, 'kunit.json')
    tool = os.path.join(kbuild.source(series()),
                        'tools/testing/kunit/kunit.py')
    # -B: no __pycache__ in the kernel tree, which would look like an edit
    p = subprocess.run(['python3', '-B', tool, 'parse', f'--json={js}', log],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    with open(os.path.join(r.logdir, 'kunit-parse.log'), 'w') as f:
        f.write(p.stdout)
    try:
        data = json.load(open(js))
    except (OSError, ValueError):
        return None, p.stdout, p.returncode
    # the root node is kunit.py's 'KUnit Test Group'; suites are below
    cases = [c for sub in data.get('sub_groups', [])
             for c in kunit_cases(sub)]
    return cases, p.stdout, p.returncode


def group(arch):
    label = f'kunit-{arch.name}'
    required = list(SERIES_SUITES)
    for m in modes.for_arch(arch.name):
        required += [x for x in m.kunit_suites if x not in required]

    suite_checks = [f'{label}: suite {x} ran' for x in required]
    parsed = f'{label}: kunit.py parse reports success'

    def t(s):
        r = boot(s, arch, modes.default(arch.name), 'boot', kunit=True)
        if isinstance(r, Exception):
            return s.not_run([n for n, _ in vm_checks(label)] +
                             suite_checks + [parsed], r)
        s.checks(r, vm_checks(label))
        cases, out, rc = parse(r)
        if cases is None:
            s.not_run(suite_checks, 'kunit.py parse wrote no results')
            return s.check(parsed, False, out[-2000:])
        suites = {name.split('.')[0] for name, _ in cases}
        for req in required:
            s.check(f'{label}: suite {req} ran', req in suites,
                    f'suites seen: {sorted(suites)}')
        for name, status in cases:
            s.check(f'{label}: {name}', status in ('PASS', 'SKIP'),
                    f'status {status}; see {r.logdir}/kunit-parse.log')
        s.check(parsed, rc == 0, out[-2000:])
        # benchmarks print, they never pass or fail
        for line in r.kernel_log():
            if ' bench: ' in line:
                s.measure(label, line.split('bench:', 1)[1].strip())
    return label, t


def groups():
    return [group(a) for a in arches.ARCHES.values()
            if modes.for_arch(a.name)]
