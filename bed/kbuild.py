"""Kernel configuration and out-of-tree (O=) builds, one per architecture."""

import hashlib
import os
import re
import shutil
import subprocess

from .common import (BUILD, CONFIGS, LOGS, REPO, Failure, clean_env, run,
                     step)

FRAGMENTS = ['base.config', 'debug.config']
# symbols introduced by the series: enforced only where the tree has them
SERIES_FRAGMENT = 'series.config'
KBUILD_LOCK = os.path.join(BUILD, '.kbuild.lock')


def objdir(arch, flavour=''):
    return os.path.join(BUILD, f'obj{"-" + flavour if flavour else ""}-'
                        f'{arch.name}')


def make_cmd(arch, tree, obj, *args):
    cross = arch.cross_compile
    # one kernel build at a time on this machine, whoever starts it
    return ['flock', KBUILD_LOCK, 'make', '-C', tree, f'O={obj}', f'ARCH={arch.name}',
            f'CROSS_COMPILE={cross}', f'CC=ccache {cross}gcc',
            'HOSTCC=ccache gcc', f'-j{os.cpu_count() or 2}', *args]


def make_env():
    return clean_env({'KBUILD_BUILD_USER': 'bed', 'KBUILD_BUILD_HOST': 'bed',
                      'KBUILD_BUILD_TIMESTAMP': 'Thu Jan  1 00:00:00 UTC 2026',
                      'CCACHE_MAXSIZE': '8G', 'CCACHE_COMPILERCHECK': 'content'})


def fragments(arch):
    series = [SERIES_FRAGMENT]
    if os.path.exists(os.path.join(CONFIGS, f'series-{arch.name}.config')):
        series.append(f'series-{arch.name}.config')
    return [os.path.join(CONFIGS, f)
            for f in FRAGMENTS + [arch.config] + series]


def tree_defines(tree, sym):
    name = sym[len('CONFIG_'):]
    return subprocess.run(['git', '-C', tree, 'grep', '-q', '-e',
                           f'^\\(menu\\)\\?config {name}$', '--',
                           '*Kconfig*'], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def wanted_symbols(arch, tree):
    """CONFIG_X -> value requested by the fragments (last one wins)."""
    want = {}
    for frag in fragments(arch):
        optional = os.path.basename(frag).startswith('series')
        for line in open(frag):
            line = line.strip()
            m = (re.match(r'^(CONFIG_\w+)=(.*)$', line) or
                 re.match(r'^# (CONFIG_\w+)( is not set)$', line))
            if not m or (optional and not tree_defines(tree, m.group(1))):
                continue
            want[m.group(1)] = 'n' if m.group(2) == ' is not set' else \
                m.group(2)
    return want


def configure(arch, tree, obj, log):
    """allnoconfig + our fragments; fail if a requested symbol did not stick."""
    h = hashlib.sha256()
    for frag in fragments(arch):
        h.update(open(frag, 'rb').read())
    h.update(tree.encode())
    # Kconfig changes with the series: configure again when HEAD moves
    h.update(subprocess.run(['git', '-C', tree, 'rev-parse', 'HEAD'],
                            stdout=subprocess.PIPE).stdout)
    stamp = os.path.join(obj, '.bed-config')
    if (os.path.exists(stamp) and open(stamp).read() == h.hexdigest() and
            os.path.exists(os.path.join(obj, '.config'))):
        return
    os.makedirs(obj, exist_ok=True)
    env = make_env()
    run(make_cmd(arch, tree, obj, 'allnoconfig'), log=log, env=env)
    run([os.path.join(tree, 'scripts/kconfig/merge_config.sh'), '-m', '-O',
         obj, os.path.join(obj, '.config'), *fragments(arch)], log=log,
        env=dict(env, ARCH=arch.name, CROSS_COMPILE=arch.cross_compile),
        cwd=tree)
    run(make_cmd(arch, tree, obj, 'olddefconfig'), log=log, env=env)
    have = {}
    for line in open(os.path.join(obj, '.config')):
        m = re.match(r'^(CONFIG_\w+)=(.*)$', line.strip())
        if m:
            have[m.group(1)] = m.group(2)
    bad = [f'{k}={v} (got {have.get(k, "n")})'
           for k, v in wanted_symbols(arch, tree).items() if have.get(k, 'n') != v]
    if bad:
        raise Failure(f'{arch.name} config: requested symbols did not stick '
                      f'(missing dependencies?): {", ".join(bad)}')
    with open(stamp, 'w') as f:
        f.write(h.hexdigest())


def build_kernel(arch, tree, flavour='', targets=()):
    """Configure and build; returns the object directory."""
    obj = objdir(arch, flavour)
    log = os.path.join(LOGS, f'build-{flavour + "-" if flavour else ""}'
                       f'{arch.name}.log')
    what = ' '.join(targets) or 'kernel'
    label = f'{flavour} ' if flavour else ''
    with step(f'building {label}{arch.name} {what} (log: {log})'):
        if os.path.exists(log):
            os.remove(log)
        configure(arch, tree, obj, log)
        try:
            run(make_cmd(arch, tree, obj, *targets), log=log, env=make_env())
        except Failure as e:
            from .common import tail
            raise Failure(f'{e}\n{tail(log, 25)}')
    return obj


def kernel_image(arch, obj):
    path = os.path.join(obj, arch.kernel_image)
    if not os.path.exists(path):
        raise Failure(f'no kernel image at {path}')
    return path


def build_module(arch, tree, obj):
    """Build the edu test module against a built kernel; returns the .ko."""
    src = os.path.join(REPO, 'edu-fault')
    dst = os.path.join(BUILD, f'edu-fault-{arch.name}')
    os.makedirs(dst, exist_ok=True)
    for name in os.listdir(src):
        if name.endswith(('.c', '.h')) or name in ('Kbuild', 'Makefile'):
            s, d = os.path.join(src, name), os.path.join(dst, name)
            if (not os.path.exists(d) or
                    open(s, 'rb').read() != open(d, 'rb').read()):
                shutil.copy(s, d)
    log = os.path.join(LOGS, f'module-{arch.name}.log')
    with step(f'building edu-fault module for {arch.name} (log: {log})'):
        if os.path.exists(log):
            os.remove(log)
        try:
            run(make_cmd(arch, tree, obj, f'M={dst}', 'W=1', 'modules'),
                log=log, env=make_env())
        except Failure as e:
            from .common import tail
            raise Failure(f'{e}\n{tail(log, 25)}')
    return os.path.join(dst, 'edu_fault.ko')
