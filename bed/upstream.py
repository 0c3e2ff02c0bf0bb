"""Upstream commits named by the series' commit messages.

The tree under test is the Debian tarball committed as one 'base' commit, so
checkpatch cannot tell whether a commit id in a message exists.  Every
'Fixes: <id> ("<subject>")' and 'commit <id> ("<subject>")' must instead
match a line of configs/upstream-commits.txt, whose ids and subjects were
checked by hand against public archives.
"""

import os
import re

from .common import CONFIGS

LIST = os.path.join(CONFIGS, 'upstream-commits.txt')
REF_RE = re.compile(r'(?:^Fixes:\s+|\b[Cc]ommit\s+)([0-9a-f]{7,40})\s+'
                    r'\("(.+?)"\)', re.M | re.S)


def known():
    out = {}
    for line in open(LIST):
        line = line.strip()
        if line and not line.startswith('#'):
            cid, subject = line.split(None, 1)
            out[cid] = subject
    return out


def message(patch):
    """The commit message of a git format-patch file."""
    text = open(patch, errors='replace').read()
    head, _, _ = text.partition('\n---\n')
    _, _, body = head.partition('\n\n')
    return body


def problems(patches):
    """One line per reference that the list does not confirm."""
    table = known()
    bad = []
    for p in patches:
        for m in REF_RE.finditer(message(p)):
            cid, subject = m.group(1), ' '.join(m.group(2).split())
            name = os.path.basename(p)
            if len(cid) < 12:
                bad.append(f'{name}: {cid}: use at least 12 hex digits')
            elif cid[:12] not in table:
                bad.append(f'{name}: {cid} is not in {LIST}')
            elif table[cid[:12]] != subject:
                bad.append(f'{name}: {cid} is "{table[cid[:12]]}", '
                           f'not "{subject}"')
    return bad
