"""The chain every VM run needs: tree -> kernel -> module -> initramfs ->
VM, each step done once per command, for a kernel flavour and an arch.
'make check' and 'make demo' share it.
"""

import traceback

from . import kbuild, progs, tree, vm
from .common import Failure


class Chain:
    def __init__(self):
        self.memo = {}

    def once(self, key, fn):
        """fn() once; a failure is remembered and raised again.  Any other
        exception (a tool missing, a file unreadable) becomes a Failure
        too, so that the checks waiting on this step count as not run."""
        if key not in self.memo:
            try:
                self.memo[key] = (True, fn())
            except Failure as e:
                self.memo[key] = (False, e)
            except Exception as e:
                self.memo[key] = (False, Failure(
                    f'{type(e).__name__}: {e}\n' +
                    ''.join(traceback.format_exc().splitlines(True)[-6:])))
        ok, val = self.memo[key]
        if not ok:
            raise val
        return val

    def tree(self):
        # a tree with unexported work is tested as it is, with a warning
        return self.once('tree', lambda: tree.prepare(as_is=True))

    def kernel(self, flavour, arch):
        if flavour.tree == 'series':
            self.tree()
        # a base flavour needs only tag base, even when the series does not
        # apply: kbuild.source() makes its worktree
        return self.once(('kernel', flavour.name, arch.name),
                         lambda: kbuild.build_kernel(flavour, arch))

    def module(self, flavour, arch):
        obj = self.kernel(flavour, arch)
        return self.once(('module', flavour.name, arch.name),
                         lambda: kbuild.build_module(flavour, arch, obj))

    def progs(self, flavour, arch):
        obj = self.kernel(flavour, arch)
        return self.once(('progs', flavour.name, arch.name),
                         lambda: progs.build_progs(flavour, arch, obj))

    def initrd(self, flavour, arch):
        mod = self.module(flavour, arch)
        # the programs' own group reports a failure to build them; the
        # other scenarios do not need them
        try:
            bins = self.progs(flavour, arch)
        except Failure:
            bins = None
        return self.once(('initrd', flavour.name, arch.name),
                         lambda: vm.build_initramfs(flavour, arch, mod,
                                                    bins))

    def vm(self, flavour, arch, mode, scenario, params=None, qemu_extra=(),
           kunit=False, interactive=False, timeout=600, cmdline=()):
        obj = self.kernel(flavour, arch)
        initrd = self.initrd(flavour, arch)
        key = ('vm', flavour.name, arch.name, mode.name, scenario,
               tuple(sorted((params or {}).items())), tuple(qemu_extra),
               kunit, tuple(cmdline))
        return self.once(key, lambda: vm.run_vm(
            flavour, arch, mode, scenario, kbuild.kernel_image(arch, obj),
            initrd, params=params, qemu_extra=qemu_extra, kunit=kunit,
            interactive=interactive, timeout=timeout, cmdline=cmdline))
