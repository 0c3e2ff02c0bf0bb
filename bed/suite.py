"""'make check': every check and test, ending in 'N passed, N failed'.

Tests come in groups; a group that cannot reach its tests (a build that
failed, a VM that never booted) counts as a failed test with the reason.
'make check T=word' runs the groups whose name contains word.
"""

import json
import os
import subprocess
import time
import traceback

from . import arches, faults, hygiene, kbuild, tree, vm
from .common import LOGS, STEP_TREE, TREE, Failure, fmt_secs, say, step

GROUPS = []


def group(name):
    def reg(fn):
        GROUPS.append((name, fn))
        return fn
    return reg


class Context:
    """Builds and VM runs, each done once per 'make check'."""

    def __init__(self):
        self.memo = {}
        self.tree_ready = False

    def once(self, key, fn):
        if key not in self.memo:
            try:
                self.memo[key] = (True, fn())
            except Failure as e:
                self.memo[key] = (False, e)
        ok, val = self.memo[key]
        if not ok:
            raise val
        return val

    def tree(self):
        def prep():
            try:
                tree.prepare()
            except Failure as e:
                if 'not in patches/' not in str(e):
                    raise
                say(f'warning: testing {TREE} as it is: {e}')
        return self.once('tree', prep)

    def kernel(self, arch):
        self.tree()
        return self.once(('kernel', arch.name),
                         lambda: kbuild.build_kernel(arch, TREE))

    def module(self, arch):
        obj = self.kernel(arch)
        return self.once(('module', arch.name),
                         lambda: kbuild.build_module(arch, TREE, obj))

    def initrd(self, arch):
        mod = self.module(arch)
        return self.once(('initrd', arch.name),
                         lambda: vm.build_initramfs(arch, mod))

    def vm(self, arch, mode, scenario):
        obj = self.kernel(arch)
        initrd = self.initrd(arch)
        return self.once(('vm', arch.name, mode, scenario),
                         lambda: vm.run_vm(arch, mode, scenario,
                                           kbuild.kernel_image(arch, obj),
                                           initrd))


class Suite:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.failures = []
        self.ctx = Context()

    def check(self, name, ok, detail=''):
        if ok:
            self.passed += 1
            say(f'ok   {name}')
        else:
            self.failed += 1
            self.failures.append(name)
            say(f'FAIL {name}')
            for line in str(detail).strip().splitlines()[:40]:
                say(f'       {line}')
        return ok


# --- builds -----------------------------------------------------------------

@group('build')
def t_build(s):
    for arch in arches.ARCHES.values():
        for what, fn in (('kernel', s.ctx.kernel), ('edu-fault module',
                                                    s.ctx.module)):
            try:
                fn(arch)
                s.check(f'build: {arch.name} {what}', True)
            except Failure as e:
                s.check(f'build: {arch.name} {what}', False, e)


# --- VMs with real DMA faults --------------------------------------------------

def vm_ok(s, label, r):
    ok = s.check(f'{label}: VM ran the scenario and powered off',
                 not r.timed_out and r.rc == 0,
                 f'timed out={r.timed_out} rc={r.rc}\n{r.where()}')
    problems = r.kernel_problems()
    s.check(f'{label}: no warnings, lockdep, KASAN or lockup reports',
            not problems, '\n'.join(problems[:20]) + '\n' + r.where())
    return ok


def boot(s, label, arch, mode, scenario, check=True):
    """Run a scenario's VM; None (and a failed check) when it did not run.
    With check, also require a clean run (vm_ok)."""
    try:
        r = s.ctx.vm(arch, mode, scenario)
    except Failure as e:
        s.check(f'{label}: VM', False, e)
        return None
    if check and not vm_ok(s, label, r):
        return None
    return r


# Values from include/uapi/linux/iommu.h
FAULT_DMA_UNRECOV = 1
REASON = {'TRANSLATION': 7, 'PERMISSION': 8}
PERM = {'read': 1, 'write': 2}
UNRECOV_ADDR_VALID = 1 << 1


def handler_records(r):
    """The edu driver's fault log: one dict per 'handler_fault' line."""
    out = []
    for fields in r.result('handler_fault'):
        rec = dict(zip(fields[0::2], fields[1::2]))
        for k in list(rec):
            if k != 'dev':
                rec[k] = int(rec[k], 0)
        out.append(rec)
    return out


