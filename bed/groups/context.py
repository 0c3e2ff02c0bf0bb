"""Groups 'context-<mode>-<arch>': the context device fault handlers run
in, for the IOMMU modes whose record asks for it (modes.py: context), with
two more edu devices, A and B, each
behind a PCIe root port of its own (scenario tests/scenarios/context.sh):
a handler held in its call on A (edu-fault's handler_hold) does not hold
up B's faults, and a handler that resets A does not lose A's next fault.
No timing threshold: A's call is released only after B's fault arrived.
"""

from .. import arches, modes
from . import boot, scenario_checks

def qemu_extra(arch):
    """Two PCIe root ports, with one edu device each."""
    out = []
    for i, slot in enumerate(arch.port_slots[:2], 1):
        out += ['-device', f'pcie-root-port,id=bedrp{i},chassis={10 + i},'
                f'addr={slot}',
                '-device', f'edu,bus=bedrp{i},addr=00.0,'
                'dma_mask=0xffffffffffffffff']
    return tuple(out)


def checks(label):
    def b_while_a_sleeps(r):
        b, a_in = r.first_int('b_faults'), r.first('a_in_handler')
        return (b == 1 and a_in == '1',
                f'B\'s handler got {b} faults (1 expected) while A\'s '
                f'handler call was in progress: {a_in!r} (1 expected)\n'
                f'{r.where()}')

    def a_delivered(r):
        a = r.first_int('a_faults')
        return a == 1, f'A\'s handler got {a} faults, 1 expected\n{r.where()}'

    def reset(r):
        got = r.result('resets')
        ok = bool(got) and got[0][:2] == ['1', '0']
        return ok, (f'resets {got}: one reset by A\'s handler, returning 0, '
                    f'expected\n{r.where()}')

    def after_reset(r):
        a = r.first_int('a_faults_after_reset')
        return (a == 2, f'A\'s handler got {a} faults across the reset, 2 '
                f'expected\n{r.where()}')

    return [
        (f'{label}: B\'s fault delivered while A\'s handler is held',
         b_while_a_sleeps),
        (f'{label}: A\'s held handler got its fault', a_delivered),
        (f'{label}: A\'s handler reset A', reset),
        (f'{label}: A\'s fault after the reset delivered', after_reset),
    ]


def group(arch, mode):
    label = f'context-{mode.name}-{arch.name}'

    def t(s):
        r = boot(s, arch, mode, 'context', qemu_extra=qemu_extra(arch))
        scenario_checks(s, label, r, checks(label))
    return label, t


def groups():
    return [group(arches.get(a), m) for m in modes.MODES if m.context
            for a in m.arches]
