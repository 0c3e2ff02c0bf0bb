// SPDX-License-Identifier: GPL-2.0
/*
 * edu_fault - make QEMU's "edu" PCI device issue DMA to chosen IOVAs
 *
 * The test bed uses this driver to provoke real IOMMU faults: the edu device
 * copies between its 4 KiB internal buffer and a bus address, and the IOMMU
 * in front of it (emulated VT-d or SMMUv3) faults when that address is not
 * mapped, or is mapped without the needed permission.
 *
 * Per bound device, in /sys/bus/pci/devices/<bdf>/:
 *
 *   dma      (write) "read <iova> <len>" makes the device DMA-read <len> bytes
 *            at <iova>; "write <iova> <len>" makes it DMA-write them.  The
 *            write() returns once the device reports completion.  Faulting
 *            DMA completes too: the device does not see IOMMU faults.  An
 *            optional fourth number repeats the transfer that many times,
 *            one after the other (a fault storm).
 *   ro_iova  (read) the IOVA of a page this driver mapped device-read-only,
 *            so that a DMA write to it is a permission fault.
 *   dma_count (read) number of DMA transfers issued.
 *   dma_bg   (read/write) "read|write <iova> <len>" starts a kernel thread
 *            that repeats that transfer until "stop" is written or the
 *            driver unbinds, so that faults keep flowing while the device
 *            is removed or the driver unbound; reads "<running> <count>".
 *            On unbind the fault handler is unregistered first and the
 *            thread stopped after, as a device that keeps DMA-ing until it
 *            is disabled would.
 *
 * With the IOMMU device fault API (a struct iommu_fault that describes
 * unrecoverable faults, in include/linux/iommu.h), the driver also
 * registers a fault handler for each device it binds:
 *
 *   fault_handler (read/write) 1 while the handler is registered; write 0
 *            to unregister it and 1 to register it again.
 *   faults   (read) the number of faults the handler received, then one
 *            line per fault, oldest first, for the last EDU_FAULT_LOG: the
 *            device the handler was called for, and the record.
 *            Writing anything clears it.
 *
 * The handler takes unrecoverable faults and leaves page requests to the
 * domain the device is attached to.  For tests of the context handlers run
 * in, it can also be told to sleep or to reset the device after each fault:
 *
 *   handler_hold (read/write) 1: the handler's calls wait, after logging
 *            their fault, until 0 is written (or 60 s pass).
 *   reset_on_fault (read/write) 1: the handler resets the device per fault.
 *   in_handler (read) 1 while a call of the handler is in progress.
 *   resets   (read) resets done by the handler, and the last one's result.
 *
 * A call of the handler after its unregistration returned is a bug of the
 * IOMMU core, and warns.  When the driver unbinds, it logs how many faults
 * the handler received ("fault handler unregistered after N faults").
 *
 * The driver refuses to bind unless a translating IOMMU domain is attached:
 * without one the bus addresses given to "dma" would be physical addresses.
 */

#include <linux/completion.h>
#include <linux/device.h>
#include <linux/dma-mapping.h>
#include <linux/io.h>
#include <linux/iommu.h>
#include <linux/iopoll.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/slab.h>

#define EDU_VENDOR_ID		0x1234
#define EDU_DEVICE_ID		0x11e8

#define EDU_REG_ID		0x00
#define EDU_REG_DMA_SRC		0x80
#define EDU_REG_DMA_DST		0x88
#define EDU_REG_DMA_COUNT	0x90
#define EDU_REG_DMA_CMD		0x98
#define  EDU_DMA_CMD_START	BIT(0)
#define  EDU_DMA_CMD_TO_RAM	BIT(1)	/* device buffer -> bus address */

#define EDU_BUF_ADDR		0x40000	/* device-side buffer */
#define EDU_BUF_SIZE		0x1000
#define EDU_DMA_TIMEOUT_US	(20 * USEC_PER_SEC)

/* Only the series' fault record describes unrecoverable faults */
#ifdef IOMMU_FAULT_UNRECOV_ADDR_VALID
#define EDU_HAVE_FAULT_API	1
#define EDU_FAULT_LOG		32
#endif