def counter(r, name):
    got = [int(v[1]) for v in r.result('iommu_counter') if v[0] == name]
    return got[0] if got else None


def first_int(r, key, default=-1):
    v = r.result(key)
    try:
        return int(v[0][0], 0)
    except (IndexError, ValueError):
        return default


def expect_handler_faults(s, label, r, arch, expected, parse_log):
    """The handler gets one record per fault; after unregister, the log."""
    handler = (r.result('handler') or [['?']])[0][0]
    s.check(f'{label}: edu driver registered a device fault handler',
            handler == '1', f'fault_handler reads {handler!r}\n{r.where()}')
    dev = arch.edu_addr
    recs = handler_records(r)
    shown = '\n'.join(str(x) for x in recs) or '(none)'
    for desc, addr, direction, reason in expected:
        want = dict(dev=dev, type=FAULT_DMA_UNRECOV, addr=addr,
                    perm=PERM[direction], reason=REASON[reason])
        match = [x for x in recs if all(x.get(k) == v
                                        for k, v in want.items())]
        s.check(f'{label}: handler got {desc}: {direction}, {reason}',
                len(match) == 1 and
                match[0]['flags'] & UNRECOV_ADDR_VALID,
                f'expected one record with {want} and ADDR_VALID, found '
                f'{len(match)}; handler got:\n{shown}\n{r.where()}')
    n = first_int(r, 'handler_faults')
    s.check(f'{label}: handler got exactly {len(expected)} records, one '
            f'per fault', n == len(expected) == len(recs),
            f'handler_faults {n}, records listed {len(recs)}\n{r.where()}')
    logged = parse_log(r.dmesg)
    quiet = [f for f in logged if f.addr in [e[1] for e in expected]]
    s.check(f'{label}: faults taken by the handler are not logged',
            not quiet, '\n'.join(f.describe() for f in quiet))
    after = first_int(r, 'handler_faults_after')
    s.check(f'{label}: after unregister the handler gets nothing',
            after == 0 and (r.result('handler_after') or [['?']])[0][0] ==
            '0', f'handler_faults_after {after}\n{r.where()}')
    back = [f for f in logged if f.addr == 0xdeaf000 and
            f.direction == 'write' and f.device == dev[5:]]
    s.check(f'{label}: after unregister the driver logs the fault again',
            len(back) == 1, f'logged:\n' +
            '\n'.join(f.describe() for f in logged) + '\n' + r.where())
    qemu = len(r.trace_lines(arch.fault_trace))
    s.check(f'{label}: QEMU recorded {qemu} faults = {n} to the handler + '
            f'{len(logged)} logged', qemu == n + len(logged) ==
            len(expected) + 1, r.where())
    return qemu


FAULTS = [
    ('DMA write to never-mapped 0xdead000', 0xdead000, 'write'),
    ('DMA read of never-mapped 0xdeae000', 0xdeae000, 'read'),
    ('DMA write to the read-only page', 'ro', 'write'),
]


def expected_faults(r, reasons):
    ro = first_int(r, 'ro_iova')
    return [(d, ro if a == 'ro' else a, rw, why)
            for (d, a, rw), why in zip(FAULTS, reasons)]


def vtd_group(mode):
    def t(s):
        arch = arches.get('x86_64')
        label = f'vtd-{mode}'
        r = boot(s, label, arch, mode, 'faults')
        if r is None:
            return
        # second-level entries have no present bit: holes fault on R/W
        expected = expected_faults(r, ['PERMISSION'] * 3)
        qemu = expect_handler_faults(s, label, r, arch, expected,
                                     faults.parse_dmar)
        got = [counter(r, 'fault_records' + x)
               for x in ('', '_dropped', '_unknown')]
        s.check(f'{label}: sysfs counts {qemu} records read, none dropped '
                f'or unattributed', got == [qemu, 0, 0],
                f'fault_records, _dropped, _unknown: {got}\n{r.where()}')
    return t


group('vtd-legacy')(vtd_group('legacy'))
group('vtd-scalable')(vtd_group('scalable'))


@group('smmuv3')
def t_smmuv3(s):
    arch = arches.get('arm64')
    label = 'smmuv3'
    r = boot(s, label, arch, 'smmuv3', 'faults')
    if r is None:
        return
    expected = expected_faults(r, ['TRANSLATION', 'TRANSLATION',
                                   'PERMISSION'])
    expect_handler_faults(s, label, r, arch, expected, faults.parse_smmu)


