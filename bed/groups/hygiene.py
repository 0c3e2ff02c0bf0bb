"""Group 'hygiene': the cover letter names the base being built, the series
applies, checkpatch --strict, every patch builds on its own on every arch,
and sparse/W=1, coccicheck and kernel-doc on the files the series touches
add no warnings over base.

Everything here runs in a separate worktree (build/wt/step) so that the
developer's tree is never moved.  Warnings are compared against the same
files at 'base', so only warnings the series adds fail a check.  When a
step fails, the checks after it that depend on it are counted as not run.
"""

import collections
import os
import re
import subprocess

from .. import arches, flavours, kbuild, tree, upstream
from ..common import (LOGS, OUT, STEP_TREE, TREE, Failure, clean_env,
                      first_error_in, git, run, say, step)

TEXT_EXT = ('.c', '.h')
WARN_RE = re.compile(r'^(?:\.\./)*(?:wt/step/)?(\S+?):(\d+):(?:(\d+)[:-]'
                     r'(?:\d+:)? ?)?\s*(warning|error|WARNING|ERROR|'
                     r'CHECK|INFO)\b:?\s*(.*)$')


def patch_files(patch):
    """(every path one patch changes, adds or deletes; the paths it adds;
    the paths it deletes)"""
    files, new, gone, cur = [], set(), set(), None
    for line in open(patch, errors='replace'):
        m = re.match(r'^diff --git a/(\S+) b/(\S+)', line)
        if m:
            cur = m.group(2)
            files += [x for x in m.groups() if x not in files]
        elif line.startswith('new file mode') and cur:
            new.add(cur)
        elif line.startswith('deleted file mode') and cur:
            gone.add(cur)
    return files, new, gone


def touched_files(patches):
    """Paths the series adds or modifies and still has at its end."""
    files, gone = [], set()
    for p in patches:
        changed, new, deleted = patch_files(p)
        gone = (gone | deleted) - new
        files += [f for f in changed if f not in files]
    return [f for f in files if f not in gone]


def affects_build(patch, obj):
    """Whether a patch changes anything this arch's build compiles: a new
    file, a Kconfig file, a header under include/, a .c file whose object
    this configuration builds, or a local header or Makefile in a directory
    it builds objects in.  A patch that does not leaves the build as the
    previous patch left it."""
    files, new, _ = patch_files(patch)
    for f in files:
        if f.startswith(('Documentation/', 'tools/')) or f == 'MAINTAINERS':
            continue
        if f in new or 'Kconfig' in f or f.startswith('include/'):
            return True
        if f.endswith('.c'):
            if os.path.exists(os.path.join(obj, f[:-2] + '.o')):
                return True
            continue
        # a local header or Makefile matters where its directory builds
        d = os.path.join(obj, os.path.dirname(f))
        if os.path.isdir(d) and any(x.endswith('.o') for x in os.listdir(d)):
            return True
    return False


def uapi_headers(files):
    return [f for f in files
            if f.startswith('include/uapi/') and f.endswith('.h')]


def uapi_check(arch, obj, headers, log):
    """Each uapi header the series touches, installed by 'make headers',
    compiles on its own (twice: the include guard) and passes
    headers_check.pl, as CONFIG_UAPI_HEADER_TEST checks every header."""
    if not headers:
        return []
    run(kbuild.make_cmd(arch, STEP_TREE, obj, 'headers'), log=log,
        env=kbuild.make_env())
    inc = os.path.join(obj, 'usr', 'include')
    problems = []
    for h in headers:
        path = os.path.join(inc, h[len('include/uapi/'):])
        if not os.path.exists(path):
            problems.append(f'{h}: not installed by make headers')
            continue
        for cmd in ([f'{arch.cross_compile}gcc', '-std=c90', '-Wall',
                     '-Werror=implicit-function-declaration', '-I', inc,
                     '-I', os.path.join(STEP_TREE, 'usr', 'dummy-include'),
                     '-fsyntax-only', '-x', 'c', '/dev/null',
                     '-include', path, '-include', path],
                    ['perl', os.path.join(STEP_TREE, 'usr', 'include',
                                          'headers_check.pl'),
                     inc, arch.srcarch, path]):
            p = subprocess.run(cmd, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
            if p.returncode or p.stdout.strip():
                problems.append(f'{h}: {" ".join(cmd[:1])}: '
                                f'{p.stdout.strip() or p.returncode}')
    return problems


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
                        # the tree has no upstream history: commit ids
                        # are checked against a list instead (upstream.py)
                        '--ignore', 'FILE_PATH_CHANGES,UNKNOWN_COMMIT_ID',
                        patch],
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


def step_obj(arch):
    return os.path.join(OUT, f'step-{arch.name}', 'obj')


def build_step(arch, obj, dirs, log):
    frags = kbuild.fragments(flavours.get(flavours.DEFAULT), arch)
    kbuild.configure(arch, STEP_TREE, obj, frags, log)
    run(kbuild.make_cmd(arch, STEP_TREE, obj, *dirs), log=log,
        env=kbuild.make_env())


