"""Kernel configuration and out-of-tree (O=) builds.

A kernel is a flavour (flavours.py: a tree and config fragments) built for
an architecture, into build/out/<flavour>-<arch>/obj.  Its configuration is
allnoconfig, then base.config, the flavour's fragments, the arch's fragment,
the kconfig lines of every IOMMU mode that runs on that arch (modes.py), and
last the series' optional symbols (series.config and the modes' own).
"""

import hashlib
import os
import re
import shutil
import subprocess

from . import modes
from .common import (BUILD, CONFIGS, LOGS, OUT, REPO, TREE, Failure,
                     clean_env, run, step)

# symbols introduced by the series: enforced only where the tree has them
SERIES_FRAGMENT = 'series.config'
KBUILD_LOCK = os.path.join(BUILD, '.kbuild.lock')


def outdir(flavour, arch):
    return os.path.join(OUT, f'{flavour.name}-{arch.name}')


def objdir(flavour, arch):
    return os.path.join(outdir(flavour, arch), 'obj')


def source(flavour):
    """The source tree a flavour builds from."""
    if flavour.tree == 'series':
        return TREE
    from . import tree
    return tree.base_worktree()


def make_cmd(arch, tree, obj, *args):
    cross = arch.cross_compile
    # one kernel build at a time on this machine, whoever starts it
    return ['flock', KBUILD_LOCK, 'make', '-C', tree, f'O={obj}',
            f'ARCH={arch.name}', f'CROSS_COMPILE={cross}',
            f'CC=ccache {cross}gcc', 'HOSTCC=ccache gcc',
            f'-j{os.cpu_count() or 2}', *args]


def make_env():
    return clean_env({'KBUILD_BUILD_USER': 'bed', 'KBUILD_BUILD_HOST': 'bed',
                      'KBUILD_BUILD_TIMESTAMP': 'Thu Jan  1 00:00:00 UTC 2026',
                      'CCACHE_MAXSIZE': '8G', 'CCACHE_COMPILERCHECK': 'content'})


def fragments(flavour, arch):
    """(fragment paths, which of them are optional) for flavour on arch.

    The IOMMU modes' kconfig lines are written to fragments in the
    flavour's output directory."""
    out = outdir(flavour, arch)
    os.makedirs(out, exist_ok=True)
    mode_lines, series_lines = [], []
    for m in modes.for_arch(arch.name):
        for text, dst in ((m.kconfig, mode_lines),
                          (m.series_kconfig, series_lines)):
            dst += [x.strip() for x in text.splitlines()
                    if x.strip() and x.strip() not in dst]
    flavour_lines = [x.strip() for x in flavour.kconfig.splitlines()
                     if x.strip()]
    generated = []
    for name, lines in (('modes.config', mode_lines + flavour_lines),
                        ('series-modes.config', series_lines)):
        path = os.path.join(out, name)
        text = ''.join(x + '\n' for x in lines)
        if not os.path.exists(path) or open(path).read() != text:
            with open(path, 'w') as f:
                f.write(text)
        generated.append(path)
    paths = [os.path.join(CONFIGS, f)
             for f in ('base.config', *flavour.fragments, arch.config)]
    paths.append(generated[0])
    optional = [os.path.join(CONFIGS, SERIES_FRAGMENT), generated[1]]
    return paths + optional, set(optional)


