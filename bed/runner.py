"""'make check': every test group, ending in 'N passed, N failed'.

Groups are generated from the data in arches.py, modes.py and flavours.py
by the modules in groups/.  A check that cannot run (its build failed, its
VM never booted, an earlier step broke) is counted as failed with the
reason 'not run', never dropped.  'make check T=word' runs the groups whose
name contains word.
"""

import os
import time
import traceback

from . import tree
from .chain import Chain
from .common import LOGS, Failure, fmt_secs, say


class Suite:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.not_run_count = 0
        self.failures = []
        self.chain = Chain()

    def check(self, name, ok, detail=''):
        if ok:
            self.passed += 1
            say(f'ok   {name}')
        else:
            self.failed += 1
            self.failures.append(name)
            say(f'FAIL {name}')
            for line in str(detail).strip().splitlines()[:40]:
                say(f'       {line}')
        return ok

    def not_run(self, names, reason):
        """Checks that could not run: each one is a failure."""
        reason = str(reason).strip()
        first = reason.splitlines()[0] if reason else '?'
        for i, name in enumerate(names):
            self.failed += 1
            self.not_run_count += 1
            self.failures.append(name)
            say(f'FAIL {name}: not run')
            # the whole reason once, then a pointer to it
            for line in (reason.splitlines()[:40] if i == 0 else
                         [f'(see above: {first})']):
                say(f'       {line}')

    def checks(self, subject, checks):
        """Run named predicates on subject; subject may be a Failure, in
        which case every check is counted as not run.  A predicate returns
        ok or (ok, detail)."""
        if isinstance(subject, Failure):
            return self.not_run([n for n, _ in checks], subject)
        for name, fn in checks:
            try:
                got = fn(subject)
            except Exception:
                got = (False, traceback.format_exc())
            ok, detail = got if isinstance(got, tuple) else (got, '')
            self.check(name, ok, detail)

    def measure(self, label, text):
        """A measurement: printed, never passed or failed."""
        say(f'info {label}: {text}')


def selected(groups, select):
    words = [w for w in (select or '').split(',') if w]
    return [(n, fn) for n, fn in groups
            if not words or any(w in n for w in words)]


def summary_lines(s):
    lines = [tree.base_summary(), f'series: {len(tree.series())} patches']
    if s.not_run_count:
        lines.append(f'of the failed checks, {s.not_run_count} could not '
                     'run')
    lines.append(f'{s.passed} passed, {s.failed} failed')
    return lines


def main(groups, select=None):
    s = Suite()
    t0 = time.monotonic()
    chosen = selected(groups, select)
    if not chosen:
        say(f'no test group matches {select!r}; groups:')
        for name, _ in groups:
            say(name)
        return 2
    for name, fn in chosen:
        say(f'--- {name}')
        try:
            fn(s)
        except Failure as e:
            s.check(f'{name}: aborted', False, e)
        except Exception:
            s.check(f'{name}: aborted by a harness error', False,
                    traceback.format_exc())
    say(f'--- finished in {fmt_secs(time.monotonic() - t0)}; logs in {LOGS}')
    if s.failures:
        say('failed: ' + '; '.join(s.failures))
    lines = summary_lines(s)
    os.makedirs(LOGS, exist_ok=True)
    with open(os.path.join(LOGS, 'summary.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    for line in lines:
        say(line)
    return 1 if s.failed else 0
