"""Kernel flavours, kept as data: which tree, which config fragments.

Every flavour is built per architecture into build/out/<flavour>-<arch>/,
so that one never overwrites another.  A flavour is built only when a
selected test group or command needs it.  Adding one is one record here.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Flavour:
    name: str
    tree: str           # 'series' (build/linux) or 'base' (tag base)
    fragments: tuple    # configs/ fragments after base.config, before the
                        # arch's and the IOMMU modes' fragments
    about: str
    kconfig: str = ''   # more config lines, after the fragments


BENCH_KCONFIG = '''
CONFIG_ENABLE_DEFAULT_TRACERS=y
CONFIG_SOFTLOCKUP_DETECTOR=y
'''

FLAVOURS = {f.name: f for f in (
    Flavour('series-debug', 'series', ('debug.config',),
            'the series, with lockdep, KASAN and the lockup detectors'),
    Flavour('base-debug', 'base', ('debug.config',),
            'unpatched 6.12, same configuration as series-debug'),
    # 'make bench': no lockdep, KASAN or debug objects; we time the code,
    # not the checkers.  Event tracing (irq, sched, workqueue), which P3
    # reads, is not selected by anything on arm64; P4 needs the soft lockup
    # detector (RCU's stall warnings are on by default).
    Flavour('series-bench', 'series', (),
            'the series, without the debug options (make bench)',
            kconfig=BENCH_KCONFIG),
    Flavour('base-bench', 'base', (),
            'unpatched 6.12, same configuration as series-bench',
            kconfig=BENCH_KCONFIG),
)}

DEFAULT = 'series-debug'


def get(name):
    try:
        return FLAVOURS[name]
    except KeyError:
        raise SystemExit(f'unknown kernel flavour {name}; known: '
                         f'{", ".join(FLAVOURS)}')
