"""Command line of the test bed; the Makefile is a thin wrapper around it."""

import argparse
import os
import sys

from . import arches, deps, faults, kbuild, suite, tree, vm
from .common import TREE, BASE_TREE, Failure, git, say


def _kernel(arch, base=False):
    if base:
        if not tree._has_base(TREE):
            tree.prepare()
        if not os.path.isdir(BASE_TREE):
            git(TREE, 'worktree', 'prune')
            git(TREE, 'worktree', 'add', '-q', '--detach', BASE_TREE, 'base')
        return BASE_TREE, kbuild.build_kernel(arch, BASE_TREE, 'base')
    tree.prepare()
    return TREE, kbuild.build_kernel(arch, TREE)


def cmd_demo(a):
    arch = arches.get(a.arch)
    deps.ensure_packages()
    src, obj = _kernel(arch, a.base)
    module = kbuild.build_module(arch, src, obj)
    initrd = vm.build_initramfs(arch, module)
    mode = a.mode or next(iter(arch.modes))
    say(f'==> booting {arch.name} ({mode}) and provoking DMA faults '
        'from the edu device')
    r = vm.run_vm(arch, mode, 'faults', kbuild.kernel_image(arch, obj),
                  initrd)
    if r.rc != 0:
        raise Failure(f'the VM did not finish the scenario\n{r.where()}')
    say('')
    say('What the test driver asked the edu device to do:')
    for v in r.result('dma'):
        say(f'  DMA {v[0]:5} IOVA {v[1]} ({v[2]} bytes)')
    say(f'  (IOVA {r.result("ro_iova")[0][0]} is a page mapped read-only '
        'for the device)')
    say('')
    say('What the kernel reported:')
    found = faults.parse(r.dmesg)
    if not found:
        say('  nothing!')
    for f in found:
        say(f'  [{f.source}] {f.describe()}')
        for line in f.raw:
            say(f'      | {line.strip()}')
    say('')
    handler = (r.result('handler') or [['?']])[0][0]
    if handler == 'unsupported':
        say('This kernel has no device fault handler API.')
    else:
        n = (r.result('handler_faults') or [['0']])[0][0]
        say(f'What the edu driver\'s fault handler received '
            f'(registered: {handler}): {n} faults')
        for v in r.result('handler_fault'):
            say('  ' + ' '.join(v))
        if n == '0':
            say('  (none: this kernel\'s IOMMU driver printed the faults above '
                'itself instead of reporting them to the handler)')
    qemu = len(r.trace_lines(arch.fault_trace))
    say('')
    say(f'QEMU recorded {qemu} faults (trace:{arch.fault_trace}); the kernel '
        f'reported {len(found)}.')
    say(f'Logs: {r.logdir}')
    return 0


def cmd_vm(a):
    arch = arches.get(a.arch)
    src, obj = _kernel(arch, a.base)
    module = kbuild.build_module(arch, src, obj)
    initrd = vm.build_initramfs(arch, module)
    mode = a.mode or next(iter(arch.modes))
    interactive = a.scenario == 'shell'
    r = vm.run_vm(arch, mode, a.scenario, kbuild.kernel_image(arch, obj),
                  initrd, cmdline=a.cmdline or '', interactive=interactive)
    if not interactive:
        for k, v in r.results:
            say(f'  {k} {" ".join(v)}')
        say(r.where())
    return 0 if interactive or r.rc == 0 else 1


def main():
    p = argparse.ArgumentParser(prog='python3 -m bed')
    sub = p.add_subparsers(dest='cmd', required=True)
    sub.add_parser('deps', help='apt-get install what is missing')
    t = sub.add_parser('tree', help='build/linux = base + patches/')
    t.add_argument('--force', action='store_true')
    sub.add_parser('export', help='write patches/ from build/linux')
    for name in ('kernel', 'demo', 'vm'):
        c = sub.add_parser(name)
        c.add_argument('--arch', default='x86_64')
        c.add_argument('--base', action='store_true',
                       help='the unpatched base instead of the series')
        if name != 'kernel':
            c.add_argument('--mode', default='')
        if name == 'vm':
            c.add_argument('--scenario', default='faults')
            c.add_argument('--cmdline', default='')
    c = sub.add_parser('check')
    c.add_argument('-k', dest='select', default='',
                   help='only the test groups whose name contains this '
                   '(comma-separated)')
    c.add_argument('--list', action='store_true')
    a = p.parse_args()
    try:
        if a.cmd == 'deps':
            deps.ensure_packages()
        elif a.cmd == 'tree':
            tree.prepare(force=a.force)
        elif a.cmd == 'export':
            tree.export()
        elif a.cmd == 'kernel':
            _kernel(arches.get(a.arch), a.base)
        elif a.cmd == 'demo':
            return cmd_demo(a)
        elif a.cmd == 'vm':
            return cmd_vm(a)
        elif a.cmd == 'check':
            if a.list:
                suite.list_groups()
                return 0
            deps.ensure_packages()
            return suite.main(a.select)
    except Failure as e:
        say(f'error: {e}')
        return 1
    return 0


sys.exit(main())
