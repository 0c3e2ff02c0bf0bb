"""The kernel tree: Debian's base as a git work tree, plus the series.

build/linux is a git work tree.  Its first commit is the untouched
linux-source-6.12 tarball, tagged 'base'; each patch in patches/ is one
commit on top.  'make export' writes patches/ back from those commits.
"""

import glob
import os
import re
import shutil
import subprocess

from .common import (BASE_TREE, LOGS, PATCHES, SOURCE_PACKAGE, TARBALL, TREE,
                     Failure, capture, git, run, say, step)

IDENTITY = ('iommu-fault series', 'iommu-fault@example.invalid')
COVER = '0000-cover-letter.patch'
APPLIED = 'bed-applied'   # under .git: patch ids of the last 'git am'


def series():
    """The patch files of the series, in order, without the cover letter."""
    return sorted(p for p in glob.glob(os.path.join(PATCHES, '[0-9]*.patch'))
                  if os.path.basename(p) != COVER)


def patch_ids(text):
    if not text.strip():
        return []
    out = subprocess.run(['git', 'patch-id', '--stable'], input=text,
                         stdout=subprocess.PIPE, text=True).stdout
    return [line.split()[0] for line in out.splitlines()]


def series_ids():
    text = ''
    for p in series():
        with open(p) as f:
            text += f.read()
    return patch_ids(text)


def tree_ids(tree=TREE):
    return patch_ids(git(tree, 'format-patch', '--stdout', 'base..HEAD'))


def tarball_version(tree):
    with open(os.path.join(tree, 'Makefile')) as f:
        head = f.read(2000)
    v = {k: re.search(rf'^{k} = (\S*)', head, re.M) for k in
         ('VERSION', 'PATCHLEVEL', 'SUBLEVEL', 'EXTRAVERSION')}
    ver = '.'.join(v[k].group(1) for k in ('VERSION', 'PATCHLEVEL',
                                            'SUBLEVEL'))
    return ver + (v['EXTRAVERSION'].group(1) if v['EXTRAVERSION'] else '')


def installed_version():
    """The Debian version of linux-source-6.12 installed now."""
    return capture(['dpkg-query', '-W', '-f=${Version}', SOURCE_PACKAGE],
                   check=False).strip()


BASE_SUBJECT = re.compile(r'^Linux (\S+) \(Debian \S+ (\S+)\)$')


def tree_base(tree=TREE):
    """(kernel version, Debian version) of the tarball the tree's base
    commit was made from, as its subject records them."""
    m = BASE_SUBJECT.match(git(tree, 'log', '-1', '--format=%s', 'base',
                               check=False).strip())
    return (m.group(1), m.group(2)) if m else (tarball_version(tree), '?')


BASE_LINE = re.compile(r'^base: Linux (\S+) as shipped by Debian \S+ (\S+)$',
                       re.M)


def recorded_base():
    """(kernel version, Debian version) the series says it is written
    against: the 'base:' line of the cover letter, or None."""
    try:
        with open(os.path.join(PATCHES, COVER)) as f:
            m = BASE_LINE.search(f.read())
    except OSError:
        return None
    return (m.group(1), m.group(2)) if m else None


def base_summary():
    """One line: what the tree's base is, and what the series expects."""
    have = tree_base() if has_base(TREE) else ('?', '?')
    line = f'base: Linux {have[0]} (Debian {SOURCE_PACKAGE} {have[1]})'
    want = recorded_base()
    if want and want != have:
        line += (f'; the series was written against {want[0]} '
                 f'(Debian {want[1]})')
    installed = installed_version()
    if has_base(TREE) and installed and installed != have[1]:
        line += (f'; Debian {installed} is installed now: rm -rf build/linux '
                 'build/wt to move to it (see README.md)')
    return line


def moved_base_message():
    """Why the series may not apply: Debian serves another 6.12.y."""
    want = recorded_base()
    have = tree_base()
    if not want or want == have:
        return ''
    return (f'The series was written against Linux {want[0]} (Debian '
            f'{SOURCE_PACKAGE} {want[1]}), but Debian now serves Linux '
            f'{have[0]} ({have[1]}).  Rebase the series onto it: see '
            '"When Debian moves the base" in README.md.')