struct edu_fault {
	struct pci_dev		*pdev;
	void __iomem		*regs;
	/* serialises DMA transfers: the device has one DMA engine */
	struct mutex		lock;
	void			*ro_page;
	dma_addr_t		ro_iova;
	unsigned long		dma_count;
	/* the background DMA thread, under bg_lock */
	struct mutex		bg_lock;
	struct task_struct	*bg;
	bool			bg_write;
	u64			bg_iova;
	u32			bg_len;
	atomic_long_t		bg_count;
#ifdef EDU_HAVE_FAULT_API
	/* protects the fault log and handler state below */
	spinlock_t		fault_lock;
	bool			handler_registered;
	/* set once unregistration returned: the handler must not run */
	bool			handler_gone;
	unsigned long		nfaults;
	struct iommu_fault	fault_log[EDU_FAULT_LOG];
	/* the device each logged fault was reported for */
	struct device		*fault_dev[EDU_FAULT_LOG];
	/* test knobs: what the handler does after logging a fault */
	bool			hold;
	struct completion	release;
	bool			reset_on_fault;
	/* what it did: in a call now, resets and the last reset's result */
	bool			in_handler;
	unsigned long		resets;
	int			reset_ret;
#endif
};

#ifdef EDU_HAVE_FAULT_API
static int edu_fault_handler(struct device *dev,
			     const struct iommu_fault *fault, void *data)
{
	struct edu_fault *edu = data;

	bool hold, reset;
	int ret;

	spin_lock(&edu->fault_lock);
	WARN_ON_ONCE(edu->handler_gone);
	edu->fault_log[edu->nfaults % EDU_FAULT_LOG] = *fault;
	edu->fault_dev[edu->nfaults % EDU_FAULT_LOG] = dev;
	edu->nfaults++;
	hold = edu->hold;
	reset = edu->reset_on_fault;
	edu->in_handler = true;
	spin_unlock(&edu->fault_lock);

	/* The IOMMU core calls handlers where they may sleep */
	if (hold)
		wait_for_completion_timeout(&edu->release, 60 * HZ);
	if (reset) {
		/* try: remove() holds the device lock while it unregisters */
		ret = pci_try_reset_function(edu->pdev);
		spin_lock(&edu->fault_lock);
		edu->resets++;
		edu->reset_ret = ret;
		spin_unlock(&edu->fault_lock);
	}

	spin_lock(&edu->fault_lock);
	edu->in_handler = false;
	spin_unlock(&edu->fault_lock);
	return 0;
}

/* Show one of the handler's flags, read under fault_lock */
static ssize_t edu_show_flag(struct edu_fault *edu, const bool *flag,
			     char *buf)
{
	bool v;

	spin_lock(&edu->fault_lock);
	v = *flag;
	spin_unlock(&edu->fault_lock);
	return sysfs_emit(buf, "%d\n", v);
}

static ssize_t handler_hold_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	struct edu_fault *edu = dev_get_drvdata(dev);

	return edu_show_flag(edu, &edu->hold, buf);
}

/* 1: the handler's next calls wait until 0 is written (60 s at most) */
static ssize_t handler_hold_store(struct device *dev,
				  struct device_attribute *attr,
				  const char *buf, size_t count)
{
	struct edu_fault *edu = dev_get_drvdata(dev);
	bool on;

	if (kstrtobool(buf, &on))
		return -EINVAL;
	spin_lock(&edu->fault_lock);
	if (on && !edu->hold)
		reinit_completion(&edu->release);
	edu->hold = on;
	spin_unlock(&edu->fault_lock);
	if (!on)
		complete_all(&edu->release);
	return count;
}
static DEVICE_ATTR_RW(handler_hold);

static ssize_t reset_on_fault_show(struct device *dev,
				   struct device_attribute *attr, char *buf)
{
	struct edu_fault *edu = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%d\n", READ_ONCE(edu->reset_on_fault));
}

static ssize_t reset_on_fault_store(struct device *dev,
				    struct device_attribute *attr,
				    const char *buf, size_t count)
{
	struct edu_fault *edu = dev_get_drvdata(dev);
	bool on;

	if (kstrtobool(buf, &on))
		return -EINVAL;
	WRITE_ONCE(edu->reset_on_fault, on);
	return count;
}
static DEVICE_ATTR_RW(reset_on_fault);

static ssize_t in_handler_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	struct edu_fault *edu = dev_get_drvdata(dev);

	return edu_show_flag(edu, &edu->in_handler, buf);
}
static DEVICE_ATTR_RO(in_handler);

/* "<resets> <result of the last one>" */
static ssize_t resets_show(struct device *dev, struct device_attribute *attr,
			   char *buf)
{
	struct edu_fault *edu = dev_get_drvdata(dev);
	unsigned long n;
	int ret;

	spin_lock(&edu->fault_lock);
	n = edu->resets;
	ret = edu->reset_ret;
	spin_unlock(&edu->fault_lock);
	return sysfs_emit(buf, "%lu %d\n", n, ret);
}
static DEVICE_ATTR_RO(resets);

