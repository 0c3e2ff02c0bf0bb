"""Command line of the test bed; the Makefile is a thin wrapper around it."""

import argparse
import sys

from . import (arches, bench, chain, deps, demo, flavours, modes, profile,
               runner, tree)
from .common import Failure, say
from .groups import all_groups, storm


def flavour_of(a):
    if getattr(a, 'flavour', ''):
        return flavours.get(a.flavour)
    return flavours.get('base-debug' if a.base else flavours.DEFAULT)


def cmd_vm(a):
    arch = arches.get(a.arch)
    mode = modes.get(a.mode, arch.name) if a.mode else \
        modes.default(arch.name)
    interactive = a.scenario == 'shell'
    params = dict(x.split('=', 1) for x in a.param)
    extra = ()
    if a.scenario == 'storm':
        if not mode.storm:
            raise Failure(f'IOMMU mode {mode.name} has no storm shape; modes '
                          'with one: ' + ', '.join(
                              m.name for m in modes.MODES if m.storm))
        params = {**storm.params(mode), **params}
        extra = storm.STORM_QEMU
    r = chain.Chain().vm(flavour_of(a), arch, mode, a.scenario,
                         params=params, qemu_extra=extra, kunit=a.kunit,
                         interactive=interactive)
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
        if name == 'kernel':
            c.add_argument('--flavour', default='',
                           help=f'one of {", ".join(flavours.FLAVOURS)}')
        else:
            c.add_argument('--mode', default='',
                           help='IOMMU mode (default: the arch\'s first)')
        if name == 'vm':
            c.add_argument('--scenario', default='faults')
            c.add_argument('--kunit', action='store_true',
                           help='run KUnit at boot')
            c.add_argument('--param', action='append', default=[],
                           help='KEY=VALUE: bed.KEY=VALUE on the kernel '
                           'command line (kunit.filter_glob=... too)')
    c = sub.add_parser('check')
    c.add_argument('-k', dest='select', default='',
                   help='only the test groups whose name contains this '
                   '(comma-separated)')
    c.add_argument('--list', action='store_true')
    b = sub.add_parser('bench', help='the series against base, ratios')
    b.add_argument('--rounds', type=int, default=100000)
    b.add_argument('--runs', type=int, default=5)
    b.add_argument('--figures', default='', help='e.g. P1 (default: all)')
    sub.add_parser('profile', help='instructions per function, P1 round '
                   'trip, series against base')
    a = p.parse_args()
    try:
        if a.cmd == 'deps':
            deps.ensure_packages()
        elif a.cmd == 'tree':
            tree.prepare(force=a.force)
        elif a.cmd == 'export':
            tree.export()
        elif a.cmd == 'kernel':
            deps.ensure_packages()
            c = chain.Chain()
            c.module(flavour_of(a), arches.get(a.arch))
        elif a.cmd == 'demo':
            return demo.run(a.arch, a.mode, a.base)
        elif a.cmd == 'vm':
            deps.ensure_packages()
            return cmd_vm(a)
        elif a.cmd == 'bench':
            deps.ensure_packages()
            return bench.run(a.rounds, a.runs, a.figures)
        elif a.cmd == 'profile':
            deps.ensure_packages()
            return profile.run()
        elif a.cmd == 'check':
            if a.list:
                for name, _ in all_groups():
                    say(name)
                say('\nIOMMU modes (MODE=): ' + ', '.join(
                    f'{m.name} on {"/".join(m.arches)}' for m in modes.MODES))
                say('kernel flavours (FLAVOUR=):')
                for f in flavours.FLAVOURS.values():
                    say(f'  {f.name}: {f.about}')
                return 0
            deps.ensure_packages()
            return runner.main(all_groups(), a.select)
    except Failure as e:
        say(f'error: {e}')
        return 1
    return 0


sys.exit(main())
