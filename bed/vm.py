"""Boot a kernel in QEMU (TCG) with an initramfs that runs one scenario."""

import gzip
import os
import re
import shutil
import subprocess
import time

from . import deps
from .common import BUILD, LOGS, REPO, Failure, clean_env, fmt_secs, say

TESTS = os.path.join(REPO, 'tests')


def build_initramfs(arch, module):
    """A busybox initramfs with our /init, the scenarios and edu_fault.ko."""
    root = os.path.join(BUILD, f'initramfs-{arch.name}')
    if os.path.exists(root):
        shutil.rmtree(root)
    for d in ('bin', 'sbin', 'proc', 'sys', 'dev', 'tmp', 'lib',
              'scenarios'):
        os.makedirs(os.path.join(root, d))
    shutil.copy(deps.busybox(arch), os.path.join(root, 'bin', 'busybox'))
    shutil.copy(os.path.join(TESTS, 'init'), os.path.join(root, 'init'))
    os.chmod(os.path.join(root, 'init'), 0o755)
    sdir = os.path.join(TESTS, 'scenarios')
    for name in os.listdir(sdir):
        shutil.copy(os.path.join(sdir, name), os.path.join(root, 'scenarios'))
    if module:
        shutil.copy(module, os.path.join(root, 'lib', 'edu_fault.ko'))
    out = os.path.join(BUILD, f'initramfs-{arch.name}.cpio.gz')
    files = subprocess.run(['find', '.'], cwd=root, stdout=subprocess.PIPE,
                           check=True).stdout
    cpio = subprocess.run(['cpio', '-o', '-H', 'newc', '--quiet',
                           '--owner=0:0'], cwd=root, input=files,
                          stdout=subprocess.PIPE, check=True).stdout
    with gzip.open(out, 'wb', compresslevel=1) as f:
        f.write(cpio)
    return out


class Run:
    """What one VM run left behind, parsed."""

    def __init__(self, name, logdir):
        self.name = name
        self.logdir = logdir
        self.console = os.path.join(logdir, 'console.log')
        self.trace = os.path.join(logdir, 'qemu-trace.log')
        self.qemu_log = os.path.join(logdir, 'qemu.log')
        self.timed_out = False
        self.seconds = 0.0
        self.results = []       # (key, [values]) from 'BED:' lines
        self.dmesg = []
        self.rc = None          # the scenario's exit status

    def where(self):
        return (f'console: {self.console}\n'
                f'QEMU fault trace: {self.trace}\nQEMU log: {self.qemu_log}')

    def parse(self):
        text = open(self.console, errors='replace').read()
        self.text = text
        lines = text.replace('\r', '').split('\n')
        in_dmesg = False
        for line in lines:
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
                self.rc = int(line.split()[1])

    def result(self, key):
        return [v for k, v in self.results if k == key]

    def trace_lines(self, event):
        try:
            return [line for line in open(self.trace, errors='replace')
                    if event in line]
        except OSError:
            return []

    def kernel_problems(self):
        """Splats in the kernel log: warnings, lockdep, KASAN, lockups."""
        pat = re.compile(r'WARNING:|BUG:|Oops|KASAN|possible circular|'
                         r'inconsistent lock|soft lockup|rcu_sched self-|'
                         r'rcu: INFO|Kernel panic|Call Trace:|UBSAN|'
                         r'blocked for more than')
        src = self.dmesg or self.text.split('\n')
        return [line for line in src if pat.search(line)]


def run_vm(arch, mode, scenario, kernel, initrd, timeout=600, cmdline='',
           interactive=False):
    if mode not in arch.modes:
        raise Failure(f'{arch.name}: no mode {mode}; '
                      f'modes: {", ".join(arch.modes)}')
    name = f'{arch.name}-{mode}-{scenario}'
    logdir = os.path.join(LOGS, 'vm', name)
    os.makedirs(logdir, exist_ok=True)
    r = Run(name, logdir)
    for p in (r.console, r.trace, r.qemu_log):
        if os.path.exists(p):
            os.remove(p)
    props, extra = arch.modes[mode]
    append = (f'console={arch.console} panic=-1 oops=panic iommu.strict=1 '
              f'log_buf_len=8M bed.scenario={scenario} {cmdline}').strip()
    cmd = [arch.qemu, '-M', arch.machine + props, *arch.qemu_args,
           '-smp', '2', '-m', '1G', '-no-reboot', '-display', 'none',
           '-kernel', kernel, '-initrd', initrd, '-append', append,
           *extra, '-device', f'edu,dma_mask=0xffffffffffffffff,'
           f'{arch.edu_slot}',
           *arch.scenario_args.get(scenario, []),
           '-d', f'trace:{arch.fault_trace}', '-D', r.trace]
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
    if not os.path.exists(r.console):
        open(r.console, 'w').close()
    r.parse()
    status = ('TIMED OUT' if r.timed_out else
              f'scenario rc={r.rc}' if r.rc is not None else
              'no result (crashed?)')
    say(f'    vm {name}: {status} after {fmt_secs(r.seconds)} '
        f'(logs: {logdir})')
    return r
