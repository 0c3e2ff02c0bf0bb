"""Boot a kernel in QEMU (TCG) with an initramfs that runs one scenario.

The VM has two channels:
- the serial console (console.log): the kernel's own log, as it prints it;
- a virtio console (results.log), where /init writes the scenario's result
  lines and, at the end, the whole kernel log (dmesg).
"""

import gzip
import os
import re
import shutil
import subprocess
import tempfile
import time

from . import deps, kbuild
from .common import LOGS, REPO, clean_env, fmt_secs, say

TESTS = os.path.join(REPO, 'tests')


def build_initramfs(flavour, arch, module, progs=None):
    """A busybox initramfs with our /init, the scenarios, edu_fault.ko and
    the test programs (progs.py) in /progs."""
    out = kbuild.outdir(flavour, arch)
    # Staged in a directory of this process's own, and the archive put in
    # place with a rename: another harness process packing the same
    # flavour (make bench beside make profile, say) then never hands QEMU
    # a half-written archive or a half-copied tree
    root = tempfile.mkdtemp(prefix='initramfs.', dir=out)
    os.chmod(root, 0o755)  # the guest's /
    for d in ('bin', 'sbin', 'proc', 'sys', 'dev', 'tmp', 'lib',
              'scenarios', 'progs'):
        os.makedirs(os.path.join(root, d))
    shutil.copy(deps.busybox(arch), os.path.join(root, 'bin', 'busybox'))
    shutil.copy(os.path.join(TESTS, 'init'), os.path.join(root, 'init'))
    os.chmod(os.path.join(root, 'init'), 0o755)
    sdir = os.path.join(TESTS, 'scenarios')
    for name in os.listdir(sdir):
        shutil.copy(os.path.join(sdir, name), os.path.join(root, 'scenarios'))
    if module:
        shutil.copy(module, os.path.join(root, 'lib', 'edu_fault.ko'))
    for name in os.listdir(progs) if progs else ():
        shutil.copy(os.path.join(progs, name), os.path.join(root, 'progs'))
    path = os.path.join(out, 'initramfs.cpio.gz')
    files = subprocess.run(['find', '.'], cwd=root, stdout=subprocess.PIPE,
                           check=True).stdout
    cpio = subprocess.run(['cpio', '-o', '-H', 'newc', '--quiet',
                           '--owner=0:0'], cwd=root, input=files,
                          stdout=subprocess.PIPE, check=True).stdout
    shutil.rmtree(root)
    tmp = f'{path}.{os.getpid()}'
    with gzip.open(tmp, 'wb', compresslevel=1) as f:
        f.write(cpio)
    os.replace(tmp, path)
    return path


# Splats in a kernel log: warnings, lockdep, KASAN, lockups, stalls
PROBLEM_RE = re.compile(r'WARNING:|BUG:|Oops|KASAN|possible circular|'
                        r'inconsistent lock|soft lockup|rcu_sched self-|'
                        r'rcu: INFO|Kernel panic|Call Trace:|UBSAN|'
                        r'blocked for more than')


class Run:
    """What one VM run left behind, parsed."""

    def __init__(self, name, logdir):
        self.name = name
        self.logdir = logdir
        self.console = os.path.join(logdir, 'console.log')
        self.results_log = os.path.join(logdir, 'results.log')
        self.trace = os.path.join(logdir, 'qemu-trace.log')
        self.qemu_log = os.path.join(logdir, 'qemu.log')
        self.timed_out = False
        self.seconds = 0.0
        self.results = []       # (key, [values]) from 'BED:' lines
        self.dmesg = []         # the kernel log dumped after the scenario
        self.console_text = ''
        self.rc = None          # the scenario's exit status
        self.began = False      # /init got as far as starting the scenario

    def where(self):
        return (f'logs: {self.logdir}/ (console.log: the kernel log; '
                'results.log: the scenario; qemu-trace.log: QEMU\'s '
                'faults; qemu.log, qemu-cmd.txt)')

    def parse(self):
        self.console_text = open(self.console, errors='replace').read()
        try:
            text = open(self.results_log, errors='replace').read()
        except OSError:
            text = ''
        if 'BED-BEGIN' not in text:
            # /init found no virtio console and wrote to the serial one
            text = self.console_text
        self.began = 'BED-BEGIN' in text
        in_dmesg = False
        for line in text.replace('\r', '').split('\n'):
            if line == 'BED-DMESG-BEGIN':
                in_dmesg = True
            elif line == 'BED-DMESG-END':
                in_dmesg = False
            elif in_dmesg:
                self.dmesg.append(line)
            elif line.startswith('BED: '):
                parts = line[5:].split()
                if parts:
                    self.results.append((parts[0], parts[1:]))
            elif line.startswith('BED-END '):
                try:
                    self.rc = int(line.split()[1])
                except (IndexError, ValueError):
                    pass

    def kernel_log(self):
        """The whole kernel log: the dump if the scenario got that far,
        else what the console printed."""
        return self.dmesg or self.console_text.replace('\r', '').split('\n')

    def result(self, key):
        return [v for k, v in self.results if k == key]

    def first(self, key, default=None):
        """The first value of result key, as a string."""
        v = self.result(key)
        return v[0][0] if v and v[0] else default

    def first_int(self, key, default=-1):
        try:
            return int(self.first(key), 0)
        except (TypeError, ValueError):
            return default

    def trace_lines(self, event):
        try:
            return [line for line in open(self.trace, errors='replace')
                    if event in line]
        except OSError:
            return []

    def last_words(self):
        """The first problem in the kernel log and its last lines."""
        problems = self.kernel_problems()
        tail = [x for x in self.kernel_log() if x.strip()][-6:]
        out = [f'    first problem: {problems[0].strip()}'] if problems else []
        out.append('    last kernel lines:')
        out += [f'      | {x}' for x in tail] or ['      (none)']
        return '\n'.join(out)

    def timeouts(self):
        """What the scenario waited for in vain (its 'timeout' results)."""
        return [' '.join(v) for v in self.result('timeout')]

    def kernel_problems(self):
        return [line for line in self.kernel_log() if PROBLEM_RE.search(line)]


