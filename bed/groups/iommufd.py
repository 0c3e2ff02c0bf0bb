"""Groups 'iommufd-<arch>': iommufd's own kselftests, base against series.

upstream's tools/testing/selftests/iommu programs, built from each
kernel's own tree (progs.py), run in the VM on the unpatched base and on
the series, same configuration (CONFIG_IOMMUFD_TEST's mock IOMMU).  The
series must pass every test that base passes; the tests that carry page
requests through iommufd's fault queue (IOMMU_TEST_OP_TRIGGER_IOPF, then
read() and write() of the response) must pass.  Debian's 6.12 tarball
ships selftests from a later stable backport, so some tests fail on base
already; they are listed, not counted against the series.

The benchmark's page-request program (iopf_bench, 'make bench') also runs
here once with a few rounds, so that it cannot rot: the round trip (P1),
and the response with 1 and 512 groups pending (P2); no timing is
checked.
"""

import re

from .. import arches, flavours, modes
from ..common import say
from . import boot, scenario_checks, series

KSELFTESTS = ('iommufd',)
# the series' own kselftests of the device fault queue
# (IOMMU_DEV_FAULT_QUEUE_ALLOC), run on the series only: each must pass
DEV_FAULT_PROG = 'iommufd_dev_fault'
DEV_FAULT_TESTS = tuple(f'dev_fault.{t}' for t in (
    'deliver', 'no_queue', 'two_devices', 'overflow', 'poll', 'read_sizes',
    'bad_alloc', 'close_queued', 'destroy_queued', 'detach_while_faulting'))
# and its fault-injection sweep, the one test of iommufd_fail_nth that the
# series adds
FAIL_NTH_PROG = 'iommufd_fail_nth'
FAIL_NTH_TESTS = ('basic_fail_nth.dev_fault_queue',)
# every page request group answered exactly once while user space answers,
# detaches and closes at random, and allocations fail (fail-nth); the mock
# counts its responses per group
IOPF_ONCE_PROG = 'iommufd_iopf_once'
IOPF_ONCE_TESTS = ('iopf_once.random', 'iopf_once.threaded',
                   'iopf_once.bad_grpid', 'iopf_once.bad_responses')
SERIES_PROGS = (*KSELFTESTS, DEV_FAULT_PROG, IOPF_ONCE_PROG,
                f'{FAIL_NTH_PROG}:{FAIL_NTH_TESTS[0].split(".")[1]}')
# the kselftests that trigger page requests and answer them through the
# fault queue (iommufd.c: test_cmd_trigger_iopf); the no_domain variant has
# no mock device and never gets that far
PAGE_REQUEST_TESTS = re.compile(r'^iommufd_ioas\.(?!no_domain\.).*'
                                r'\.alloc_hwpt_nested$')
SMOKE_ROUNDS = 200
SMOKE_DEPTHS = (1, 512)
ARCHES = ('x86_64',)  # the mock IOMMU is the same code on every arch


def tests(r, prog):
    """{test name: 'ok' | 'fail' | 'skip'} from a kselftest run."""
    return {' '.join(v[2:]): v[1] for v in r.result('ktest')
            if len(v) > 2 and v[0] == prog}


def why_not(run):
    """Why a base run gave no results: its Failure, or where its logs are."""
    return str(run) if isinstance(run, Exception) else \
        f'no result (crashed?)\n{run.where()}'


def counts(t):
    c = {k: sum(1 for v in t.values() if v == k)
         for k in ('ok', 'fail', 'skip')}
    return f'{c["ok"]} passed, {c["fail"]} failed, {c["skip"]} skipped'


def kselftest_checks(label, prog, base_run):
    def ran(r):
        t = tests(r, prog)
        return (len(t) > 0, f'no {prog} test results; exit '
                f'{r.result("kexit")}\n{r.where()}')

    def same_tests(r):
        if not isinstance(base_run, Exception) and base_run.rc is not None:
            a, b = set(tests(base_run, prog)), set(tests(r, prog))
            return (a == b, f'only on base: {sorted(a - b)[:10]}\n'
                    f'only with the series: {sorted(b - a)[:10]}')
        return False, f'base did not run: {why_not(base_run)}'

    def no_regression(r):
        if isinstance(base_run, Exception) or base_run.rc is None:
            return False, f'base did not run: {why_not(base_run)}'
        b, s = tests(base_run, prog), tests(r, prog)
        if not b:
            return False, (f'no {prog} results on base\n'
                           f'{base_run.where()}')
        bad = sorted(n for n, v in b.items() if v == 'ok' and
                     s.get(n) != 'ok')
        return (not bad, f'pass on base, not with the series: {bad}\n'
                f'base: {counts(b)}; series: {counts(s)}\n{r.where()}')

    def page_requests(r):
        # tests whose fixture needs what 6.12 lacks (a PASID-capable mock
        # device) fail on base too: those count as not run, not as failed
        t = {n: v for n, v in tests(r, prog).items()
             if PAGE_REQUEST_TESTS.search(n)}
        b = ({} if isinstance(base_run, Exception) else
             tests(base_run, prog))
        passed = sorted(n for n, v in t.items() if v == 'ok')
        bad = sorted(n for n, v in t.items()
                     if v != 'ok' and b.get(n) == 'ok')
        return (bool(passed) and not bad,
                f'{len(t)} page-request tests; passing: {passed}; failing '
                f'with the series only: {bad}\n{r.where()}')

    return [
        (f'{label}: {prog} kselftests ran', ran),
        (f'{label}: {prog}: the same tests as on base', same_tests),
        (f'{label}: {prog}: every test that passes on base passes',
         no_regression),
        (f'{label}: {prog}: page requests through the fault queue pass',
         page_requests),
    ]


