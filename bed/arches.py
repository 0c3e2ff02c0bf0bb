"""Per-architecture settings, kept as data (as kunit's qemu_configs do)."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Arch:
    name: str                 # our name, also the kernel's ARCH=
    cross_compile: str        # CROSS_COMPILE= prefix, '' for native
    kernel_image: str         # relative to the object directory
    config: str               # fragment in configs/, merged after base
    qemu: str                 # QEMU binary
    machine: str              # -M value
    qemu_args: list           # cpu, firmware and other fixed arguments
    console: str              # kernel console device
    busybox_deb: str          # Debian package that ships a static busybox
    fault_trace: str          # QEMU trace event, one line per recorded fault
    # IOMMU variants: name -> (extra -M properties, extra QEMU arguments).
    # The first one is the default.
    modes: dict = field(default_factory=dict)
    # PCI address the edu device gets on this machine.
    edu_addr: str = ''
    edu_slot: str = ''
    # scenario -> extra QEMU arguments for that scenario only
    scenario_args: dict = field(default_factory=dict)


EDU = 'edu,dma_mask=0xffffffffffffffff'

ARCHES = {
    'x86_64': Arch(
        name='x86_64',
        cross_compile='',
        kernel_image='arch/x86/boot/bzImage',
        config='x86_64.config',
        qemu='qemu-system-x86_64',
        machine='q35,accel=tcg',
        qemu_args=['-cpu', 'max', '-bios', 'qboot.rom'],
        console='ttyS0',
        busybox_deb='busybox-static',
        fault_trace='vtd_frr_new',
        modes={
            'legacy': ('', ['-device', 'intel-iommu']),
            'scalable': ('', ['-device', 'intel-iommu,x-scalable-mode=on']),
        },
        edu_addr='0000:00:03.0',
        edu_slot='addr=03.0',
        # edu DMA completes 100 ms of virtual time after it starts; with
        # icount and sleep=off an idle guest jumps to that deadline at once
        scenario_args={'storm': ['-icount', 'shift=0,sleep=off']},
    ),
    'arm64': Arch(
        name='arm64',
        cross_compile='aarch64-linux-gnu-',
        kernel_image='arch/arm64/boot/Image',
        config='arm64.config',
        qemu='qemu-system-aarch64',
        machine='virt,accel=tcg',
        qemu_args=['-cpu', 'max'],
        console='ttyAMA0',
        busybox_deb='busybox-static:arm64',
        fault_trace='smmuv3_record_event',
        modes={
            # the SMMU is a machine property on virt
            'smmuv3': (',iommu=smmuv3', []),
        },
        edu_addr='0000:00:02.0',
        edu_slot='addr=02.0',
    ),
}


def get(name):
    try:
        return ARCHES[name]
    except KeyError:
        raise SystemExit(f'unknown ARCH={name}; known: {", ".join(ARCHES)}')