static ssize_t faults_show(struct device *dev, struct device_attribute *attr,
			   char *buf)
{
	struct edu_fault *edu = dev_get_drvdata(dev);
	unsigned long i, first;
	int len;

	spin_lock(&edu->fault_lock);
	len = sysfs_emit(buf, "%lu\n", edu->nfaults);
	first = edu->nfaults > EDU_FAULT_LOG ? edu->nfaults - EDU_FAULT_LOG : 0;
	for (i = first; i < edu->nfaults && len < PAGE_SIZE - 128; i++) {
		const struct iommu_fault *f = &edu->fault_log[i % EDU_FAULT_LOG];

		len += sysfs_emit_at(buf, len,
				     "dev %s type %u reason %u flags %#x pasid %#x perm %#x addr %#llx fetch %#llx\n",
				     dev_name(edu->fault_dev[i % EDU_FAULT_LOG]),
				     f->type, f->event.reason, f->event.flags,
				     f->event.pasid, f->event.perm,
				     f->event.addr, f->event.fetch_addr);
	}
	spin_unlock(&edu->fault_lock);
	return len;
}

static ssize_t faults_store(struct device *dev, struct device_attribute *attr,
			    const char *buf, size_t count)
{
	struct edu_fault *edu = dev_get_drvdata(dev);

	spin_lock(&edu->fault_lock);
	edu->nfaults = 0;
	spin_unlock(&edu->fault_lock);
	return count;
}
static DEVICE_ATTR_RW(faults);

static int edu_fault_register(struct edu_fault *edu)
{
	int ret;

	spin_lock(&edu->fault_lock);
	edu->handler_gone = false;
	spin_unlock(&edu->fault_lock);
	/* Page requests stay with the domain (SVA, iommufd) */
	ret = iommu_register_device_fault_handler(&edu->pdev->dev,
						  IOMMU_FAULT_KIND_UNRECOV,
						  edu_fault_handler, edu);
	if (!ret)
		edu->handler_registered = true;
	return ret;
}

static void edu_fault_unregister(struct edu_fault *edu)
{
	if (edu->handler_registered) {
		iommu_unregister_device_fault_handler(&edu->pdev->dev);
		spin_lock(&edu->fault_lock);
		edu->handler_gone = true;
		spin_unlock(&edu->fault_lock);
	}
	edu->handler_registered = false;
}

static ssize_t fault_handler_show(struct device *dev,
				  struct device_attribute *attr, char *buf)
{
	struct edu_fault *edu = dev_get_drvdata(dev);
	bool on;

	mutex_lock(&edu->lock);
	on = edu->handler_registered;
	mutex_unlock(&edu->lock);
	return sysfs_emit(buf, "%d\n", on);
}

static ssize_t fault_handler_store(struct device *dev,
				   struct device_attribute *attr,
				   const char *buf, size_t count)
{
	struct edu_fault *edu = dev_get_drvdata(dev);
	bool on;
	int ret = 0;

	if (kstrtobool(buf, &on))
		return -EINVAL;
	mutex_lock(&edu->lock);
	if (on && !edu->handler_registered)
		ret = edu_fault_register(edu);
	else if (!on)
		edu_fault_unregister(edu);
	mutex_unlock(&edu->lock);
	return ret ? ret : count;
}
static DEVICE_ATTR_RW(fault_handler);

static void edu_fault_release_handler(void *data)
{
	struct edu_fault *edu = data;

	unsigned long n;

	mutex_lock(&edu->lock);
	edu_fault_unregister(edu);
	mutex_unlock(&edu->lock);
	spin_lock(&edu->fault_lock);
	n = edu->nfaults;
	spin_unlock(&edu->fault_lock);
	pci_info(edu->pdev, "fault handler unregistered after %lu faults\n", n);
}
#endif /* EDU_HAVE_FAULT_API */

