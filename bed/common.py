"""Paths, logging and process helpers shared by the test bed."""

import os
import re
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(REPO, 'build')
TREE = os.path.join(BUILD, 'linux')          # base + series, git work tree
# Worktrees of build/linux live one level down, so that build/linux is the
# first tree found by tools that look at build/*/.git.
BASE_TREE = os.path.join(BUILD, 'wt', 'base')  # worktree at tag 'base'
STEP_TREE = os.path.join(BUILD, 'wt', 'step')  # worktree for per-patch checks
LOGS = os.path.join(BUILD, 'logs')
OUT = os.path.join(BUILD, 'out')             # <flavour>-<arch>/: kernels etc.
PATCHES = os.path.join(REPO, 'patches')
CONFIGS = os.path.join(REPO, 'configs')
TARBALL = '/usr/src/linux-source-6.12.tar.xz'
SOURCE_PACKAGE = 'linux-source-6.12'


class Failure(Exception):
    """A step failed; the message says what and where the log is."""


def say(msg):
    print(msg, flush=True)


def fmt_secs(secs):
    secs = int(round(secs))
    return f'{secs // 60}m{secs % 60:02d}s' if secs >= 60 else f'{secs}s'


class step:
    """Context manager that announces a long step and how long it took."""

    def __init__(self, what):
        self.what = what

    def __enter__(self):
        say(f'==> {self.what}')
        self.t0 = time.monotonic()
        return self

    def __exit__(self, exc_type, exc, tb):
        dt = fmt_secs(time.monotonic() - self.t0)
        if exc_type is None:
            say(f'    {self.what}: done in {dt}')
        else:
            say(f'    {self.what}: FAILED after {dt}')
        return False


def clean_env(extra=None):
    """Environment for child processes.

    Our Makefile is called as 'make demo ARCH=arm64'; make passes ARCH and
    friends to children through MAKEFLAGS, which would leak into the kernel's
    own make.  Drop them.
    """
    env = dict(os.environ)
    for k in ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'MAKEOVERRIDES', 'ARCH',
              'CROSS_COMPILE', 'O', 'M', 'C', 'W', 'V'):
        env.pop(k, None)
    env.setdefault('CCACHE_DIR', os.path.join(os.path.expanduser('~'),
                                              '.cache', 'ccache'))
    env['LC_ALL'] = 'C'
    if extra:
        env.update(extra)
    return env


# What a failed command's log line looks like: a compiler's or a tool's
# own error line first, then anything that merely mentions an error
STRONG_ERROR_RE = re.compile(r'(\berror:|\bERROR:|\bError \d|No such file|'
                             r'Can\'t locate|Traceback|No OCaml)')
ERROR_RE = re.compile(r'(\berror\b|\bError\b|ERROR|not found|'
                      r'[Ff]ailed|[Nn]o .* found)')
# kbuild's progress lines ('  CC      x.o', '  HDRINST usr/.../error.h')
# name files, not problems
KBUILD_QUIET_RE = re.compile(r'^\s+[A-Z][A-Z0-9_\[\] ]*\s{2,}\S')


def first_error_in(text):
    """The first line of a command's output that names an error."""
    lines = [x for x in text.splitlines()
             if not x.startswith('$ ') and not KBUILD_QUIET_RE.match(x)]
    for pattern in (STRONG_ERROR_RE, ERROR_RE):
        for line in lines:
            if pattern.search(line):
                return line.strip()
    return ''


def first_error(log, start=0):
    """The first line of log (from byte offset start) that names an error."""
    try:
        with open(log, errors='replace') as f:
            f.seek(start)
            return first_error_in(f.read())
    except OSError:
        return ''


def run(cmd, log=None, cwd=None, env=None, check=True, timeout=None,
        input=None):
    """Run cmd.  With log, stdout+stderr go (appended) to that file.

    A failure raises Failure naming the command, the first line of its
    output that names an error, the last lines of that output and the log.
    """
    env = env or clean_env()
    start = 0
    if log:
        os.makedirs(os.path.dirname(log), exist_ok=True)
        with open(log, 'a') as f:
            f.write(f'$ {" ".join(cmd)}\n')
            f.flush()
            start = f.tell()
            p = subprocess.run(cmd, cwd=cwd, env=env, stdout=f,
                               stderr=subprocess.STDOUT, timeout=timeout,
                               input=input, text=True)
    else:
        p = subprocess.run(cmd, cwd=cwd, env=env, timeout=timeout,
                           input=input, text=True)
    if check and p.returncode:
        msg = f'command failed with {p.returncode}: {" ".join(cmd)}'
        if log:
            err = first_error(log, start)
            if err:
                msg += f'\nfirst error: {err}'
            msg += f'\nlast lines:\n{tail(log, 12)}(log: {log})'
        raise Failure(msg)
    return p.returncode


def capture(cmd, cwd=None, env=None, check=True):
    p = subprocess.run(cmd, cwd=cwd, env=env or clean_env(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if check and p.returncode:
        raise Failure(f'command failed with {p.returncode}: '
                      f'{" ".join(cmd)}\n{p.stderr.strip()}')
    return p.stdout


def git(tree, *args, check=True):
    return capture(['git', '-C', tree, *args], check=check)


def tail(path, n=20):
    try:
        with open(path, errors='replace') as f:
            return ''.join(f.readlines()[-n:])
    except OSError:
        return ''
