"""Group 'build': the series kernel and the edu module for every arch."""

from .. import arches
from ..common import Failure
from . import series


def groups():
    def t(s):
        for arch in arches.ARCHES.values():
            kernel = f'build: {arch.name} kernel'
            module = f'build: {arch.name} edu-fault module'
            try:
                s.chain.kernel(series(), arch)
                s.check(kernel, True)
            except Failure as e:
                s.check(kernel, False, e)
                s.not_run([module], 'the kernel did not build')
                continue
            try:
                s.chain.module(series(), arch)
                s.check(module, True)
            except Failure as e:
                s.check(module, False, e)
    return [('build', t)]