static int edu_fault_dma(struct edu_fault *edu, bool write, u64 iova,
			 u32 len)
{
	u64 cmd = EDU_DMA_CMD_START;
	u64 val;
	int ret;

	if (!len || len >= EDU_BUF_SIZE)
		return -EINVAL;

	mutex_lock(&edu->lock);
	if (write) {
		cmd |= EDU_DMA_CMD_TO_RAM;
		writeq(EDU_BUF_ADDR, edu->regs + EDU_REG_DMA_SRC);
		writeq(iova, edu->regs + EDU_REG_DMA_DST);
	} else {
		writeq(iova, edu->regs + EDU_REG_DMA_SRC);
		writeq(EDU_BUF_ADDR, edu->regs + EDU_REG_DMA_DST);
	}
	writeq(len, edu->regs + EDU_REG_DMA_COUNT);
	writeq(cmd, edu->regs + EDU_REG_DMA_CMD);
	edu->dma_count++;
	ret = readq_poll_timeout(edu->regs + EDU_REG_DMA_CMD, val,
				 !(val & EDU_DMA_CMD_START), 1000,
				 EDU_DMA_TIMEOUT_US);
	mutex_unlock(&edu->lock);
	if (ret)
		pci_err(edu->pdev, "DMA to %#llx did not complete\n", iova);
	return ret;
}

/* "read|write <iova> <len> [<repeat>]"; the repeat count defaults to 1 */
static int edu_parse_dma(const char *buf, bool *write, u64 *iova, u32 *len,
			 u32 *repeat)
{
	char op[8];

	*repeat = 1;
	if (sscanf(buf, "%7s %llx %u %u", op, iova, len, repeat) < 3 ||
	    !*repeat || !*len || *len >= EDU_BUF_SIZE)
		return -EINVAL;
	if (!strcmp(op, "read"))
		*write = false;
	else if (!strcmp(op, "write"))
		*write = true;
	else
		return -EINVAL;
	return 0;
}

static ssize_t dma_store(struct device *dev, struct device_attribute *attr,
			 const char *buf, size_t count)
{
	struct edu_fault *edu = dev_get_drvdata(dev);
	u32 len, i, repeat;
	bool write;
	u64 iova;
	int ret = 0;

	if (edu_parse_dma(buf, &write, &iova, &len, &repeat))
		return -EINVAL;
	for (i = 0; i < repeat && !ret; i++) {
		ret = edu_fault_dma(edu, write, iova, len);
		cond_resched();
	}
	return ret ? ret : count;
}
static DEVICE_ATTR_WO(dma);

static int edu_fault_bg_fn(void *data)
{
	struct edu_fault *edu = data;

	while (!kthread_should_stop()) {
		if (edu_fault_dma(edu, edu->bg_write, edu->bg_iova, edu->bg_len))
			break;
		atomic_long_inc(&edu->bg_count);
		cond_resched();
	}
	/* kthread_stop() needs the thread: wait for it */
	while (!kthread_should_stop())
		schedule_timeout_idle(HZ / 10);
	return 0;
}

static void edu_fault_bg_stop(void *data)
{
	struct edu_fault *edu = data;

	mutex_lock(&edu->bg_lock);
	if (edu->bg) {
		kthread_stop(edu->bg);
		edu->bg = NULL;
	}
	mutex_unlock(&edu->bg_lock);
}

static ssize_t dma_bg_show(struct device *dev, struct device_attribute *attr,
			   char *buf)
{
	struct edu_fault *edu = dev_get_drvdata(dev);
	bool running;

	mutex_lock(&edu->bg_lock);
	running = edu->bg;
	mutex_unlock(&edu->bg_lock);
	return sysfs_emit(buf, "%d %ld\n", running,
			  atomic_long_read(&edu->bg_count));
}

static ssize_t dma_bg_store(struct device *dev, struct device_attribute *attr,
			    const char *buf, size_t count)
{
	struct edu_fault *edu = dev_get_drvdata(dev);
	struct task_struct *t;
	u32 len, repeat;
	bool write;
	u64 iova;
	int ret = 0;

	if (sysfs_streq(buf, "stop")) {
		edu_fault_bg_stop(edu);
		return count;
	}
	/* a repeat count makes no sense here: the thread repeats until told */
	if (edu_parse_dma(buf, &write, &iova, &len, &repeat) || repeat != 1)
		return -EINVAL;

	mutex_lock(&edu->bg_lock);
	if (edu->bg) {
		ret = -EBUSY;
		goto out;
	}
	edu->bg_write = write;
	edu->bg_iova = iova;
	edu->bg_len = len;
	atomic_long_set(&edu->bg_count, 0);
	t = kthread_run(edu_fault_bg_fn, edu, "edu_bg/%s", dev_name(dev));
	if (IS_ERR(t))
		ret = PTR_ERR(t);
	else
		edu->bg = t;
out:
	mutex_unlock(&edu->bg_lock);
	return ret ? ret : count;
}
static DEVICE_ATTR_RW(dma_bg);