def tree_defines(tree, sym):
    name = sym[len('CONFIG_'):]
    return subprocess.run(['git', '-C', tree, 'grep', '-q', '-e',
                           f'^\\(menu\\)\\?config {name}$', '--',
                           '*Kconfig*'], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def wanted_symbols(frags, tree):
    """CONFIG_X -> value requested by the fragments (last one wins)."""
    paths, optional = frags
    want = {}
    for frag in paths:
        for line in open(frag):
            line = line.strip()
            m = (re.match(r'^(CONFIG_\w+)=(.*)$', line) or
                 re.match(r'^# (CONFIG_\w+)( is not set)$', line))
            if not m or (frag in optional and
                         not tree_defines(tree, m.group(1))):
                continue
            want[m.group(1)] = 'n' if m.group(2) == ' is not set' else \
                m.group(2)
    return want


def missing_symbols(obj, frags, tree):
    """The requested symbols that obj's .config does not have as asked
    (all of them if there is no .config)."""
    have = {}
    try:
        for line in open(os.path.join(obj, '.config')):
            m = re.match(r'^(CONFIG_\w+)=(.*)$', line.strip())
            if m:
                have[m.group(1)] = m.group(2)
    except OSError:
        return ['no .config']
    return [f'{k}={v} (got {have.get(k, "n")})'
            for k, v in wanted_symbols(frags, tree).items()
            if have.get(k, 'n') != v]


def configure(arch, tree, obj, frags, log):
    """allnoconfig + fragments; fail if a requested symbol did not stick."""
    paths, _ = frags
    h = hashlib.sha256()
    for frag in paths:
        h.update(frag.encode() + open(frag, 'rb').read())
    h.update(tree.encode())
    # configure again when a Kconfig file changes: in a commit (its blob
    # id) or in an uncommitted edit
    for cmd in (['ls-files', '-s', '--', '*Kconfig*'],
                ['diff', 'HEAD', '--', '*Kconfig*']):
        h.update(subprocess.run(['git', '-C', tree, *cmd],
                                stdout=subprocess.PIPE).stdout)
    stamp = os.path.join(obj, '.bed-config')
    # a make run by hand on another tree state may have dropped symbols
    # from .config (syncconfig): check them too
    if (os.path.exists(stamp) and open(stamp).read() == h.hexdigest() and
            not missing_symbols(obj, frags, tree)):
        return
    os.makedirs(obj, exist_ok=True)
    env = make_env()
    run(make_cmd(arch, tree, obj, 'allnoconfig'), log=log, env=env)
    run([os.path.join(tree, 'scripts/kconfig/merge_config.sh'), '-m', '-O',
         obj, os.path.join(obj, '.config'), *paths], log=log,
        env=dict(env, ARCH=arch.name, CROSS_COMPILE=arch.cross_compile),
        cwd=tree)
    run(make_cmd(arch, tree, obj, 'olddefconfig'), log=log, env=env)
    bad = missing_symbols(obj, frags, tree)
    if bad:
        raise Failure(f'{arch.name} config: requested symbols did not stick '
                      f'(missing dependencies?): {", ".join(bad)} '
                      f'(log: {log})')
    with open(stamp, 'w') as f:
        f.write(h.hexdigest())


def build_kernel(flavour, arch):
    """Configure and build flavour for arch; returns the object directory."""
    obj = objdir(flavour, arch)
    tree = source(flavour)
    log = os.path.join(LOGS, f'build-{flavour.name}-{arch.name}.log')
    with step(f'building the {flavour.name} kernel for {arch.name} '
              f'(log: {log})'):
        if os.path.exists(log):
            os.remove(log)
        configure(arch, tree, obj, fragments(flavour, arch), log)
        run(make_cmd(arch, tree, obj), log=log, env=make_env())
    return obj


def kernel_image(arch, obj):
    path = os.path.join(obj, arch.kernel_image)
    if not os.path.exists(path):
        raise Failure(f'no kernel image at {path}')
    return path


def build_module(flavour, arch, obj):
    """Build the edu test module against a built kernel; returns the .ko."""
    src = os.path.join(REPO, 'edu-fault')
    dst = os.path.join(outdir(flavour, arch), 'edu-fault')
    os.makedirs(dst, exist_ok=True)
    for name in os.listdir(src):
        if name.endswith(('.c', '.h')) or name in ('Kbuild', 'Makefile'):
            s, d = os.path.join(src, name), os.path.join(dst, name)
            if (not os.path.exists(d) or
                    open(s, 'rb').read() != open(d, 'rb').read()):
                shutil.copy(s, d)
    log = os.path.join(LOGS, f'module-{flavour.name}-{arch.name}.log')
    with step(f'building the edu-fault module for {flavour.name} '
              f'{arch.name} (log: {log})'):
        if os.path.exists(log):
            os.remove(log)
        run(make_cmd(arch, source(flavour), obj, f'M={dst}', 'W=1',
                     'modules'), log=log, env=make_env())
    return os.path.join(dst, 'edu_fault.ko')
