"""Names of the fault record's values, read from the tree under test.

The harness never copies the kernel's numbers: it reads the enums and
flag definitions from the headers of the tree it built, so that a test
says 'PERMISSION' and a demo prints names.
"""

import os
import re

HEADERS = ('include/linux/iommu.h',)

# group -> how its names look in the header
ENUMS = {'type': 'IOMMU_FAULT_', 'reason': 'IOMMU_FAULT_REASON_'}
ENUM_NAMES = {'type': 'iommu_fault_type', 'reason': 'iommu_fault_reason'}
FLAGS = {'perm': 'IOMMU_FAULT_PERM_', 'flags': 'IOMMU_FAULT_UNRECOV_'}


def _parse_enum(text, name, prefix):
    m = re.search(r'enum\s+' + name + r'\s*\{(.*?)\};', text, re.S)
    if not m:
        return {}
    body = re.sub(r'/\*.*?\*/', '', m.group(1), flags=re.S)
    out, nxt = {}, 0
    for item in body.split(','):
        item = item.strip()
        mm = re.match(r'(\w+)\s*(?:=\s*(\w+))?$', item)
        if not mm:
            continue
        if mm.group(2):
            nxt = int(mm.group(2), 0)
        out[mm.group(1)[len(prefix):] if mm.group(1).startswith(prefix)
            else mm.group(1)] = nxt
        nxt += 1
    return out


def _parse_flags(text, prefix):
    out = {}
    for m in re.finditer(r'#define\s+' + prefix + r'(\w+)\s+\(?\s*'
                         r'(?:1U?\s*<<\s*(\d+)|BIT\((\d+)\))', text):
        out[m.group(1)] = 1 << int(m.group(2) or m.group(3))
    return out


class Abi:
    """The fault record's names and values as one tree defines them."""

    def __init__(self, tree):
        text = ''
        for h in HEADERS:
            path = os.path.join(tree, h)
            if os.path.exists(path):
                text += open(path, errors='replace').read()
        self.values = {g: _parse_enum(text, ENUM_NAMES[g], p)
                       for g, p in ENUMS.items()}
        self.values.update({g: _parse_flags(text, p)
                            for g, p in FLAGS.items()})

    def value(self, group, name):
        """The number for a name, or None if the tree does not define it."""
        return self.values[group].get(name)

    def name(self, group, value):
        """'PERMISSION (8)'; for flag groups 'READ|WRITE (0x3)'."""
        table = self.values[group]
        if group in FLAGS:
            names = [n for n, v in table.items() if value & v]
            rest = value & ~sum(v for n, v in table.items() if value & v)
            if rest:
                names.append(f'{rest:#x}')
            return f'{"|".join(names) or "none"} ({value:#x})'
        names = [n for n, v in table.items() if v == value]
        return f'{names[0] if names else "?"} ({value})'
