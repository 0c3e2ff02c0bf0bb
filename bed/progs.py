"""User-space test programs, built static for a kernel flavour and an arch.

Each program is a record: its sources (in our tests/progs/ or in the
flavour's kernel tree) and include directories.  They are compiled
against the uapi headers of the kernel they will run on (the build's
usr/include, CONFIG_HEADERS_INSTALL) and go into the initramfs as
/progs/<name>.  The upstream iommufd kselftests are built from the
flavour's own tree, unmodified; kselftest-compat.h is forced in only when
that tree's uapi lacks names the tests use (see the header).
"""

import os
from dataclasses import dataclass

from . import kbuild
from .common import LOGS, REPO, run, step

PROGS_SRC = os.path.join(REPO, 'tests', 'progs')
COMPAT = os.path.join(PROGS_SRC, 'kselftest-compat.h')
SELFTESTS = 'tools/testing/selftests/iommu'


@dataclass(frozen=True)
class Prog:
    name: str
    source: str          # 'tree:<path>' (in the kernel tree) or our file
    includes: tuple = ()  # kernel-tree directories on the include path
    kselftest: bool = False
    # a program that only some trees have (the series adds it): skipped
    # where its source is missing
    optional: bool = False


PROGS = (
    Prog('iommufd', f'tree:{SELFTESTS}/iommufd.c', kselftest=True),
    Prog('iommufd_fail_nth', f'tree:{SELFTESTS}/iommufd_fail_nth.c',
         kselftest=True),
    Prog('iommufd_dev_fault', f'tree:{SELFTESTS}/iommufd_dev_fault.c',
         kselftest=True, optional=True),
    Prog('iommufd_iopf_once', f'tree:{SELFTESTS}/iommufd_iopf_once.c',
         kselftest=True, optional=True),
    Prog('iopf_bench', 'iopf_bench.c', includes=('drivers/iommu/iommufd',)),
    # needs IOMMU_DEV_FAULT_QUEUE_ALLOC; on a tree without it (base) it
    # builds as a stub that says so
    Prog('vfio_fault', 'vfio_fault.c'),
)


def needs_compat(usr_include):
    text = open(os.path.join(usr_include, 'linux', 'iommufd.h')).read()
    return 'IOMMU_HW_INFO_TYPE_DEFAULT' not in text


def build_progs(flavour, arch, obj):
    """Build every program; returns the directory that holds them."""
    tree = kbuild.source(flavour)
    usr = os.path.join(obj, 'usr', 'include')
    dst = os.path.join(kbuild.outdir(flavour, arch), 'progs')
    os.makedirs(dst, exist_ok=True)
    log = os.path.join(LOGS, f'progs-{flavour.name}-{arch.name}.log')
    cc = f'{arch.cross_compile}gcc'
    with step(f'building the test programs for {flavour.name} '
              f'{arch.name} (log: {log})'):
        if os.path.exists(log):
            os.remove(log)
        for p in PROGS:
            src = (os.path.join(tree, p.source[5:])
                   if p.source.startswith('tree:')
                   else os.path.join(PROGS_SRC, p.source))
            if p.optional and not os.path.exists(src):
                continue
            cmd = ['ccache', cc, '-static', '-O2', '-Wall', '-o',
                   os.path.join(dst, p.name), '-isystem', usr,
                   *(f'-I{os.path.join(tree, d)}' for d in p.includes)]
            if p.kselftest:
                # as the selftests' own Makefile and lib.mk build them
                cmd += ['-Wno-unused-function', '-D_GNU_SOURCE',
                        f'-I{os.path.join(tree, "tools/testing/selftests")}']
                if needs_compat(usr):
                    cmd += ['-include', COMPAT]
            else:
                cmd += ['-Wextra', '-Werror']
            run(cmd + [src, '-lpthread'], log=log)
    return dst