static ssize_t ro_iova_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	struct edu_fault *edu = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%#llx\n", (u64)edu->ro_iova);
}
static DEVICE_ATTR_RO(ro_iova);

static ssize_t dma_count_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	struct edu_fault *edu = dev_get_drvdata(dev);
	unsigned long n;

	mutex_lock(&edu->lock);
	n = edu->dma_count;
	mutex_unlock(&edu->lock);
	return sysfs_emit(buf, "%lu\n", n);
}
static DEVICE_ATTR_RO(dma_count);

static struct attribute *edu_fault_attrs[] = {
	&dev_attr_dma.attr,
	&dev_attr_ro_iova.attr,
	&dev_attr_dma_count.attr,
	&dev_attr_dma_bg.attr,
#ifdef EDU_HAVE_FAULT_API
	&dev_attr_faults.attr,
	&dev_attr_fault_handler.attr,
	&dev_attr_handler_hold.attr,
	&dev_attr_reset_on_fault.attr,
	&dev_attr_in_handler.attr,
	&dev_attr_resets.attr,
#endif
	NULL
};
ATTRIBUTE_GROUPS(edu_fault);

static void edu_fault_unmap(void *data)
{
	struct edu_fault *edu = data;

	dma_unmap_single(&edu->pdev->dev, edu->ro_iova, PAGE_SIZE,
			 DMA_TO_DEVICE);
}

static int edu_fault_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct iommu_domain *domain = iommu_get_domain_for_dev(&pdev->dev);
	struct edu_fault *edu;
	int ret;

	if (!domain || !(domain->type & __IOMMU_DOMAIN_PAGING)) {
		pci_err(pdev, "no translating IOMMU domain, refusing to bind\n");
		return -ENODEV;
	}

	edu = devm_kzalloc(&pdev->dev, sizeof(*edu), GFP_KERNEL);
	if (!edu)
		return -ENOMEM;
	edu->pdev = pdev;
	mutex_init(&edu->lock);
	mutex_init(&edu->bg_lock);

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	edu->regs = pcim_iomap_region(pdev, 0, KBUILD_MODNAME);
	if (IS_ERR(edu->regs))
		return PTR_ERR(edu->regs);
	ret = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (ret)
		return ret;
	pci_set_master(pdev);

	/* A page the device may read but not write */
	edu->ro_page = (void *)devm_get_free_pages(&pdev->dev,
						   GFP_KERNEL | __GFP_ZERO, 0);
	if (!edu->ro_page)
		return -ENOMEM;
	edu->ro_iova = dma_map_single(&pdev->dev, edu->ro_page, PAGE_SIZE,
				      DMA_TO_DEVICE);
	if (dma_mapping_error(&pdev->dev, edu->ro_iova))
		return -ENOMEM;
	ret = devm_add_action_or_reset(&pdev->dev, edu_fault_unmap, edu);
	if (ret)
		return ret;

	pci_set_drvdata(pdev, edu);
	/* released after the handler's: the DMA goes on while it unregisters */
	ret = devm_add_action_or_reset(&pdev->dev, edu_fault_bg_stop, edu);
	if (ret)
		return ret;
#ifdef EDU_HAVE_FAULT_API
	spin_lock_init(&edu->fault_lock);
	init_completion(&edu->release);
	ret = edu_fault_register(edu);
	if (ret)
		return ret;
	ret = devm_add_action_or_reset(&pdev->dev, edu_fault_release_handler,
				       edu);
	if (ret)
		return ret;
#endif
	pci_info(pdev, "edu id %#x, read-only page at IOVA %#llx\n",
		 readl(edu->regs + EDU_REG_ID), (u64)edu->ro_iova);
	return 0;
}

static const struct pci_device_id edu_fault_ids[] = {
	{ PCI_DEVICE(EDU_VENDOR_ID, EDU_DEVICE_ID) },
	{ }
};
MODULE_DEVICE_TABLE(pci, edu_fault_ids);

static struct pci_driver edu_fault_driver = {
	.name		= KBUILD_MODNAME,
	.id_table	= edu_fault_ids,
	.probe		= edu_fault_probe,
	.dev_groups	= edu_fault_groups,
};
module_pci_driver(edu_fault_driver);

MODULE_DESCRIPTION("Drive QEMU's edu device to provoke IOMMU faults");
MODULE_LICENSE("GPL");