def has_base(tree):
    return (os.path.isdir(os.path.join(tree, '.git')) and
            subprocess.run(['git', '-C', tree, 'rev-parse', '-q', '--verify',
                            'refs/tags/base'], stdout=subprocess.DEVNULL
                           ).returncode == 0)


def _create_base(tree):
    log = os.path.join(LOGS, 'tree.log')
    if not os.path.exists(TARBALL):
        raise Failure(f'{TARBALL} missing: apt-get install {SOURCE_PACKAGE}')
    with step(f'unpacking {TARBALL} into {tree} (log: {log})'):
        if os.path.exists(tree):
            shutil.rmtree(tree)
        os.makedirs(tree)
        run(['tar', '-xJf', TARBALL, '-C', tree, '--strip-components=1'],
            log=log)
    ver, deb = tarball_version(tree), installed_version()
    want = recorded_base()
    if want and want != (ver, deb):
        say(f'warning: the series was written against Linux {want[0]} '
            f'(Debian {want[1]}); this tarball is {ver} ({deb})')
    with step(f'committing Linux {ver} as tag "base"'):
        g = ['git', '-C', tree]
        run([*g, 'init', '-q', '-b', 'series'], log=log)
        for k, v in (('user.name', IDENTITY[0]), ('user.email', IDENTITY[1]),
                     ('gc.auto', '0'), ('core.preloadIndex', 'true'),
                     ('rerere.enabled', 'false')):
            run([*g, 'config', k, v], log=log)
        run([*g, 'add', '-A', '-f', '.'], log=log)
        run([*g, 'commit', '-q', '-m',
             f'Linux {ver} (Debian {SOURCE_PACKAGE} {deb})'], log=log)
        run([*g, 'tag', 'base'], log=log)