def run_vm(flavour, arch, mode, scenario, kernel, initrd, params=None,
           qemu_extra=(), kunit=False, timeout=600, interactive=False,
           cmdline=()):
    """Boot once and run scenario.  params become bed.<key>=<value> on the
    kernel command line (a key with a dot, such as kunit.filter_glob, goes
    as it is), after the kernel parameters in cmdline; KUnit runs at boot
    only with kunit."""
    name = f'{flavour.name}-{arch.name}-{mode.name}-{scenario}'
    # runs of one scenario that must not share a log directory: make
    # bench's figures (P3 and P4 boot the same scenario), a second attempt
    name += ''.join(f'-{(params or {})[k]}' for k in ('figure', 'attempt')
                    if k in (params or {}))
    logdir = os.path.join(LOGS, 'vm', name)
    if os.path.exists(logdir):
        shutil.rmtree(logdir)
    os.makedirs(logdir)
    r = Run(name, logdir)
    args = {'scenario': scenario, **(params or {})}
    append = ' '.join([f'console={arch.console}', 'panic=-1', 'oops=panic',
                       'iommu.strict=1', 'log_buf_len=8M',
                       f'kunit.enable={int(kunit)}', *cmdline,
                       *(f'{k}={v}' if '.' in k else f'bed.{k}={v}'
                         for k, v in args.items())])
    cmd = [arch.qemu, '-M', arch.machine + mode.qemu_machine,
           *arch.qemu_args, '-smp', '2', '-m', '1G', '-no-reboot',
           '-display', 'none', '-kernel', kernel, '-initrd', initrd,
           '-append', append, *mode.qemu_args,
           '-device', f'edu,dma_mask=0xffffffffffffffff,addr={arch.edu_slot}',
           '-device', f'virtio-serial-pci,addr={arch.aux_slot}',
           '-chardev', f'file,id=bedres,path={r.results_log}',
           '-device', 'virtconsole,chardev=bedres',
           *qemu_extra, '-d', f'trace:{mode.trace}', '-D', r.trace]
    if interactive:
        cmd += ['-serial', 'mon:stdio']
    else:
        cmd += ['-monitor', 'none', '-serial', f'file:{r.console}']
    with open(os.path.join(logdir, 'qemu-cmd.txt'), 'w') as f:
        f.write(' '.join(f"'{a}'" if ' ' in a else a for a in cmd) + '\n')
    if interactive:
        subprocess.run(cmd, env=clean_env())
        return r
    t0 = time.monotonic()
    with open(r.qemu_log, 'w') as log:
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=clean_env())
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            r.timed_out = True
            p.kill()
            p.wait()
    r.seconds = time.monotonic() - t0
    for path in (r.console, r.results_log):
        if not os.path.exists(path):
            open(path, 'w').close()
    r.parse()
    status = ('TIMED OUT' if r.timed_out else
              f'scenario rc={r.rc}' if r.rc is not None else
              'no result (crashed?)')
    say(f'    vm {name}: {status} after {fmt_secs(r.seconds)} '
        f'(logs: {logdir})')
    if r.rc is None:
        say(r.last_words())
    return r

