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


def expect_faults(s, label, r, got, expected, trace_event):
    """Each expected fault reported exactly once; counts match QEMU's."""
    handler = (r.result('handler') or [['?']])[0][0]
    s.check(f'{label}: edu driver registered a device fault handler',
            handler == '1', f'fault_handler reads {handler!r}\n{r.where()}')
    for desc, want in expected:
        match = [f for f in got if all(getattr(f, k) == v
                                       for k, v in want.items())]
        s.check(f'{label}: {desc}', len(match) == 1,
                f'expected one fault with {want}, found {len(match)}:\n' +
                '\n'.join(f.describe() for f in got) + '\n' + r.where())
    qemu = len(r.trace_lines(trace_event))
    s.check(f'{label}: QEMU recorded {qemu} faults, kernel reported '
            f'{len(got)}', qemu == len(got) == len(expected),
            f'expected {len(expected)}\n{r.where()}')


def vtd_group(mode):
    def t(s):
        arch = arches.get('x86_64')
        label = f'vtd-{mode}'
        try:
            r = s.ctx.vm(arch, mode, 'faults')
        except Failure as e:
            return s.check(f'{label}: VM', False, e)
        if not vm_ok(s, label, r):
            return
        ro = int(r.result('ro_iova')[0][0], 16) if r.result('ro_iova') else -1
        dev = arch.edu_addr[5:]
        expected = [
            ('DMA write to never-mapped 0xdead000: fault reason 0x05',
             dict(device=dev, addr=0xdead000, direction='write', reason=5)),
            ('DMA read of never-mapped 0xdeae000: fault reason 0x06',
             dict(device=dev, addr=0xdeae000, direction='read', reason=6)),
            ('DMA write to read-only page: fault reason 0x05',
             dict(device=dev, addr=ro, direction='write', reason=5)),
        ]
        expect_faults(s, label, r, faults.parse_dmar(r.dmesg), expected,
                      arch.fault_trace)
    return t


group('vtd-legacy')(vtd_group('legacy'))
group('vtd-scalable')(vtd_group('scalable'))


@group('smmuv3')
def t_smmuv3(s):
    arch = arches.get('arm64')
    label = 'smmuv3'
    try:
        r = s.ctx.vm(arch, 'smmuv3', 'faults')
    except Failure as e:
        return s.check(f'{label}: VM', False, e)
    if not vm_ok(s, label, r):
        return
    ro = int(r.result('ro_iova')[0][0], 16) if r.result('ro_iova') else -1
    dev = arch.edu_addr[5:]
    expected = [
        ('DMA write to never-mapped 0xdead000: F_TRANSLATION, sid 0x10',
         dict(device=dev, addr=0xdead000, direction='write', reason=0x10)),
        ('DMA read of never-mapped 0xdeae000: F_TRANSLATION, sid 0x10',
         dict(device=dev, addr=0xdeae000, direction='read', reason=0x10)),
        ('DMA write to read-only page: F_PERMISSION, sid 0x10',
         dict(device=dev, addr=ro, direction='write', reason=0x13)),
    ]
    expect_faults(s, label, r, faults.parse_smmu(r.dmesg), expected,
                  arch.fault_trace)


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
        try:
            r = s.ctx.vm(arch, mode, 'faults')
        except Failure as e:
            return s.check(f'{label}: VM', False, e)
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


group('kunit-x86_64')(kunit_group('x86_64', 'legacy', ['iommu-fault']))
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
