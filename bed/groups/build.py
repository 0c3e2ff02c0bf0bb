"""Group 'build': the series kernel and the edu module for every arch."""

from .. import arches
from ..common import Failure
from . import series


def groups():
    def t(s):
        for arch in arches.ARCHES.values():
            for what, fn in (('kernel', s.chain.kernel),
                             ('edu-fault module', s.chain.module)):
                try:
                    fn(series(), arch)
                    s.check(f'build: {arch.name} {what}', True)
                except Failure as e:
                    s.check(f'build: {arch.name} {what}', False, e)
    return [('build', t)]
