/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Forced in (-include) when the iommufd kselftests are built against a
 * kernel whose uapi lacks what they use.  Debian's linux-source-6.12
 * carries iommufd selftests from a later stable backport: they name
 * uapi and mock-driver symbols that 6.12's headers do not have.  The
 * values are those of the kernels that added the names.  Tests that need
 * the missing kernel features fail on such a kernel (with or without the
 * series); bed/groups/iommufd.py compares base and series, test by test.
 * Used only when the installed linux/iommufd.h lacks
 * IOMMU_HW_INFO_TYPE_DEFAULT (bed/progs.py checks); never edits
 * upstream's files.
 */
#ifndef BED_KSELFTEST_COMPAT_H
#define BED_KSELFTEST_COMPAT_H

/* enum iommu_hw_info_type: "DEFAULT" is the same value as NONE */
#define IOMMU_HW_INFO_TYPE_DEFAULT	0
/* struct iommu_hw_info::flags: the caller asks for a given type */
#define IOMMU_HW_INFO_FLAG_INPUT_TYPE	(1 << 0)
/*
 * Later kernels make in_data_type a union with out_data_type; a 6.12
 * kernel reads neither (it rejects the flag above), so name the one field
 */
#define in_data_type			out_data_type
/* mock driver: a PASID-capable mock device, and its PASID width */
#define MOCK_FLAGS_DEVICE_PASID		(1 << 2)
#define MOCK_PASID_WIDTH		20

#endif
