"""Group 'doc-tables': the decoding tables in
Documentation/driver-api/iommu-fault.rst say what the drivers' code does.

The tables are written by hand for readers, next to the code tables they
describe; this group reads both from the series tree and compares them,
so that neither can change alone:

- SMMUv3: arm_smmu_evt_descs[] (event number -> generic reason; an entry
  with reason 0 is not reported) against the "SMMUv3 events" table, and
  the fields each entry reports against the table's last column;
- virtio-iommu: the reason switch of viommu_fault_decode() (the default
  case is R_UNKNOWN's) against the "virtio-iommu fault events" table.
"""

import os
import re

from .. import kbuild
from . import series

DOC = 'Documentation/driver-api/iommu-fault.rst'
SMMU_C = 'drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c'
SMMU_H = 'drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h'
VIRTIO_C = 'drivers/iommu/virtio-iommu.c'


def read(tree, path):
    with open(os.path.join(tree, path), errors='replace') as f:
        return f.read()


def rst_table(doc, title):
    """The rows of the first simple table after the section 'title', as
    lists of the columns' text (continuation lines are left out)."""
    start = doc.index('\n' + title + '\n')
    lines = doc[start:].splitlines()
    rules = [i for i, x in enumerate(lines) if re.match(r'^=+(\s+=+)+$', x)]
    if len(rules) < 3:
        raise ValueError(f'no table after {title!r}')
    cols = [m.span() for m in re.finditer(r'=+', lines[rules[0]])]
    rows = []
    for x in lines[rules[1] + 1:rules[2]]:
        cells = [x[a:b if i < len(cols) - 1 else None].strip()
                 for i, (a, b) in enumerate(cols)]
        if cells[0]:
            rows.append(cells)
    return rows


def smmu_descs(tree):
    """[(event number, reason name or None, fields expression)] for every
    entry of arm_smmu_evt_descs[], and the driver's source"""
    ids = {m.group(1): int(m.group(2), 16) for m in re.finditer(
        r'#define\s+(EVT_ID_\w+)\s+0x([0-9a-fA-F]+)', read(tree, SMMU_H))}
    src = read(tree, SMMU_C)
    body = src[src.index('arm_smmu_evt_descs[] = {'):]
    body = body[:body.index('\n};')]
    body = re.sub(r'/\*.*?\*/', '', body, flags=re.S)
    return [(ids[m.group(1)], m.group(2), m.group(4).strip())
            for m in re.finditer(r'\[(EVT_ID_\w+)\]\s*=\s*\{\s*'
                                 r'(?:IOMMU_FAULT_REASON_(\w+)|(0))\s*,?'
                                 r'([^}]*)\}', body)], src


def smmu_code(tree):
    """{event number: reason name or None (not reported)}"""
    return {evt: reason for evt, reason, _ in smmu_descs(tree)[0]}


# The words of the docs' "Fields reported" column for each EVT_F_ flag
SMMU_FIELD_WORDS = {
    'EVT_F_SSV': {'PASID'},
    'EVT_F_SSID': {'PASID', 'always'},
    'EVT_F_ADDR': {'address'},
    'EVT_F_FETCH': {'fetch address'},
    'EVT_F_STALL': set(),       # a stall is a page request, not a field
}


def smmu_flags(src, expr):
    """The EVT_F_ flags in expr, with the composite macros expanded."""
    defs = {m.group(1): m.group(2) for m in re.finditer(
        r'#define\s+(EVT_F_\w+)\s+(\((?:[^()]|\\\n)*\))', src)}
    out = set()
    for name in re.findall(r'EVT_F_\w+', expr):
        out |= smmu_flags(src, defs[name]) if name in defs else {name}
    return out


def smmu_code_fields(tree):
    """{event number: set of words of the fields it reports}, for the
    events that are reported"""
    descs, src = smmu_descs(tree)
    out = {}
    for evt, reason, fields in descs:
        if not reason:
            continue
        flags = smmu_flags(src, fields)
        words = set()
        if 'EVT_F_RNW' in flags:
            words.add('access' if 'EVT_F_IND_PNU' in flags
                      else 'read or write')
        for f in flags - {'EVT_F_RNW', 'EVT_F_IND_PNU'}:
            words |= SMMU_FIELD_WORDS[f]
        out[evt] = words or {'none'}
    return out


def smmu_doc_fields(doc):
    return {int(row[0], 16): set(w.strip() for w in row[3].split(','))
            for row in rst_table(doc, 'SMMUv3 events')
            if row[2] != 'not reported'}


def smmu_doc(doc):
    out = {}
    for row in rst_table(doc, 'SMMUv3 events'):
        reason = row[2]
        out[int(row[0], 16)] = None if reason == 'not reported' else reason
    return out


def virtio_code(tree):
    """{reason name: generic reason name}; the default case is taken as
    R_UNKNOWN's, as the specification asks of unknown reasons."""
    src = read(tree, VIRTIO_C)
    body = src[src.index('static int viommu_fault_decode('):]
    body = body[:body.index('\n}\n')]
    out = {}
    for m in re.finditer(r'((?:case VIRTIO_IOMMU_FAULT_R_\w+:\s*|'
                         r'default:\s*)+).*?reason = '
                         r'IOMMU_FAULT_REASON_(\w+);', body, re.S):
        for c in re.findall(r'VIRTIO_IOMMU_FAULT_(R_\w+)|(default)',
                            m.group(1)):
            out[c[0] or 'R_UNKNOWN'] = m.group(2)
    return out


def virtio_doc(doc):
    return {row[0]: row[1] for row in
            rst_table(doc, 'virtio-iommu fault events')}


def compare(code, doc, what):
    diffs = [f'{k!r}: code {code.get(k)!r}, docs {doc.get(k)!r}'
             for k in sorted(set(code) | set(doc), key=str)
             if code.get(k) != doc.get(k)]
    return not diffs, f'{what}:\n' + '\n'.join(diffs)


def groups():
    def t(s):
        tree = kbuild.source(series())
        doc = read(tree, DOC)
        for name, code, parse, what in (
                ('SMMUv3 event table matches arm_smmu_evt_descs[]',
                 smmu_code, smmu_doc, 'event number'),
                ('SMMUv3 event table lists the fields arm_smmu_evt_descs[] '
                 'reports', smmu_code_fields, smmu_doc_fields,
                 'event number'),
                ('virtio-iommu reason table matches viommu_fault_decode()',
                 virtio_code, virtio_doc, 'reason')):
            label = f'doc-tables: {name}'
            try:
                ok, why = compare(code(tree), parse(doc), what)
            except (ValueError, KeyError, IndexError, OSError) as e:
                ok, why = False, f'could not read the tables: {e!r}'
            s.check(label, ok, why)
    return [('doc-tables', t)]