def storm_group(arch_name, mode):
    def t(s):
        arch = arches.get(arch_name)
        label = f'storm-{arch_name}'
        r = boot(s, label, arch, mode, 'storm')
        if r is None:
            return
        qemu = len(r.trace_lines(arch.fault_trace))
        got = first_int(r, 'handler_faults')
        dropped = counter(r, 'fault_records_dropped') or 0
        s.check(f'{label}: QEMU recorded {qemu} faults (at least 10000)',
                qemu >= 10000, r.where())
        s.check(f'{label}: {got} delivered + {dropped} dropped = {qemu} '
                f'recorded by QEMU', got + dropped == qemu, r.where())
        records = counter(r, 'fault_records')
        if records is not None:
            s.check(f'{label}: the driver read all {qemu} records',
                    records == qemu, f'fault_records {records}\n'
                    + r.where())
        say(f'info {label}: {qemu} faults in {r.seconds:.0f} s of VM time '
               f'(boot included)')
    return t


group('storm-x86_64')(storm_group('x86_64', 'legacy'))
group('storm-arm64')(storm_group('arm64', 'smmuv3'))


# --- KUnit inside the VM kernels ---------------------------------------------

def kunit_cases(node, prefix=''):
    name = f'{prefix}{node.get("name", "")}'
    for case in node.get('test_cases', []):
        yield f'{name}.{case["name"]}', case.get('status')
    for sub in node.get('sub_groups', []):
        yield from kunit_cases(sub, f'{name}.' if node.get('name') else '')


