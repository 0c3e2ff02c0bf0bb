"""IOMMU modes, kept as data: everything the test bed knows about one
emulated IOMMU (as kunit's qemu_configs keep a machine's kconfig and QEMU
arguments together).  The test groups are generated from these records
(groups/), and each architecture's kernel is configured with the kconfig
lines of every mode that runs on it.  Adding an IOMMU is one record here
plus, if its log lines are new, a parser in klog.py.
"""

from dataclasses import dataclass

# in Mode.counters: the counter must equal the faults QEMU recorded
QEMU_COUNT = 'qemu'


@dataclass(frozen=True)
class Storm:
    """A fault storm: 'count' back-to-back DMA writes of 'length' bytes."""
    length: int
    count: int


@dataclass(frozen=True)
class Flood:
    """A flood from user space (groups/vfio_flood.py): faulting DMA writes
    of 'length' bytes, back to back for 'seconds' of guest time, into a
    device fault queue of 'depth' records read only afterwards."""
    seconds: float
    length: int
    depth: int = 16


@dataclass(frozen=True)
class Mode:
    name: str                 # also the test group's name
    arches: tuple             # architectures it runs on; the first mode
                              # listed for an arch is that arch's default
    kconfig: str              # config lines that enable the driver
    qemu_machine: str         # properties appended to the arch's -M
    qemu_args: tuple          # extra QEMU arguments
    trace: str                # QEMU trace event: one line per fault recorded
    log_parser: str           # klog.PARSERS key: the driver's fault lines
    # generic reasons (names of enum iommu_fault_reason without the prefix)
    # for the faults scenario's three DMAs: a write and a read of
    # never-mapped IOVAs, and a write to a page mapped read-only
    reasons: tuple
    # how many faults one faulting DMA of n bytes records: 0 means one per
    # transfer, k means one per k-byte access
    fault_unit: int
    storm: Storm = None       # None: no storm group for this mode
    # symbols the series adds for this IOMMU (enforced only where defined)
    series_kconfig: str = ''
    kunit_suites: tuple = ()  # KUnit suites that must run on the series
    # the driver's debugfs fault counters ("<unit> name N name N ..."), with
    # what the faults scenario expects of each: QEMU_COUNT (every fault QEMU
    # recorded) or a number; () when the driver has none
    counters: tuple = ()
    # the access the IOMMU reports (IOMMU_FAULT_PERM_* name, '' for none)
    # for each of the three DMAs and the write after unregister; None: the
    # direction of each DMA
    perms: tuple = None
    # run the 'context' group (two more edu devices behind root ports)
    context: bool = False
    # None: no vfio-flood group for this mode
    flood: Flood = None
    # in a line of 'trace': a regular expression whose first group is the
    # requester ID (PCI bus/devfn, in hex) of the faulting device; '' when
    # the line does not give it
    trace_rid: str = ''
    # the generic reason (as in 'reasons') of a DMA by a device detached
    # from every page table (iommufd's blocked domain): '' when the IOMMU
    # records no fault for it (groups/vfio_teardown.py)
    blocked_reason: str = ''

    def faults_per_dma(self, length):
        if not self.fault_unit:
            return 1
        return -(-length // self.fault_unit)


VTD_KCONFIG = '''
CONFIG_INTEL_IOMMU=y
CONFIG_INTEL_IOMMU_SVM=y
CONFIG_INTEL_IOMMU_DEFAULT_ON=y
CONFIG_IOMMU_DEBUGFS=y
CONFIG_INTEL_IOMMU_DEBUGFS=y
'''
VTD_SERIES_KCONFIG = '''
CONFIG_INTEL_IOMMU_FAULT_KUNIT_TEST=y
'''


def vtd(name, device, storm=None, context=False, flood=None,
        blocked_reason=''):
    """A VT-d mode: QEMU's intel-iommu with the given -device value."""
    return Mode(
        name=name,
        arches=('x86_64',),
        kconfig=VTD_KCONFIG,
        qemu_machine='',
        qemu_args=('-device', device),
        trace='vtd_frr_new',
        # the fault record's source identifier: bits 15:0 of its high half
        trace_rid=r'high 0x[0-9a-f]*?([0-9a-f]{1,4}) low',
        log_parser='dmar',
        # second-level entries have no present bit: a hole faults as a
        # missing read or write permission (fault reasons 05h and 06h)
        reasons=('PERMISSION', 'PERMISSION', 'PERMISSION'),
        # QEMU keeps one fault record per DMA transfer
        fault_unit=0,
        storm=storm,
        series_kconfig=VTD_SERIES_KCONFIG,
        # the series' VT-d decoder suite (x86 only), run in kunit-x86_64
        kunit_suites=('intel-iommu-fault',),
        counters=(('records', QEMU_COUNT), ('dropped', 0), ('unknown', 0),
                  ('overflows', 0), ('prq_unknown', 0)),
        context=context,
        flood=flood,
        blocked_reason=blocked_reason,
    )


MODES = [
    # QEMU's edu takes 100 ms of virtual time per DMA and VT-d records one
    # fault per DMA: 60 s of guest time make about 600 faults, in a few
    # seconds of host time under -icount (groups/vfio_flood.py)
    # a blocked device has no context entry (fault reason 02h): DEV_CONFIG;
    # in scalable mode no PASID-table entry, which QEMU 7.2 reports as 58h
    # (a PASID-table access error): PASID_FETCH
    vtd('vtd-legacy', 'intel-iommu', storm=Storm(length=4, count=10000),
        context=True, flood=Flood(seconds=60, length=4),
        blocked_reason='DEV_CONFIG'),
    vtd('vtd-scalable', 'intel-iommu,x-scalable-mode=on',
        flood=Flood(seconds=60, length=4), blocked_reason='PASID_FETCH'),
    Mode(
        name='smmuv3',
        arches=('arm64',),
        kconfig='''
CONFIG_ARM_SMMU_V3=y
CONFIG_ARM_SMMU_V3_SVA=y
CONFIG_ARM_SMMU_V3_KUNIT_TEST=y
CONFIG_IOMMU_DEBUGFS=y
''',
        # the SMMU is a machine property on virt
        qemu_machine=',iommu=smmuv3',
        qemu_args=(),
        trace='smmuv3_record_event',
        trace_rid=r'sid=0x([0-9a-f]+)',
        log_parser='smmuv3',
        reasons=('TRANSLATION', 'TRANSLATION', 'PERMISSION'),
        # QEMU's SMMUv3 records one event per 4-byte access
        fault_unit=4,
        storm=Storm(length=4092, count=10),
        # one event per 4 bytes: 1,023 per 4092-byte DMA, about 30,000 in
        # 3 s of guest time (10 DMAs a second)
        flood=Flood(seconds=3, length=4092),
        kunit_suites=('arm-smmu-v3-kunit-test',
                      'arm-smmu-v3-fault-kunit-test'),
        counters=(('records', QEMU_COUNT), ('unknown', 0), ('overflows', 0),
                  ('prq_unknown', 0), ('prq_overflows', 0)),
        context=True,
        # a blocked device's STE aborts its transactions without an event
        blocked_reason='',
    ),
]

# virtio-iommu-pci, on both machines: ACPI VIOT on q35, the device tree on
# virt.  QEMU reports a missing mapping as R_MAPPING with only F_ADDRESS,
# and sets F_READ/F_WRITE only when a mapping forbids the access.
MODES.append(Mode(
    name='virtio',
    arches=('x86_64', 'arm64'),
    kconfig='''
CONFIG_VIRTIO_IOMMU=y
''',
    qemu_machine='',
    qemu_args=('-device', 'virtio-iommu-pci,addr=04.0'),
    trace='virtio_iommu_report_fault',
    log_parser='virtio',
    # the specification's R_MAPPING covers holes and forbidden accesses
    reasons=('TRANSLATION', 'TRANSLATION', 'TRANSLATION'),
    # one event per transfer of at most a page
    fault_unit=0,
    storm=Storm(length=4, count=10000),
    series_kconfig='''
CONFIG_VIRTIO_IOMMU_KUNIT_TEST=y
''',
    kunit_suites=('virtio-iommu-fault',),
    perms=('', '', 'WRITE', ''),
    context=True,
))

BY_NAME = {m.name: m for m in MODES}


def for_arch(arch_name):
    return [m for m in MODES if arch_name in m.arches]


def default(arch_name):
    modes = for_arch(arch_name)
    if not modes:
        raise SystemExit(f'no IOMMU mode runs on {arch_name}')
    return modes[0]


def get(name, arch_name):
    m = BY_NAME.get(name)
    if m is None or arch_name not in m.arches:
        known = ', '.join(x.name for x in for_arch(arch_name))
        raise SystemExit(f'no IOMMU mode {name!r} on {arch_name}; '
                         f'known: {known}')
    return m
