"""Series hygiene: applies, checkpatch, per-patch builds, sparse/W=1,
kernel-doc and coccicheck on the files the series touches.

Everything here runs in a separate worktree (build/wt/step) so that the
developer's tree is never moved.  Warnings are compared against the same
files at 'base', so only warnings the series adds fail a check.
"""

import collections
import os
import re
import subprocess

from . import kbuild, tree
from .common import (STEP_TREE, TREE, Failure, clean_env,
                     git, run, step)

TEXT_EXT = ('.c', '.h')
WARN_RE = re.compile(r'^(?:\.\./)*(?:wt/step/)?(\S+?):(\d+):(?:(\d+)[:-]'
                     r'(?:\d+:)? ?)?\s*(warning|error|WARNING|ERROR|'
                     r'CHECK|INFO)\b:?\s*(.*)$')


def touched_files(patches):
    """Paths the series adds or modifies (deleted files left out)."""
    files = []
    for p in patches:
        for line in open(p, errors='replace'):
            m = re.match(r'^\+\+\+ b/(\S+)', line)
            if m and m.group(1) not in files:
                files.append(m.group(1))
    return files


def step_tree():
    """(Re)create build/wt/step at 'base' with patches/ applied."""
    if not os.path.isdir(os.path.join(STEP_TREE)):
        git(TREE, 'worktree', 'prune')
        git(TREE, 'worktree', 'add', '-q', '--detach', STEP_TREE, 'base')
    git(STEP_TREE, 'am', '--abort', check=False)
    git(STEP_TREE, 'checkout', '-q', '--detach', 'base')
    git(STEP_TREE, 'reset', '-q', '--hard', 'base')
    tree.apply_series(STEP_TREE)
    return git(STEP_TREE, 'rev-list', '--reverse', 'base..HEAD').split()


def debian_python_env():
    """checkpatch's spdxcheck.py needs Debian's python3-ply and python3-git,
    which another python3 first on PATH (pyenv, a venv) does not see."""
    env = clean_env()
    env['PATH'] = '/usr/bin:' + env.get('PATH', '')
    return env


def checkpatch(patch):
    """checkpatch --strict on one patch file; returns its complaints."""
    p = subprocess.run([os.path.join(STEP_TREE, 'scripts', 'checkpatch.pl'),
                        '--strict', '--terse', '--showfile',
                        '--ignore', 'FILE_PATH_CHANGES', patch],
                       cwd=STEP_TREE, env=debian_python_env(),
                       stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    bad = [line for line in p.stdout.splitlines()
           if re.search(r'\b(ERROR|WARNING|CHECK):', line)]
    if p.returncode and not bad:
        bad = p.stdout.strip().splitlines()[-5:] or ['checkpatch failed']
    return bad


def build_dirs(files):
    """Kbuild directories to build for the touched files.

    A directory already covered by a parent in the list is left out: make
    descends into it anyway, and naming both races on modules.order.
    """
    dirs = ['drivers/iommu/']
    for f in files:
        d = os.path.dirname(f) + '/'
        if (f.endswith('.c') and not f.startswith(('tools/', 'Documentation/'))
                and os.path.exists(os.path.join(STEP_TREE, d, 'Makefile'))
                and not any(d.startswith(p) for p in dirs)):
            dirs.append(d)
    return dirs


def build_step(arch, obj, dirs, log):
    kbuild.configure(arch, STEP_TREE, obj, log)
    try:
        for d in dirs:
            run(kbuild.make_cmd(arch, STEP_TREE, obj, d), log=log,
                env=kbuild.make_env())
    except Failure as e:
        from .common import tail
        raise Failure(f'{e}\n{tail(log, 20)}')


def warnings(lines):
    """Multiset of warnings with line numbers dropped."""
    out = collections.Counter()
    for line in lines:
        m = WARN_RE.match(line.strip().replace(STEP_TREE + '/', ''))
        if m:
            out[(m.group(1), m.group(4).lower(), m.group(5).strip())] += 1
    return out


def new_warnings(before, after):
    return sorted((after - before).elements())


def compiled(obj, files):
    """Touched .c files that this configuration compiles."""
    return [f for f in files if f.endswith('.c') and
            os.path.exists(os.path.join(obj, f[:-2] + '.o'))]


def sparse_w1(arch, obj, files, log):
    """sparse (C=2) and W=1 output for the given .c files."""
    if not files:
        return []
    targets = [f[:-2] + '.o' for f in files]
    p = subprocess.run(kbuild.make_cmd(arch, STEP_TREE, obj, 'C=2', 'W=1',
                                       *targets),
                       env=kbuild.make_env(), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    with open(log, 'a') as f:
        f.write(p.stdout)
    if p.returncode:
        raise Failure(f'sparse/W=1 build failed (log: {log})')
    return p.stdout.splitlines()


def static_checks(arch, obj, files, log, when):
    """(sparse + W=1 warnings, coccicheck reports) for the given files."""
    with step(f'hygiene: {arch.name} sparse, W=1 and coccicheck on '
              f'{len(files)} files {when}'):
        return (warnings(sparse_w1(arch, obj, files, log)),
                warnings(coccicheck(arch, obj, files, log)))


def kernel_doc(files):
    out = []
    for f in files:
        path = os.path.join(STEP_TREE, f)
        if not os.path.exists(path) or not f.endswith(TEXT_EXT):
            continue
        p = subprocess.run([os.path.join(STEP_TREE, 'scripts', 'kernel-doc'),
                            '-none', '-Wall', f], cwd=STEP_TREE,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        out += p.stdout.splitlines()
    return out


def coccicheck(arch, obj, files, log):
    if not files:
        return []
    targets = [f[:-2] + '.o' for f in files]
    p = subprocess.run(kbuild.make_cmd(arch, STEP_TREE, obj, 'C=2',
                                       'CHECK=' + os.path.join(
                                           STEP_TREE, 'scripts', 'coccicheck'),
                                       'MODE=report', *targets),
                       env=kbuild.make_env(), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    with open(log, 'a') as f:
        f.write(p.stdout)
    if p.returncode:
        raise Failure(f'coccicheck failed to run (log: {log})')
    return [line for line in p.stdout.splitlines()
            if re.match(r'^\S+:\d+:\d+-\d+: ', line)]