def kunit_group(arch_name, mode, required_suites):
    def t(s):
        arch = arches.get(arch_name)
        label = f'kunit-{arch_name}'
        r = boot(s, label, arch, mode, 'faults', check=False)
        if r is None:
            return
        log = os.path.join(r.logdir, 'dmesg.log')
        with open(log, 'w') as f:
            f.write('\n'.join(r.dmesg or r.text.split('\n')) + '\n')
        js = os.path.join(r.logdir, 'kunit.json')
        p = subprocess.run(['python3', os.path.join(
            TREE, 'tools/testing/kunit/kunit.py'), 'parse', f'--json={js}',
            log], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        with open(os.path.join(r.logdir, 'kunit-parse.log'), 'w') as f:
            f.write(p.stdout)
        try:
            data = json.load(open(js))
        except (OSError, ValueError):
            return s.check(f'{label}: kunit.py parse', False,
                           p.stdout[-2000:])
        # the root node is kunit.py's 'KUnit Test Group'; suites are below
        cases = [c for sub in data.get('sub_groups', [])
                 for c in kunit_cases(sub)]
        suites = {name.split('.')[0] for name, _ in cases}
        for req in required_suites:
            s.check(f'{label}: suite {req} ran', req in suites,
                    f'suites seen: {sorted(suites)}')
        for name, status in cases:
            s.check(f'{label}: {name}', status in ('PASS', 'SKIP'),
                    f'status {status}; see {r.logdir}/kunit-parse.log')
        s.check(f'{label}: kunit.py parse reports success',
                p.returncode == 0, p.stdout[-2000:])
        # benchmarks print, they never pass or fail
        for line in r.dmesg:
            if '# bench: ' in line or ' bench: ' in line:
                say(f'bench {label}: {line.split("bench:", 1)[1].strip()}')
    return t


group('kunit-x86_64')(kunit_group('x86_64', 'legacy',
                                  ['iommu-fault', 'intel-iommu-fault']))
group('kunit-arm64')(kunit_group('arm64', 'smmuv3',
                                 ['iommu-fault', 'arm-smmu-v3-kunit-test']))


# --- series hygiene ------------------------------------------------------------

@group('hygiene')
def t_hygiene(s):
    s.ctx.tree()
    patches = tree.series()
    n = len(patches)
    try:
        commits = hygiene.step_tree()
        s.check(f'series: {n} patches apply to base with git am', True)
    except Failure as e:
        return s.check(f'series: {n} patches apply to base with git am',
                       False, e)
    names = [os.path.basename(p) for p in patches]
    if not patches:
        s.check('checkpatch --strict: no patches in the series', True)
    for p in patches:
        bad = hygiene.checkpatch(p)
        s.check(f'checkpatch --strict: {os.path.basename(p)}', not bad,
                '\n'.join(bad))

    files = hygiene.touched_files(patches)
    dirs = hygiene.build_dirs(files)
    log = os.path.join(LOGS, 'hygiene.log')
    if os.path.exists(log):
        os.remove(log)
    base_warn, head_warn = {}, {}
    for arch in arches.ARCHES.values():
        obj = kbuild.objdir(arch, 'step')
        with_label = f'{arch.name}'
        # base: build, then record sparse/W=1/coccicheck on the touched files
        try:
            hygiene.git(STEP_TREE, 'checkout', '-q', '--detach', 'base')
            with step(f'hygiene: base {arch.name} build of {" ".join(dirs)}'):
                hygiene.build_step(arch, obj, dirs, log)
        except Failure as e:
            s.check(f'build: base for {with_label}', False, e)
            continue
        try:
            cfiles = [f for f in files if os.path.exists(
                os.path.join(STEP_TREE, f))]
            comp = hygiene.compiled(obj, cfiles)
            base_warn[arch.name] = hygiene.static_checks(arch, obj, comp, log,
                                                         'at base')
        except Failure as e:
            s.check(f'sparse, W=1, coccicheck baseline on {with_label}',
                    False, e)
            continue
        broken = False
        for c, name in zip(commits, names):
            t = f'build: {name} on {arch.name}'
            if broken:
                s.check(t, False, 'an earlier patch did not build')
                continue
            try:
                hygiene.git(STEP_TREE, 'checkout', '-q', '--detach', c)
                with step(f'hygiene: {arch.name} build after {name}'):
                    hygiene.build_step(arch, obj, dirs, log)
                s.check(t, True)
            except Failure as e:
                broken = True
                s.check(t, False, e)
        if broken:
            continue
        comp = hygiene.compiled(obj, files)
        try:
            head_warn[arch.name] = hygiene.static_checks(
                arch, obj, comp, log, 'with the series')
        except Failure as e:
            s.check(f'sparse, W=1, coccicheck on {arch.name}', False, e)
            continue
        for i, what in enumerate(('sparse (C=2) and W=1', 'coccicheck')):
            new = hygiene.new_warnings(base_warn[arch.name][i],
                                       head_warn[arch.name][i])
            s.check(f'{what} on {arch.name}: no new warnings in '
                    f'{len(comp)} touched files', not new,
                    '\n'.join(f'{f}: {k}: {m}' for f, k, m in new) +
                    f'\n(log: {log})')
    hygiene.git(STEP_TREE, 'checkout', '-q', '--detach', 'base')
    base_doc = hygiene.warnings(hygiene.kernel_doc(files))
    hygiene.git(STEP_TREE, 'checkout', '-q', '--detach', commits[-1]
                if commits else 'base')
    head_doc = hygiene.warnings(hygiene.kernel_doc(files))
    new = hygiene.new_warnings(base_doc, head_doc)
    s.check(f'kernel-doc -Wall: no new warnings in {len(files)} touched '
            'files', not new, '\n'.join(f'{f}: {m}' for f, _, m in new))


def list_groups():
    for name, _ in GROUPS:
        say(name)


def main(select=None):
    s = Suite()
    t0 = time.monotonic()
    chosen = [(n, fn) for n, fn in GROUPS
              if not select or any(w in n for w in select.split(','))]
    if not chosen:
        say(f'no test group matches {select!r}; groups:')
        list_groups()
        return 2
    for name, fn in chosen:
        say(f'--- {name}')
        try:
            fn(s)
        except Failure as e:
            s.check(f'{name}: aborted', False, e)
        except Exception:
            s.check(f'{name}: aborted by a harness error', False,
                    traceback.format_exc())
    say(f'--- finished in {fmt_secs(time.monotonic() - t0)}; logs in {LOGS}')
    if s.failures:
        say('failed: ' + '; '.join(s.failures))
    line = f'{s.passed} passed, {s.failed} failed'
    os.makedirs(LOGS, exist_ok=True)
    with open(os.path.join(LOGS, 'summary.txt'), 'w') as f:
        f.write(line + '\n')
    say(line)
    return 1 if s.failed else 0
