"""'make profile': where the page-request round trip of P1 (bench.py) spends
its instructions, on the series against unpatched 6.12.

Both bench kernels boot the P1 scenario paused, with QEMU's gdb stub on a
Unix socket and KASLR off.  gdb (tests/profile/trace_calls.py) lets the
benchmark loop run, then single-steps one call of each system call of the
round trip and records every kernel instruction executed.  The instructions
are attributed to functions with the kernel's symbol table, and the table
printed gives, per function, how many each kernel executed in the call of
median length among five consecutive calls (one call can pay for a slab
refill that the others do not).  Under TCG
with -icount shift=0 one instruction is one guest ns, so the differences
add up to the P1 difference that 'make bench' measures (less user space
and the system call entry, which the two kernels share).
"""

import bisect
import collections
import json
import os
import subprocess
import threading
import time

from . import arches, bench, chain, deps, flavours, modes
from .common import REPO, Failure, say

# (function, calls to let pass first): the ioctl that triggers the page
# request (after the benchmark's set-up ioctls), read() and write()
CALLS = (('iommufd_fops_ioctl', 60), ('iommufd_fault_fops_read', 3),
         ('iommufd_fault_fops_write', 3))
SCRIPT = os.path.join(REPO, 'tests', 'profile', 'trace_calls.py')


def symbols(vmlinux):
    out = subprocess.run(['nm', '-n', vmlinux], capture_output=True,
                         text=True, check=True).stdout
    addrs, names = [], []
    for line in out.splitlines():
        p = line.split()
        if len(p) == 3 and p[1] in 'tTwW':
            addrs.append(int(p[0], 16))
            names.append(p[2])
    return addrs, names


def trace(c, flavour, arch, mode, outdir):
    """{call: Counter(function: instructions)} for one kernel."""
    obj = c.kernel(flavour, arch)
    sock = os.path.join(outdir, f'{flavour.name}.gdb')
    out = os.path.join(outdir, f'{flavour.name}.json')
    for p in (sock, out):
        if os.path.exists(p):
            os.unlink(p)
    box = {}

    def boot():
        try:
            box['r'] = c.vm(flavour, arch, mode, 'bench',
                        params={'rounds': 1000, 'runs': 1},
                        qemu_extra=bench.ICOUNT + (
                            '-S', '-gdb', f'unix:{sock},server=on,wait=off'),
                        timeout=1200,
                        cmdline=arch.mock_iommu_cmdline + ('nokaslr',))
        except Failure as e:
            box['error'] = e
    t = threading.Thread(target=boot)
    t.start()
    for _ in range(600):
        if os.path.exists(sock) or not t.is_alive():
            break
        time.sleep(0.1)
    if not os.path.exists(sock):
        t.join()
        raise Failure(f'profile of {flavour.name}: the VM offered no gdb '
                      f'socket\n{box.get("error", "")}')
    env = dict(os.environ, PROF_SOCKET=sock, PROF_OUT=out,
               PROF_FUNCS=','.join(f'{n}:{k}' for n, k in CALLS))
    try:
        g = subprocess.run(['gdb', '-q', '-batch', '-x', SCRIPT,
                            os.path.join(obj, 'vmlinux')], env=env,
                           capture_output=True, text=True, timeout=1200)
    except subprocess.TimeoutExpired as e:
        raise Failure(f'profile of {flavour.name}: gdb timed out') from e
    t.join()
    if 'error' in box:
        raise Failure(f'profile of {flavour.name}: {box["error"]}')
    if not os.path.exists(out):
        raise Failure(f'profile of {flavour.name}: gdb recorded nothing\n'
                      f'{g.stdout[-2000:]}{g.stderr[-2000:]}')
    addrs, names = symbols(os.path.join(obj, 'vmlinux'))
    res = {}
    for call, runs in json.load(open(out)).items():
        # the call of median length: one call can pay for a slab refill
        # or an RCU callback that the others do not
        pcs = sorted(runs, key=len)[len(runs) // 2]
        res[call] = collections.Counter(
            names[i] if (i := bisect.bisect_right(addrs, pc) - 1) >= 0
            else hex(pc) for pc in pcs)
    return res


def run():
    deps.ensure_packages(deps.BENCH_PACKAGES)
    arch = arches.get('x86_64')
    mode = modes.default(arch.name)
    c = chain.Chain()
    outdir = os.path.join(bench.OUTDIR, 'profile')
    os.makedirs(outdir, exist_ok=True)
    got = {}
    for k in bench.KERNELS:
        c.progs(flavours.get(k), arch)
        got[k] = trace(c, flavours.get(k), arch, mode, outdir)
    base, series = (got[k] for k in bench.KERNELS)
    lines = []
    total = 0
    for call, _ in CALLS:
        b, s = base[call], series[call]
        d = sum(s.values()) - sum(b.values())
        total += d
        lines.append(f'{call}: base {sum(b.values())}, series '
                     f'{sum(s.values())}, difference {d:+d}')
        for fn in sorted(set(b) | set(s), key=lambda f: -abs(s[f] - b[f])):
            if s[fn] != b[fn]:
                lines.append(f'    {fn:44s}{b[fn]:7d}{s[fn]:7d}'
                             f'{s[fn] - b[fn]:+7d}')
    lines.append(f'round trip: series - base = {total:+d} instructions '
                 '(kernel, without system call entry and exit)')
    text = '\n'.join(lines)
    with open(os.path.join(outdir, 'profile.txt'), 'w') as f:
        f.write(text + '\n')
    say(text)
    say(f'\ninstruction counts per function and call: '
        f'{os.path.join(outdir, "profile.txt")}')
    return 0
