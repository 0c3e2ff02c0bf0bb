"""'make demo': boot one kernel, make the edu device fault, and say in
words what happened, with the numbers in brackets."""

from . import abi, arches, chain, deps, flavours, kbuild, klog, modes
from .common import Failure, say
from .groups.faults import counter, handler_records

TYPES = {'DMA_UNRECOV': 'unrecoverable', 'PAGE_REQ': 'page request'}


def describe_record(names, rec):
    t = names.name('type', rec['type'])
    name, _, number = t.partition(' ')
    kind = f'{TYPES[name]} {number}' if name in TYPES else t
    return (f'{kind}, reason {names.name("reason", rec["reason"])}, '
            f'access {names.name("perm", rec["perm"])}, '
            f'valid {names.name("flags", rec["flags"])}, '
            f'addr {rec["addr"]:#x}, pasid {rec["pasid"]:#x}')


def dmas(r):
    """[(number, op, iova, length, after unregister?)] in order."""
    out, after = [], False
    for key, v in r.results:
        if key == 'handler_after':
            after = True
        elif key == 'dma':
            out.append((len(out) + 1, v[0], int(v[1], 0), v[2], after))
    return out


def run(arch_name, mode_name='', base=False):
    arch = arches.get(arch_name)
    mode = (modes.get(mode_name, arch.name) if mode_name else
            modes.default(arch.name))
    flavour = flavours.get('base-debug' if base else flavours.DEFAULT)
    deps.ensure_packages()
    c = chain.Chain()
    say(f'==> booting the {flavour.name} kernel on {arch.name} '
        f'({mode.name}) and provoking DMA faults from the edu device')
    r = c.vm(flavour, arch, mode, 'faults')
    if r.rc != 0:
        raise Failure(f'the VM did not finish the scenario\n{r.where()}')
    names = abi.Abi(kbuild.source(flavour))
    ro = r.first_int('ro_iova')
    by_iova = {}
    say('')
    say('What the test driver asked the edu device to do:')
    for n, op, iova, length, after in dmas(r):
        by_iova[iova] = n
        note = ('  (the page mapped read-only for the device)'
                if iova == ro else '')
        if after:
            note += '  (after the handler was unregistered)'
        say(f'  {n}. DMA {op:5} IOVA {iova:#x}, {length} bytes{note}')
    handler = r.first('handler', '?')
    recs = handler_records(r)
    say('')
    if handler == 'unsupported':
        say('The edu driver\'s fault handler: none (this kernel has no '
            'device fault handler API).')
    else:
        say(f'What the edu driver\'s fault handler received: {len(recs)} '
            'records')
        for rec in recs:
            say(f'  DMA {by_iova.get(rec["addr"], "?")}: device '
                f'{rec["dev"]}: {describe_record(names, rec)}')
    logged = klog.PARSERS[mode.log_parser](r.kernel_log())
    say('')
    say(f'What the IOMMU driver logged itself: {len(logged)} faults')
    for f in logged:
        say(f'  DMA {by_iova.get(f.addr, "?")}: {f.describe()}')
        for line in f.raw:
            say(f'      | {line.strip()}')
    qemu = len(r.trace_lines(mode.trace))
    dropped = counter(r, 'dropped') or 0
    total = len(recs) + len(logged) + dropped
    say('')
    verdict = 'adds up' if total == qemu else 'DOES NOT add up'
    say(f'QEMU recorded {qemu} faults (trace:{mode.trace}) = {len(recs)} '
        f'delivered to the handler + {len(logged)} logged + {dropped} '
        f'dropped: {verdict}.')
    say(r.where())
    return 0 if total == qemu else 1