def apply_series(tree, patches=None):
    """git am every patch; a patch that does not apply fails by name."""
    patches = series() if patches is None else patches
    for p in patches:
        r = subprocess.run(['git', '-C', tree, 'am', '-q', '--keep-cr', p],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        if r.returncode:
            # leave the tree at base, not half applied, so that the next
            # run starts again instead of taking it for someone's work
            for cmd in (['am', '--abort'], ['reset', '-q', '--hard', 'base']):
                subprocess.run(['git', '-C', tree, *cmd],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            moved = moved_base_message()
            # git am's own hints (--continue, --skip) do not apply: the
            # run was aborted
            why = [x for x in r.stdout.splitlines()
                   if x.startswith(('error:', 'Patch failed'))]
            raise Failure(f'patch does not apply: {os.path.basename(p)}\n'
                          + '\n'.join(why)
                          + (f'\n{moved}' if moved else ''))


def prepare(force=False, as_is=False):
    """Make build/linux = base + patches/, without losing unexported work.

    With as_is, a tree holding work that is not in patches/ is used as it
    is, with a warning: the edit -> build -> boot loop before 'make export'.
    """
    if not has_base(TREE):
        _create_base(TREE)
    want = series_ids()
    have = tree_ids()
    dirty = (git(TREE, 'status', '--porcelain', '--untracked-files=no').strip()
             or untracked())
    if have == want and not dirty:
        say(f'tree {TREE}: base + {len(want)} patches, up to date')
        return
    marker = os.path.join(TREE, '.git', APPLIED)
    last = open(marker).read().split() if os.path.exists(marker) else []
    if not force and (dirty or have != last):
        if as_is:
            say(f'warning: testing {TREE} as it is: it has '
                f'{"uncommitted edits" if dirty else "commits"} that are not '
                'in patches/ (run "make export" to keep them)')
            return
        raise Failure(
            f'{TREE} has work that is not in patches/ '
            f'({"uncommitted edits" if dirty else "commits differ"}).\n'
            'Run "make export" to keep it, or "make tree FORCE=1" to '
            'throw it away and re-apply patches/.')
    try:
        with step(f'applying {len(want)} patches from patches/'):
            git(TREE, 'am', '--abort', check=False)
            git(TREE, 'reset', '-q', '--hard', 'base')
            apply_series(TREE)
    finally:
        # what is applied now (nothing, after a patch failed) is ours
        with open(marker, 'w') as f:
            f.write('\n'.join(tree_ids()))


def base_worktree():
    """build/wt/base: a worktree of build/linux at tag base."""
    if not has_base(TREE):
        prepare(as_is=True)
    if not os.path.isdir(BASE_TREE):
        git(TREE, 'worktree', 'prune')
        git(TREE, 'worktree', 'add', '-q', '--detach', BASE_TREE, 'base')
    return BASE_TREE


def _cover_blurb():
    """Subject and body of the current cover letter, kept across exports."""
    path = os.path.join(PATCHES, COVER)
    if not os.path.exists(path):
        return ('IOMMU device fault reporting', '(describe the series)\n')
    lines = open(path).read().split('\n')
    subject = None
    for i, line in enumerate(lines):
        if line.startswith('Subject: '):
            subject = re.sub(r'^Subject: \[PATCH[^\]]*\] ', '', line)
            body = lines[i + 2:]
            break
    if subject is None:
        raise Failure(f'no Subject: in {path}')
    blurb = []
    for line in body:
        if (re.match(r'^\S[^(]* \(\d+\):$', line) or
                line.startswith('base: Linux')):
            break
        blurb.append(line)
    return subject, '\n'.join(blurb).rstrip() + '\n'


def untracked(tree=TREE):
    """Files in the tree that git does not track.

    Debian's top-level .gitignore ignores everything ('/*'), so a new file is
    invisible to 'git status' and 'git add -A'.  O= builds leave the source
    tree clean, so anything listed here was made by hand.
    """
    return [f for f in git(tree, 'ls-files', '--others', '--ignored',
                           '--exclude-standard').split()
            if '__pycache__/' not in f and not f.endswith('.pyc')]


def export():
    """Write patches/ from the commits base..HEAD of build/linux."""
    if not has_base(TREE):
        raise Failure(f'no tree at {TREE}: run "make tree" first')
    if git(TREE, 'status', '--porcelain', '--untracked-files=no').strip():
        raise Failure(f'{TREE} has uncommitted edits: commit them (or '
                      '"git commit --fixup") first')
    new = untracked()
    if new:
        raise Failure(f'{TREE} has files git does not track (Debian\'s '
                      '.gitignore hides new files): ' + ' '.join(new[:10]) +
                      '\nAdd them to the right commit with "git add -f", or '
                      'delete them.')
    subject, blurb = _cover_blurb()
    n = len(git(TREE, 'rev-list', 'base..HEAD').split())
    for old in glob.glob(os.path.join(PATCHES, '*.patch')):
        os.remove(old)
    os.makedirs(PATCHES, exist_ok=True)
    if n:
        git(TREE, 'format-patch', '-q', '--zero-commit', '--no-signature',
            '-o', PATCHES, 'base..HEAD')
    shortlog = git(TREE, 'shortlog', 'base..HEAD') if n else ''
    stat = git(TREE, 'diff', '--stat', '--summary', 'base..HEAD') if n else ''
    cover = (f'From 0000000000000000000000000000000000000000 Mon Sep 17 '
             f'00:00:00 2001\n'
             f'From: {IDENTITY[0]} <{IDENTITY[1]}>\n'
             f'Subject: [PATCH 0/{n}] {subject}\n\n'
             f'{blurb}\n'
             f'{shortlog}'
             f'{stat}\n'
             f'base: Linux {tree_base()[0]} as shipped by Debian '
             f'{SOURCE_PACKAGE} {tree_base()[1]}\n')
    with open(os.path.join(PATCHES, COVER), 'w') as f:
        f.write(cover)
    with open(os.path.join(TREE, '.git', APPLIED), 'w') as f:
        f.write('\n'.join(tree_ids()))
    if series_ids() != tree_ids():
        raise Failure('exported patches do not match the tree')
    say(f'exported {n} patches and the cover letter to {PATCHES}')