def patch_dirs(patch, dirs):
    """The directories of dirs a patch needs rebuilt: those holding what it
    changes, or all of them when it changes something outside them (a
    header under include/, say)."""
    files, _, _ = patch_files(patch)
    mine = []
    for f in files:
        if f.startswith(('Documentation/', 'tools/')) or f == 'MAINTAINERS':
            continue
        under = [d for d in dirs if f.startswith(d)]
        if not under:
            return dirs
        mine += [d for d in under if d not in mine]
    return mine or dirs


def warnings(lines):
    """Multiset of warnings with line numbers dropped, also those inside
    a message (coccicheck's "... of the iterator on line 118"): a patch
    that adds a line above a warning 6.12 has does not make it new."""
    out = collections.Counter()
    for line in lines:
        m = WARN_RE.match(line.strip().replace(STEP_TREE + '/', ''))
        if m:
            msg = re.sub(r'\bline \d+', 'line N', m.group(5).strip())
            out[(m.group(1), m.group(4).lower(), msg)] += 1
    return out


def new_warnings(before, after):
    return sorted((after - before).elements())


def compiled(obj, files):
    """Touched .c files that this configuration compiles."""
    return [f for f in files if f.endswith('.c') and
            os.path.exists(os.path.join(obj, f[:-2] + '.o'))]


