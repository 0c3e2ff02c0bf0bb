"""Per-architecture settings, kept as data (as kunit's qemu_configs do).

What depends on the IOMMU rather than the architecture is in modes.py.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Arch:
    name: str                 # our name, also the kernel's ARCH=
    srcarch: str              # the kernel's arch/ directory
    cross_compile: str        # CROSS_COMPILE= prefix, '' for native
    kernel_image: str         # relative to the object directory
    config: str               # fragment in configs/, merged after base
    qemu: str                 # QEMU binary
    machine: str              # -M value, before the IOMMU mode's properties
    qemu_args: tuple          # cpu, firmware and other fixed arguments
    console: str              # kernel console device
    busybox_deb: str          # Debian package that ships a static busybox
    edu_slot: str             # PCI slot the edu device is put in
    aux_slot: str             # PCI slot of the results channel (virtio)
    # PCI slots for PCIe root ports with one more edu device each (groups
    # that need devices of their own, such as 'context')
    port_slots: tuple = ('06.0', '07.0')
    # kernel parameters for runs of iommufd's mock IOMMU (CONFIG_IOMMUFD_TEST):
    # its devices have no firmware node, and 6.12 probes such a device with
    # the first IOMMU registered without one (VT-d's), so VT-d must be off
    mock_iommu_cmdline: tuple = ()

    @property
    def edu_addr(self):
        """The edu device's PCI address in the guest (bus 0)."""
        return f'0000:00:{self.edu_slot}'


ARCHES = {
    'x86_64': Arch(
        name='x86_64',
        srcarch='x86',
        cross_compile='',
        kernel_image='arch/x86/boot/bzImage',
        config='x86_64.config',
        qemu='qemu-system-x86_64',
        machine='q35,accel=tcg',
        qemu_args=('-cpu', 'max', '-bios', 'qboot.rom'),
        console='ttyS0',
        busybox_deb='busybox-static',
        edu_slot='03.0',
        aux_slot='05.0',
        mock_iommu_cmdline=('intel_iommu=off',),
    ),
    'arm64': Arch(
        name='arm64',
        srcarch='arm64',
        cross_compile='aarch64-linux-gnu-',
        kernel_image='arch/arm64/boot/Image',
        config='arm64.config',
        qemu='qemu-system-aarch64',
        machine='virt,accel=tcg',
        qemu_args=('-cpu', 'max'),
        console='ttyAMA0',
        busybox_deb='busybox-static:arm64',
        edu_slot='02.0',
        aux_slot='05.0',
    ),
}


def get(name):
    try:
        return ARCHES[name]
    except KeyError:
        raise SystemExit(f'unknown ARCH={name}; known: {", ".join(ARCHES)}')
