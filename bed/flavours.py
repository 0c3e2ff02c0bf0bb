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


FLAVOURS = {f.name: f for f in (
    Flavour('series-debug', 'series', ('debug.config',),
            'the series, with lockdep, KASAN and the lockup detectors'),
    Flavour('base-debug', 'base', ('debug.config',),
            'unpatched 6.12, same configuration as series-debug'),
    # 'make bench': no lockdep, KASAN or debug objects; we time the code,
    # not the checkers
    Flavour('series-bench', 'series', (),
            'the series, without the debug options (make bench)'),
    Flavour('base-bench', 'base', (),
            'unpatched 6.12, same configuration as series-bench'),
)}

DEFAULT = 'series-debug'


def get(name):
    try:
        return FLAVOURS[name]
    except KeyError:
        raise SystemExit(f'unknown kernel flavour {name}; known: '
                         f'{", ".join(FLAVOURS)}')