def make_objects(arch, obj, files, log, what, *args):
    """make the objects of the given .c files with extra make arguments
    (a checker); returns the output, also appended to log."""
    if not files:
        return ''
    targets = [f[:-2] + '.o' for f in files]
    p = subprocess.run(kbuild.make_cmd(arch, STEP_TREE, obj, *args,
                                       *targets),
                       env=kbuild.make_env(), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    with open(log, 'a') as f:
        f.write(p.stdout)
    if p.returncode:
        raise Failure(f'{what} failed to run: {first_error_in(p.stdout)} '
                      f'(log: {log})')
    return p.stdout


def sparse_w1(arch, obj, files, log):
    """sparse (C=2) and W=1 output for the given .c files."""
    return make_objects(arch, obj, files, log, 'sparse/W=1 build', 'C=2',
                        'W=1').splitlines()


def static_checks(arch, obj, files, cocci_files, log, when):
    """(sparse + W=1 warnings for files, coccicheck reports for
    cocci_files)."""
    with step(f'hygiene: {arch.name} sparse and W=1 on {len(files)} files, '
              f'coccicheck on {len(cocci_files)}, {when}'):
        return (warnings(sparse_w1(arch, obj, files, log)),
                warnings(coccicheck(arch, obj, cocci_files, log)))


def kernel_doc(files):
    """kernel-doc -none -Wall output for files; Failure if the tool fails
    (with -none it exits 0 whatever it warns about)."""
    out = []
    for f in files:
        path = os.path.join(STEP_TREE, f)
        if not os.path.exists(path) or not f.endswith(TEXT_EXT):
            continue
        p = subprocess.run([os.path.join(STEP_TREE, 'scripts', 'kernel-doc'),
                            '-none', '-Wall', f], cwd=STEP_TREE,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        if p.returncode:
            raise Failure(f'kernel-doc failed on {f} with {p.returncode}: '
                          f'{first_error_in(p.stdout)}')
        out += p.stdout.splitlines()
    return out


def coccicheck(arch, obj, files, log):
    out = make_objects(arch, obj, files, log, 'coccicheck', 'C=2',
                       'CHECK=' + os.path.join(STEP_TREE, 'scripts',
                                               'coccicheck'), 'MODE=report')
    return [line for line in out.splitlines()
            if re.match(r'^\S+:\d+:\d+-\d+: ', line)]


KDOC = 'kernel-doc -Wall: no new warnings in the touched files'
UPSTREAM_REFS = ('commit references: every Fixes: and "commit <id>" names '
                 'a recorded upstream commit with its subject')


def cover_letter_check():
    """The cover letter's base line names the tarball being built."""
    want = tree.recorded_base()
    have = tree.tree_base()
    said = (f'Linux {want[0]} (Debian {want[1]})' if want else
            'nothing: no cover letter, or no "base:" line in it')
    return (want == have, f'the cover letter names {said}; the tree is '
            f'Linux {have[0]} (Debian {have[1]}). ' +
            tree.moved_base_message())


def arch_check_names(a, names):
    """(base build, baseline, per-patch builds, comparisons) on arch a."""
    return (f'build: base on {a}', f'sparse, W=1, coccicheck baseline on {a}',
            [f'build: {n} on {a}' for n in names],
            [f'sparse (C=2) and W=1 on {a}: no new warnings in the touched '
             'files', f'coccicheck on {a}: no new warnings in the touched '
             'files', f'uapi: the headers the series touches compile on '
             f'their own on {a}'])


def arch_checks(s, arch, commits, patches, dirs, files, cocci_done, log):
    """Base build, baseline warnings, per-patch builds, new warnings.

    coccicheck reads the source, not the configuration: each file is
    checked on the first arch that compiles it, and added to cocci_done.
    """
    obj = step_obj(arch)
    a = arch.name
    names = [os.path.basename(p) for p in patches]
    _, _, patch_checks, compare = arch_check_names(a, names)
    try:
        git(STEP_TREE, 'checkout', '-q', '--detach', 'base')
        with step(f'hygiene: base {a} build of {" ".join(dirs)}'):
            build_step(arch, obj, dirs, log)
        s.check(f'build: base on {a}', True)
    except Failure as e:
        s.check(f'build: base on {a}', False, e)
        return s.not_run([f'sparse, W=1, coccicheck baseline on {a}'] +
                         patch_checks + compare, f'base does not build: {e}')
    # the files this arch checks with coccicheck, decided up front so that
    # base and head look at the same ones
    mine = [f for f in files if f.endswith('.c') and f not in cocci_done]
    try:
        cfiles = [f for f in files
                  if os.path.exists(os.path.join(STEP_TREE, f))]
        comp = compiled(obj, cfiles)
        base_warn = static_checks(arch, obj, comp,
                                  [f for f in comp if f in mine], log,
                                  'at base')
        s.check(f'sparse, W=1, coccicheck baseline on {a}', True)
    except Failure as e:
        s.check(f'sparse, W=1, coccicheck baseline on {a}', False, e)
        base_warn = None
    for i, (c, p) in enumerate(zip(commits, patches)):
        try:
            git(STEP_TREE, 'checkout', '-q', '--detach', c)
            if not affects_build(p, obj):
                s.check(patch_checks[i], True)
                say(f'       (it changes nothing that {a} builds)')
                continue
            pdirs = patch_dirs(p, dirs)
            with step(f'hygiene: {a} build of {" ".join(pdirs)} after '
                      f'{names[i]}'):
                build_step(arch, obj, pdirs, log)
            s.check(patch_checks[i], True)
        except Failure as e:
            s.check(patch_checks[i], False, e)
            return s.not_run(patch_checks[i + 1:] + compare,
                             f'{names[i]} does not build on {a}')
    try:
        bad = uapi_check(arch, obj, uapi_headers(files), log)
        s.check(compare[2], not bad, '\n'.join(bad))
    except Failure as e:
        s.check(compare[2], False, e)
    if base_warn is None:
        return s.not_run(compare[:2], f'no baseline on {a} to compare with')
    head_comp = compiled(obj, files)
    cocci = [f for f in head_comp if f in mine]
    try:
        head_warn = static_checks(arch, obj, head_comp, cocci, log,
                                  'with the series')
    except Failure as e:
        return s.not_run(compare[:2], e)
    cocci_done.update(cocci)
    for i, name in enumerate(compare[:2]):
        new = new_warnings(base_warn[i], head_warn[i])
        s.check(name, not new, '\n'.join(f'{f}: {k}: {m}' for f, k, m in new)
                + f'\n(log: {log})')


def t_hygiene(s):
    patches = tree.series()
    names = [os.path.basename(p) for p in patches]
    try:
        s.chain.tree()
    except Failure as e:
        # the series does not apply: say so below, from the base
        if not tree.has_base(TREE):
            return s.not_run(all_check_names(names), e)
    ok, detail = cover_letter_check()
    s.check('cover letter: its base line names the tarball being built', ok,
            detail)
    try:
        commits = step_tree()
        s.check('series: the patches apply to base with git am', True)
    except Failure as e:
        s.check('series: the patches apply to base with git am', False, e)
        return s.not_run(all_check_names(names)[2:],
                         'the series does not apply')
    for p in patches:
        bad = checkpatch(p)
        s.check(f'checkpatch --strict: {os.path.basename(p)}', not bad,
                '\n'.join(bad))
    bad = upstream.problems(patches)
    s.check(UPSTREAM_REFS, not bad, '\n'.join(bad))
    files = touched_files(patches)
    dirs = build_dirs(files)
    log = os.path.join(LOGS, 'hygiene.log')
    if os.path.exists(log):
        os.remove(log)
    cocci_done = set()
    for arch in arches.ARCHES.values():
        arch_checks(s, arch, commits, patches, dirs, files, cocci_done, log)
    name = KDOC
    try:
        git(STEP_TREE, 'checkout', '-q', '--detach', 'base')
        base_doc = warnings(kernel_doc(files))
        git(STEP_TREE, 'checkout', '-q', '--detach',
            commits[-1] if commits else 'base')
        head_doc = warnings(kernel_doc(files))
    except Failure as e:
        return s.not_run([name], e)
    new = new_warnings(base_doc, head_doc)
    s.check(name, not new, '\n'.join(f'{f}: {m}' for f, _, m in new))


def all_check_names(names):
    """Every check of the group, in order."""
    out = ['cover letter: its base line names the tarball being built',
           'series: the patches apply to base with git am']
    out += [f'checkpatch --strict: {n}' for n in names]
    out.append(UPSTREAM_REFS)
    for arch in arches.ARCHES.values():
        b, bl, per, cmp = arch_check_names(arch.name, names)
        out += [b, bl, *per, *cmp]
    out.append(KDOC)
    return out


def groups():
    return [('hygiene', t_hygiene)]