def series_only_checks(label, prog, names):
    def passed(r):
        t = tests(r, prog)
        bad = {n: t.get(n, 'missing') for n in names if t.get(n) != 'ok'}
        return (not bad and [prog, '0'] in r.result('kexit'),
                f'not passing: {bad}; exit {r.result("kexit")}\n'
                f'{r.where()}')
    return [(f'{label}: {prog}: {", ".join(names)} pass', passed)]


def smoke_checks(label):
    def rounds(r):
        got = r.result('p1')
        ok = (len(got) == 1 and r.first('p1_exit') == '0' and
              got[0][2:4] == ['rounds', str(SMOKE_ROUNDS)])
        return ok, (f'iopf_bench exit {r.first("p1_exit")}, runs {got}\n'
                    f'{r.where()}')
    return [(f'{label}: iopf_bench: {SMOKE_ROUNDS} page-request round '
             'trips answered', rounds)]


def smoke_depth_checks(label):
    def depths(r):
        got = {v[1] for v in r.result('p2') if len(v) > 1}
        ok = (r.first('p2_exit') == '0' and
              got == {str(d) for d in SMOKE_DEPTHS})
        return ok, (f'iopf_bench exit {r.first("p2_exit")}, depths measured '
                    f'{sorted(got)}\n{r.where()}')
    return [(f'{label}: iopf_bench: responses with '
             f'{" and ".join(map(str, SMOKE_DEPTHS))} groups pending',
             depths)]


def group(arch):
    mode = modes.default(arch.name)
    label = f'iommufd-{arch.name}'
    base = flavours.get('base-debug')
    params = {'progs': ','.join(KSELFTESTS)}

    def t(s):
        for name, flavour in (('series', series()), ('base', base)):
            try:
                s.chain.progs(flavour, arch)
                s.check(f'{label}: test programs built for {name}', True)
            except Exception as e:
                s.not_run([f'{label}: test programs built for {name}'], e)
        try:
            b = s.chain.vm(base, arch, mode, 'kselftest', params=params,
                           cmdline=arch.mock_iommu_cmdline)
        except Exception as e:
            b = e
        r = boot(s, arch, mode, 'kselftest',
                 params={'progs': ','.join(SERIES_PROGS)},
                 cmdline=arch.mock_iommu_cmdline)
        checks = []
        for prog in KSELFTESTS:
            checks += kselftest_checks(label, prog, b)
        checks += series_only_checks(label, DEV_FAULT_PROG, DEV_FAULT_TESTS)
        checks += series_only_checks(label, FAIL_NTH_PROG, FAIL_NTH_TESTS)
        checks += series_only_checks(label, IOPF_ONCE_PROG, IOPF_ONCE_TESTS)
        scenario_checks(s, label, r, checks)
        for prog in (*KSELFTESTS, DEV_FAULT_PROG, FAIL_NTH_PROG,
                     IOPF_ONCE_PROG):
            for name, run in (('base', b), ('series', r)):
                if prog not in KSELFTESTS and name == 'base':
                    continue
                if not isinstance(run, Exception):
                    res = tests(run, prog)
                    fails = sorted(n for n, v in res.items()
                                   if v == 'fail')
                    more = ' ...' if len(fails) > 10 else ''
                    say(f'       {name} {prog}: {counts(res)}' +
                        (f'; failing: {", ".join(fails[:10])}{more}'
                         if fails else ''))
        r = boot(s, arch, mode, 'bench',
                 params={'rounds': SMOKE_ROUNDS, 'runs': 1},
                 cmdline=arch.mock_iommu_cmdline)
        scenario_checks(s, f'{label}-bench-smoke', r,
                        smoke_checks(f'{label}-bench-smoke'))
        r = boot(s, arch, mode, 'bench',
                 params={'rounds': SMOKE_ROUNDS // 10, 'runs': 1,
                         'depths': ','.join(map(str, SMOKE_DEPTHS))},
                 cmdline=arch.mock_iommu_cmdline)
        scenario_checks(s, f'{label}-bench-smoke-p2', r,
                        smoke_depth_checks(f'{label}-bench-smoke-p2'))
    return label, t


def groups():
    return [group(arches.get(a)) for a in ARCHES]
