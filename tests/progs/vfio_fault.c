// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_fault - a VMM's view of a device's unrecoverable DMA faults
 *
 * Acts as a VMM would: opens QEMU's edu device through its VFIO cdev
 * (/dev/vfio/devices/vfioN), binds it to an iommufd, maps guest memory
 * into an IOAS, attaches the device, and creates the device's fault queue
 * (IOMMU_DEV_FAULT_QUEUE_ALLOC).  It then programs the edu device's DMA
 * engine through its BAR0, mapped with VFIO, so that the emulated IOMMU
 * faults, and reads the fault records from the queue.
 *
 * usage: vfio_fault [-u FAULT_UNIT] BDF STEP [ARGS]
 *   FAULT_UNIT: 0 if the IOMMU records one fault per DMA transfer, k if one
 *               per k-byte access (bed/modes.py); used only to know how many
 *               records to wait for.  Default 0.
 *   main DEPTH        invalid queue allocations, a queue of DEPTH records, a
 *                     second queue for the device; a good DMA (no fault),
 *                     then a DMA write and a DMA read of never-mapped IOVAs
 *                     and a DMA write to a page mapped read-only; read()s
 *                     of bad sizes, one record, all the rest, an empty queue
 *   overflow DEPTH N  N faulting DMA writes with a queue of DEPTH records,
 *                     read only after the last; then 2 more after draining
 *   hup               2 faults, then the device is unbound (its fd closed)
 *                     before the queue is read: poll() and read() after
 *   close N           rounds of N faults left unread while the fds are
 *                     closed, in different orders; then a queue is closed
 *                     and created again and must work
 *   close-flowing DEPTH MS LEN
 *                     faults flow (DMA writes of LEN bytes from a second
 *                     thread) into a queue read for MS ms, which is then
 *                     closed; MS ms with no queue; a new queue read for MS
 *                     ms; then the flow stops and everything is read
 *   detach-flowing DEPTH MS LEN
 *                     faults flow into a queue read all along; after MS ms
 *                     the device is detached from its IOAS, MS ms later
 *                     attached again, MS ms later the flow stops
 *   unbind-flowing DEPTH MS LEN
 *                     faults flow into a queue read for MS ms, then left
 *                     unread for MS / 2 ms; the device fd is closed
 *                     (unbind) while the flow goes on; poll(), the records
 *                     queued before, read() returning 0
 *   flood DEPTH MS LEN [OTHER]
 *                     faulting DMA writes of LEN bytes, back to back for MS
 *                     ms of guest time, into a queue of DEPTH records that
 *                     is read only after the last one; then everything is
 *                     read.  OTHER: the sysfs directory of another edu
 *                     device, bound to edu_fault: a third into the flood,
 *                     it is made to fault once, and its handler's count is
 *                     watched while the flood goes on
 *   storm DEPTH N LEN  N faulting DMA writes of LEN bytes, back to back,
 *                     into a queue of DEPTH records, read after the last
 *                     (make bench's P3 and P4); vfio_storm_ms MS: the
 *                     DMAs' guest time
 *
 * Everything it finds is printed on stdout as the test bed's result lines
 * ("BED: <key> <step> ..."), which the bed's vfio group checks:
 *   vfio_devid STEP ID                 the bound device's iommufd id
 *   vfio_iova STEP rw IOVA ro IOVA     where the buffers are mapped
 *   vfio_alloc STEP WHAT RET ERRNO     an IOMMU_DEV_FAULT_QUEUE_ALLOC
 *   vfio_control STEP ok|bad ...       the good DMA, and its data
 *   vfio_dma STEP BATCH DIR IOVA LEN ok|timeout   a faulting DMA
 *   vfio_fired STEP BATCH N LEN        N faulting DMAs of LEN bytes done
 *   vfio_poll STEP WHAT REVENTS        a poll() of the queue
 *   vfio_read STEP WHAT COUNT RET ERRNO   a read() of the queue
 *   vfio_rec STEP BATCH I flags F sequence S dev_id D reason R pasid P
 *            perm M lost L reserved X addr A    a record read
 *   vfio_timeout STEP BATCH GOT WANT   records still missing at the deadline
 *   vfio_flood STEP DMAS MS            the flood's DMAs and its length
 *   vfio_other STEP FAULTED_MS SEEN_MS END_MS   the other device: when its
 *            DMA was made, when its handler's count first showed it (-1:
 *            not during the flood) and when the flood ended, in ms from its
 *            start
 *   vfio_mark STEP WHAT STARTED DONE   the flow's DMAs started (their
 *            command written; DMA i is at the step's base + i pages) and
 *            done at a moment of a *-flowing step
 *   vfio_flow STEP BASE LEN STARTED DONE ERRNO   the flow at its end: a
 *            DMA started and not seen done faulted or not (unbind)
 *   vfio_ioctl STEP WHAT RET ERRNO     a detach or attach
 *   vfio_error STEP WHAT ERRNO         a setup step failed (exit 1)
 * A kernel whose uapi has no IOMMU_DEV_FAULT_QUEUE_ALLOC (the unpatched
 * base) gets a stub that prints "vfio_unsupported" and exits 4.
 */
#include <stdio.h>

#include <linux/iommufd.h>

#ifndef IOMMU_DEV_FAULT_QUEUE_ALLOC
int main(void)
{
	printf("BED: vfio_unsupported this kernel's uapi has no "
	       "IOMMU_DEV_FAULT_QUEUE_ALLOC\n");
	return 4;
}
#else /* IOMMU_DEV_FAULT_QUEUE_ALLOC */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

/* QEMU's edu device (docs/specs/edu.rst) */
#define EDU_REG_ID		0x00
#define EDU_REG_DMA_SRC		0x80
#define EDU_REG_DMA_DST		0x88
#define EDU_REG_DMA_COUNT	0x90
#define EDU_REG_DMA_CMD		0x98
#define EDU_DMA_START		(1ULL << 0)
#define EDU_DMA_TO_RAM		(1ULL << 1)	/* edu buffer -> bus address */
#define EDU_BUF			0x40000ULL	/* the device's 4 KiB buffer */
#define EDU_DMA_TIMEOUT_MS	20000

/*
 * IOVAs, all below 256 MiB (edu's default DMA mask is 28 bits).  RW_IOVA
 * and RO_IOVA are mapped; the others never are.
 */
#define PAGE			4096ULL
#define RW_IOVA			0x1000000ULL	/* 2 pages, read-write */
#define RO_IOVA			0x2000000ULL	/* 1 page, device-read-only */
#define HOLE_W_IOVA		0xdead000ULL
#define HOLE_R_IOVA		0xdeae000ULL
#define OVERFLOW_IOVA		0xe000000ULL	/* one page per DMA */
#define AGAIN_IOVA		0xe800000ULL
#define HUP_IOVA		0xec00000ULL
#define CLOSE_IOVA		0xf000000ULL
#define FLOOD_IOVA		0x8000000ULL	/* FLOOD_PAGES pages */
#define FLOOD_PAGES		4096
#define OTHER_IOVA		0xdead000ULL	/* never mapped by edu_fault */
#define CLOSE_FLOW_IOVA		0x9000000ULL	/* FLOW_PAGES pages each */
#define DETACH_FLOW_IOVA	0xa000000ULL
#define UNBIND_FLOW_IOVA	0xb000000ULL
#define FLOW_PAGES		4096

#define MAIN_LEN		8	/* bytes per DMA of the main step */
#define SMALL_LEN		4	/* of the other steps */
#define REC			((ssize_t)sizeof(struct iommu_dev_fault))
#define BIG_RECS		64	/* records in the oversized read buffer */
#define WAIT_MS			20000	/* for all expected records */
#define QUIET_MS		500	/* for records beyond those expected */
#define SETTLE_MS		1000	/* for faults in flight to be queued */

static const char *step;
static unsigned int fault_unit;
static unsigned int rec_index;

struct dev {
	int iommufd;
	int devfd;
	int qfd;
	uint32_t devid;
	uint32_t ioas;
	volatile uint8_t *bar;
	size_t bar_size;
	uint8_t *rw;
	uint8_t *ro;
};

static void error(const char *what)
{
	printf("BED: vfio_error %s %s %d\n", step, what, errno);
	fprintf(stderr, "vfio_fault: %s: %s: %s\n", step, what,
		strerror(errno));
	exit(1);
}

/* records one faulting DMA of len bytes makes the IOMMU report */
static unsigned int faults_per_dma(unsigned int len)
{
	return fault_unit ? (len + fault_unit - 1) / fault_unit : 1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void w64(struct dev *d, unsigned int reg, uint64_t v)
{
	*(volatile uint64_t *)(d->bar + reg) = v;
}

static uint64_t r64(struct dev *d, unsigned int reg)
{
	return *(volatile uint64_t *)(d->bar + reg);
}

static int region_info(struct dev *d, unsigned int index,
		       struct vfio_region_info *info)
{
	memset(info, 0, sizeof(*info));
	info->argsz = sizeof(*info);
	info->index = index;
	return ioctl(d->devfd, VFIO_DEVICE_GET_REGION_INFO, info);
}

/* /dev/vfio/devices/vfioN of the device at PCI address bdf */
static int open_vfio_cdev(const char *bdf)
{
	char path[512];
	struct dirent *e;
	DIR *dir;
	int fd = -1;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	dir = opendir(path);
	if (!dir)
		error("vfio-dev-dir");
	while ((e = readdir(dir))) {
		if (strncmp(e->d_name, "vfio", 4))
			continue;
		snprintf(path, sizeof(path), "/dev/vfio/devices/%s",
			 e->d_name);
		fd = open(path, O_RDWR | O_CLOEXEC);
		break;
	}
	closedir(dir);
	if (fd < 0)
		error("open-vfio-cdev");
	return fd;
}

static void ioas_map(struct dev *d, void *va, uint64_t len, uint64_t iova,
		     uint32_t flags)
{
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = flags | IOMMU_IOAS_MAP_FIXED_IOVA,
		.ioas_id = d->ioas,
		.user_va = (uintptr_t)va,
		.length = len,
		.iova = iova,
	};

	if (ioctl(d->iommufd, IOMMU_IOAS_MAP, &map))
		error("IOMMU_IOAS_MAP");
}

/*
 * What a VMM does to give a device to a guest: bind it to an iommufd,
 * attach it to an IOAS that maps the guest's memory (here one read-write
 * buffer and one read-only page), enable memory decoding and bus mastering
 * in its config space, and map its BAR.
 */
static void dev_open(struct dev *d, const char *bdf)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = sizeof(attach),
	};
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	struct vfio_region_info cfg, bar;
	uint16_t cmd;

	memset(d, 0, sizeof(*d));
	d->qfd = -1;
	d->devfd = open_vfio_cdev(bdf);
	d->iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (d->iommufd < 0)
		error("open-dev-iommu");
	bind.iommufd = d->iommufd;
	if (ioctl(d->devfd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		error("VFIO_DEVICE_BIND_IOMMUFD");
	d->devid = bind.out_devid;
	if (ioctl(d->iommufd, IOMMU_IOAS_ALLOC, &ioas))
		error("IOMMU_IOAS_ALLOC");
	d->ioas = ioas.out_ioas_id;

	d->rw = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	d->ro = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (d->rw == MAP_FAILED || d->ro == MAP_FAILED)
		error("mmap-buffers");
	memset(d->rw, 0, 2 * PAGE);
	memset(d->ro, 0x5a, PAGE);
	ioas_map(d, d->rw, 2 * PAGE, RW_IOVA,
		 IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE);
	ioas_map(d, d->ro, PAGE, RO_IOVA, IOMMU_IOAS_MAP_READABLE);

	attach.pt_id = d->ioas;
	if (ioctl(d->devfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach))
		error("VFIO_DEVICE_ATTACH_IOMMUFD_PT");

	if (region_info(d, VFIO_PCI_CONFIG_REGION_INDEX, &cfg))
		error("GET_REGION_INFO-config");
	if (pread(d->devfd, &cmd, 2, cfg.offset + PCI_COMMAND) != 2)
		error("read-PCI_COMMAND");
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	if (pwrite(d->devfd, &cmd, 2, cfg.offset + PCI_COMMAND) != 2)
		error("write-PCI_COMMAND");

	if (region_info(d, VFIO_PCI_BAR0_REGION_INDEX, &bar))
		error("GET_REGION_INFO-BAR0");
	if (!(bar.flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		errno = ENOTSUP;
		error("BAR0-not-mmappable");
	}
	d->bar_size = bar.size;
	d->bar = mmap(NULL, bar.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      d->devfd, bar.offset);
	if (d->bar == MAP_FAILED)
		error("mmap-BAR0");

	printf("BED: vfio_devid %s %u\n", step, d->devid);
	printf("BED: vfio_iova %s rw %#llx ro %#llx\n", step, RW_IOVA,
	       RO_IOVA);
	printf("BED: vfio_edu_id %s %#x\n", step,
	       *(volatile uint32_t *)(d->bar + EDU_REG_ID));
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void close_dev(struct dev *d)
{
	if (d->bar)
		munmap((void *)d->bar, d->bar_size);
	d->bar = NULL;
	close_fd(&d->devfd);
}

static void close_all(struct dev *d)
{
	close_fd(&d->qfd);
	close_dev(d);
	close_fd(&d->iommufd);
	munmap(d->rw, 2 * PAGE);
	munmap(d->ro, PAGE);
}

/* IOMMU_DEV_FAULT_QUEUE_ALLOC; returns the fd, or -1 with errno set */
static int queue_alloc(struct dev *d, const char *what,
		       struct iommu_dev_fault_queue_alloc *cmd)
{
	int ret = ioctl(d->iommufd, IOMMU_DEV_FAULT_QUEUE_ALLOC, cmd);

	printf("BED: vfio_alloc %s %s %d %d\n", step, what, ret,
	       ret ? errno : 0);
	if (ret)
		return -1;
	printf("BED: vfio_alloc_fd %s %s %u\n", step, what,
	       cmd->out_fault_queue_fd);
	return cmd->out_fault_queue_fd;
}

static int queue_new(struct dev *d, const char *what, uint32_t depth)
{
	struct iommu_dev_fault_queue_alloc cmd = {
		.size = sizeof(cmd),
		.dev_id = d->devid,
		.depth = depth,
	};

	return queue_alloc(d, what, &cmd);
}

/* the step's queue of DEPTH records, as d->qfd; exits if it cannot be had */
static void queue_open(struct dev *d, uint32_t depth)
{
	d->qfd = queue_new(d, "ok", depth);
	if (d->qfd < 0)
		error("IOMMU_DEV_FAULT_QUEUE_ALLOC");
}

/* Program one DMA and wait until the device says it is done */
static int edu_dma(struct dev *d, int write, uint64_t iova, uint32_t len)
{
	uint64_t t0;

	if (write) {
		w64(d, EDU_REG_DMA_SRC, EDU_BUF);
		w64(d, EDU_REG_DMA_DST, iova);
	} else {
		w64(d, EDU_REG_DMA_SRC, iova);
		w64(d, EDU_REG_DMA_DST, EDU_BUF);
	}
	w64(d, EDU_REG_DMA_COUNT, len);
	w64(d, EDU_REG_DMA_CMD, EDU_DMA_START | (write ? EDU_DMA_TO_RAM : 0));
	t0 = now_ms();
	while (r64(d, EDU_REG_DMA_CMD) & EDU_DMA_START) {
		if (now_ms() - t0 > EDU_DMA_TIMEOUT_MS)
			return -1;
		sleep_ms(1);
	}
	return 0;
}

/* A DMA expected to fault */
static void fault_dma(struct dev *d, const char *batch, int write,
		      uint64_t iova, uint32_t len)
{
	int ret = edu_dma(d, write, iova, len);

	printf("BED: vfio_dma %s %s %s %#llx %u %s\n", step, batch,
	       write ? "write" : "read", (unsigned long long)iova, len,
	       ret ? "timeout" : "ok");
	if (ret) {
		errno = ETIMEDOUT;
		error("edu-dma");
	}
}

/* n faulting DMA writes of len bytes, one page apart from iova */
static void fire(struct dev *d, const char *batch, unsigned int n,
		 uint64_t iova, uint32_t len)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		fault_dma(d, batch, 1, iova + i * PAGE, len);
	printf("BED: vfio_fired %s %s %u %u\n", step, batch, n, len);
}

static short do_poll(struct dev *d, const char *what, int timeout_ms)
{
	struct pollfd p = { .fd = d->qfd, .events = POLLIN };
	int ret = poll(&p, 1, timeout_ms);

	if (ret < 0)
		error("poll");
	if (what)
		printf("BED: vfio_poll %s %s %#x\n", step, what,
		       (unsigned int)p.revents);
	return ret ? p.revents : 0;
}

static void print_rec(const char *batch, const struct iommu_dev_fault *f)
{
	printf("BED: vfio_rec %s %s %u flags %#x sequence %u dev_id %u "
	       "reason %u pasid %u perm %#x lost %u reserved %u addr %#llx\n",
	       step, batch, rec_index++, f->flags, f->sequence, f->dev_id,
	       f->reason, f->pasid, f->perm, f->lost, f->__reserved,
	       (unsigned long long)f->addr);
}

/* faults a record accounts for: itself unless lost-only, and those lost */
static unsigned int accounts(const struct iommu_dev_fault *f)
{
	unsigned int n = f->reason != IOMMU_DEV_FAULT_REASON_NONE;

	if (f->flags & IOMMU_DEV_FAULT_FLAG_LOST)
		n += f->lost;
	return n;
}

/* read() of count bytes into buf; prints what it returned */
static ssize_t do_read(struct dev *d, const char *what, void *buf,
		       size_t count)
{
	ssize_t ret = read(d->qfd, buf, count);

	printf("BED: vfio_read %s %s %zu %zd %d\n", step, what, count, ret,
	       ret < 0 ? errno : 0);
	return ret;
}

/*
 * Read records until they account for want faults (then wait QUIET_MS for
 * more: there must be none) or WAIT_MS pass.  Returns the faults accounted.
 */
static unsigned int collect(struct dev *d, const char *batch,
			    unsigned int want, unsigned int got)
{
	struct iommu_dev_fault buf[BIG_RECS];
	uint64_t deadline = now_ms() + WAIT_MS;
	int quiet = 0;
	ssize_t n, i;

	for (;;) {
		uint64_t now = now_ms();
		int timeout;
		short ev;

		if (got >= want && !quiet) {
			quiet = 1;
			deadline = now + QUIET_MS;
		}
		if (now >= deadline)
			break;
		timeout = deadline - now;
		ev = do_poll(d, NULL, timeout);
		if (!(ev & POLLIN)) {
			if (ev & (POLLHUP | POLLERR)) {
				/* unbound: read what is left, then stop */
				n = read(d->qfd, buf, sizeof(buf));
				if (n <= 0)
					break;
			} else {
				continue;
			}
		} else {
			n = do_read(d, "big", buf, sizeof(buf));
		}
		if (n < 0)
			error("read");
		if (n % REC) {
			errno = EPROTO;
			error("read-partial-record");
		}
		for (i = 0; i < n / REC; i++) {
			print_rec(batch, &buf[i]);
			got += accounts(&buf[i]);
		}
		if (!n && !(ev & POLLIN))
			break;
		if (!n)
			/* EPOLLIN with nothing to read: do not spin */
			sleep_ms(10);
	}
	if (got < want)
		printf("BED: vfio_timeout %s %s %u %u\n", step, batch, got,
		       want);
	return got;
}

/* wait until a record is queued, then for the faults in flight */
static void settle(struct dev *d, const char *what)
{
	do_poll(d, what, WAIT_MS);
	sleep_ms(SETTLE_MS);
}

/* Allocations the uapi refuses; then a good one; then one too many */
static void alloc_checks(struct dev *d, uint32_t depth)
{
	static const struct {
		const char *what;
		uint32_t flags, dev_id, depth, reserved;
	} bad[] = {
		{ "flags", 1, 0, 0, 0 },
		{ "reserved", 0, 0, 0, 1 },
		{ "depth0", 0, 0, 1, 0 },
		{ "depth_too_big", 0, 0, 2, 0 },
		{ "dev_id_ioas", 0, 1, 0, 0 },
		{ "dev_id_none", 0, 2, 0, 0 },
	};
	unsigned int i;
	int fd;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct iommu_dev_fault_queue_alloc cmd = {
			.size = sizeof(cmd),
			.flags = bad[i].flags,
			.dev_id = d->devid,
			.depth = depth,
			.__reserved = bad[i].reserved,
		};

		if (bad[i].depth == 1)
			cmd.depth = 0;
		else if (bad[i].depth == 2)
			cmd.depth = IOMMU_DEV_FAULT_QUEUE_MAX_DEPTH + 1;
		if (bad[i].dev_id == 1)
			cmd.dev_id = d->ioas;	/* an object, not a device */
		else if (bad[i].dev_id == 2)
			cmd.dev_id = 0xfffff;	/* no object */
		fd = queue_alloc(d, bad[i].what, &cmd);
		if (fd >= 0)
			close(fd);
	}
	queue_open(d, depth);
	/* a device has at most one queue */
	fd = queue_new(d, "second", depth);
	if (fd >= 0)
		close(fd);
}

static int step_main(struct dev *d, int argc, char **argv)
{
	struct iommu_dev_fault buf[BIG_RECS];
	static const uint64_t pattern = 0x0123456789abcdefULL;
	uint32_t depth;
	uint64_t got;
	unsigned int n, want;
	ssize_t ret;

	if (argc != 1)
		return 2;
	depth = strtoul(argv[0], NULL, 0);
	alloc_checks(d, depth);

	/* a good DMA: RAM -> edu -> RAM through the IOMMU; no fault */
	memcpy(d->rw, &pattern, sizeof(pattern));
	if (edu_dma(d, 0, RW_IOVA, sizeof(pattern)) ||
	    edu_dma(d, 1, RW_IOVA + PAGE, sizeof(pattern))) {
		printf("BED: vfio_control %s bad timeout\n", step);
	} else {
		memcpy(&got, d->rw + PAGE, sizeof(got));
		printf("BED: vfio_control %s %s %#llx\n", step,
		       got == pattern ? "ok" : "bad",
		       (unsigned long long)got);
	}
	do_poll(d, "after_control", QUIET_MS);

	/* the faults */
	fault_dma(d, "faults", 1, HOLE_W_IOVA, MAIN_LEN);
	fault_dma(d, "faults", 0, HOLE_R_IOVA, MAIN_LEN);
	fault_dma(d, "faults", 1, RO_IOVA, MAIN_LEN);
	printf("BED: vfio_fired %s faults 3 %u\n", step, MAIN_LEN);
	want = 3 * faults_per_dma(MAIN_LEN);

	/* bad sizes while records are queued: nothing may be consumed */
	settle(d, "pending");
	do_read(d, "short", buf, REC - 1);
	do_read(d, "tiny", buf, 8);
	do_read(d, "odd", buf, REC + REC / 2);
	do_read(d, "plus_one", buf, 2 * REC + 1);
	/* one record's worth returns one record */
	ret = do_read(d, "one", buf, REC);
	n = 0;
	if (ret == REC) {
		print_rec("faults", &buf[0]);
		n = accounts(&buf[0]);
	}
	/* then an oversized buffer gets the rest */
	collect(d, "faults", want, n);

	/* empty: read returns 0, poll has no EPOLLIN, bad sizes still fail */
	do_read(d, "empty", buf, sizeof(buf));
	do_poll(d, "empty", 0);
	do_read(d, "short_empty", buf, REC - 1);
	do_read(d, "odd_empty", buf, REC + REC / 2);
	close_all(d);
	return 0;
}

static int step_overflow(struct dev *d, int argc, char **argv)
{
	uint32_t depth;
	unsigned int n, got;

	if (argc != 2)
		return 2;
	depth = strtoul(argv[0], NULL, 0);
	n = strtoul(argv[1], NULL, 0);
	queue_open(d, depth);
	/* nothing is read until the last fault is queued or lost */
	fire(d, "overflow", n, OVERFLOW_IOVA, SMALL_LEN);
	settle(d, "full");
	got = collect(d, "overflow", n * faults_per_dma(SMALL_LEN), 0);
	/* drained: the queue takes faults again, numbered on */
	fire(d, "again", 2, AGAIN_IOVA, SMALL_LEN);
	collect(d, "again", got + 2 * faults_per_dma(SMALL_LEN), got);
	close_all(d);
	return 0;
}

static int step_hup(struct dev *d, int argc, char **argv)
{
	struct iommu_dev_fault buf[BIG_RECS];

	(void)argv;
	if (argc != 0)
		return 2;
	queue_open(d, 16);
	do_poll(d, "bound", 0);
	fire(d, "unbound", 2, HUP_IOVA, SMALL_LEN);
	settle(d, "queued");
	/* unbind: the VMM lets the device go with records still queued */
	close_dev(d);
	do_poll(d, "unbound", WAIT_MS);
	collect(d, "unbound", 2 * faults_per_dma(SMALL_LEN), 0);
	do_read(d, "empty", buf, sizeof(buf));
	do_poll(d, "drained", 0);
	close_all(d);
	return 0;
}

static int step_close(struct dev *d, const char *bdf, int argc, char **argv)
{
	unsigned int n;

	if (argc != 1)
		return 2;
	n = strtoul(argv[0], NULL, 0);

	/* queue, device, iommufd, with the largest queue there may be */
	d->qfd = queue_new(d, "max_depth", IOMMU_DEV_FAULT_QUEUE_MAX_DEPTH);
	if (d->qfd < 0)
		error("IOMMU_DEV_FAULT_QUEUE_ALLOC");
	fire(d, "unread_q_dev_ctx", n, CLOSE_IOVA, SMALL_LEN);
	settle(d, "pending_q_dev_ctx");
	close_all(d);

	/* iommufd, device, queue */
	dev_open(d, bdf);
	queue_open(d, 16);
	fire(d, "unread_ctx_dev_q", n, CLOSE_IOVA + 0x100000, SMALL_LEN);
	settle(d, "pending_ctx_dev_q");
	close_fd(&d->iommufd);
	close_dev(d);
	close_fd(&d->qfd);
	munmap(d->rw, 2 * PAGE);
	munmap(d->ro, PAGE);

	/*
	 * A queue closed (with nothing in it) goes away: a new one may be
	 * created, and starts from sequence 0
	 */
	dev_open(d, bdf);
	queue_open(d, 4);
	close_fd(&d->qfd);
	d->qfd = queue_new(d, "again", 4);
	if (d->qfd < 0)
		error("IOMMU_DEV_FAULT_QUEUE_ALLOC");
	fire(d, "reopened", 1, CLOSE_IOVA + 0x200000, SMALL_LEN);
	collect(d, "reopened", faults_per_dma(SMALL_LEN), 0);

	/* and faults left unread when the process exits */
	fire(d, "unread_exit", n, CLOSE_IOVA + 0x300000, SMALL_LEN);
	settle(d, "pending_exit");
	return 0;
}

/* the first number in a sysfs file, -1 if it cannot be read */
static long sysfs_number(const char *dir, const char *file)
{
	char path[512], buf[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return strtol(buf, NULL, 0);
}

/* one faulting DMA write of another device, through edu_fault's sysfs */
static void other_dma(const char *dir)
{
	char path[512], cmd[64];
	int fd, len;

	snprintf(path, sizeof(path), "%s/dma", dir);
	len = snprintf(cmd, sizeof(cmd), "write %#llx 4", OTHER_IOVA);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		error("open-other-dma");
	if (write(fd, cmd, len) != len)
		error("other-dma");
	close(fd);
}

/* the i-th faulting DMA write of a flood or storm, LEN bytes */
static void flood_dma(struct dev *d, unsigned int i, uint32_t len)
{
	if (edu_dma(d, 1, FLOOD_IOVA + (i % FLOOD_PAGES) * PAGE, len)) {
		errno = ETIMEDOUT;
		error("edu-dma");
	}
}

static int step_flood(struct dev *d, int argc, char **argv)
{
	const char *other = argc > 3 ? argv[3] : NULL;
	uint64_t t0, now, ms, other_at = 0, seen_at = 0;
	uint32_t depth, len;
	unsigned int n = 0;

	if (argc != 3 && argc != 4)
		return 2;
	depth = strtoul(argv[0], NULL, 0);
	ms = strtoull(argv[1], NULL, 0);
	len = strtoul(argv[2], NULL, 0);
	queue_open(d, depth);

	/* as fast as the device goes; nothing is read until the end */
	t0 = now_ms();
	for (now = t0; now - t0 < ms; now = now_ms()) {
		flood_dma(d, n, len);
		n++;
		if (other && !other_at && now - t0 >= ms / 3) {
			other_dma(other);
			other_at = now_ms();
		} else if (other_at && !seen_at &&
			   sysfs_number(other, "faults") > 0) {
			seen_at = now_ms();
		}
	}
	printf("BED: vfio_fired %s flood %u %u\n", step, n, len);
	printf("BED: vfio_flood %s %u %llu\n", step, n,
	       (unsigned long long)(now - t0));
	if (other)
		printf("BED: vfio_other %s %lld %lld %llu\n", step,
		       other_at ? (long long)(other_at - t0) : -1LL,
		       seen_at ? (long long)(seen_at - t0) : -1LL,
		       (unsigned long long)(now - t0));

	/* then everything: the records, and what was lost */
	settle(d, "full");
	collect(d, "flood", n * faults_per_dma(len), 0);
	close_all(d);
	return 0;
}

static int step_storm(struct dev *d, int argc, char **argv)
{
	unsigned int i, n;
	uint32_t len;
	uint64_t t0;

	if (argc != 3)
		return 2;
	/* the queue first: its allocation is not part of the storm */
	queue_open(d, strtoul(argv[0], NULL, 0));
	n = strtoul(argv[1], NULL, 0);
	len = strtoul(argv[2], NULL, 0);
	t0 = now_ms();
	for (i = 0; i < n; i++)
		flood_dma(d, i, len);
	printf("BED: vfio_storm_ms %llu\n",
	       (unsigned long long)(now_ms() - t0));
	printf("BED: vfio_fired %s storm %u %u\n", step, n, len);
	settle(d, "storm");
	collect(d, "storm", n * faults_per_dma(len), 0);
	close_all(d);
	return 0;
}

/*
 * Faults flowing: a thread makes the device DMA-write never-mapped IOVAs,
 * one page further each time, until told to stop or until the device fd
 * is gone.  It programs edu through the fd's BAR0 region with pread() and
 * pwrite(), not through the mapping, so that closing the fd unbinds the
 * device (a mapping would hold the file).
 */
struct flow {
	int fd;
	uint64_t off;
	uint64_t base;
	uint32_t len;
	pthread_t thread;
	int stop;
	unsigned int started;
	unsigned int done;
	int err;
};

static int io_w64(struct flow *f, unsigned int reg, uint64_t v)
{
	return pwrite(f->fd, &v, 8, f->off + reg) == 8 ? 0 : -1;
}

static int io_r64(struct flow *f, unsigned int reg, uint64_t *v)
{
	return pread(f->fd, v, 8, f->off + reg) == 8 ? 0 : -1;
}

static void *flow_main(void *arg)
{
	struct flow *f = arg;

	while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE)) {
		uint64_t iova = f->base + (f->started % FLOW_PAGES) * PAGE;
		uint64_t cmd, t0;

		if (io_w64(f, EDU_REG_DMA_SRC, EDU_BUF) ||
		    io_w64(f, EDU_REG_DMA_DST, iova) ||
		    io_w64(f, EDU_REG_DMA_COUNT, f->len) ||
		    io_w64(f, EDU_REG_DMA_CMD, EDU_DMA_START | EDU_DMA_TO_RAM))
			goto out;
		__atomic_store_n(&f->started, f->started + 1,
				 __ATOMIC_RELEASE);
		t0 = now_ms();
		do {
			if (now_ms() - t0 > EDU_DMA_TIMEOUT_MS) {
				errno = ETIMEDOUT;
				goto out;
			}
			sleep_ms(1);
			if (io_r64(f, EDU_REG_DMA_CMD, &cmd))
				goto out;
		} while (cmd & EDU_DMA_START);
		__atomic_store_n(&f->done, f->done + 1, __ATOMIC_RELEASE);
	}
	return NULL;
out:
	f->err = errno;
	return NULL;
}

static void flow_start(struct flow *f, struct dev *d, uint64_t base,
		       uint32_t len)
{
	struct vfio_region_info bar;

	memset(f, 0, sizeof(*f));
	if (region_info(d, VFIO_PCI_BAR0_REGION_INDEX, &bar))
		error("GET_REGION_INFO-BAR0");
	f->fd = d->devfd;
	f->off = bar.offset;
	f->base = base;
	f->len = len;
	errno = pthread_create(&f->thread, NULL, flow_main, f);
	if (errno)
		error("pthread_create");
}

static void mark(struct flow *f, const char *what)
{
	printf("BED: vfio_mark %s %s %u %u\n", step, what,
	       __atomic_load_n(&f->started, __ATOMIC_ACQUIRE),
	       __atomic_load_n(&f->done, __ATOMIC_ACQUIRE));
}

/* stop the flow (if not stopped already) and wait for its thread */
static void flow_join(struct flow *f)
{
	__atomic_store_n(&f->stop, 1, __ATOMIC_RELEASE);
	pthread_join(f->thread, NULL);
	mark(f, "stopped");
	printf("BED: vfio_flow %s %#llx %u %u %u %d\n", step,
	       (unsigned long long)f->base, f->len, f->started, f->done,
	       f->err);
	/* every DMA seen done made its faults */
	printf("BED: vfio_fired %s flow %u %u\n", step, f->done, f->len);
}

/* one read() of whatever is queued; returns the faults it accounts for */
static unsigned int read_some(struct dev *d, const char *batch, ssize_t *ret)
{
	struct iommu_dev_fault buf[BIG_RECS];
	unsigned int got = 0;
	ssize_t n, i;

	n = read(d->qfd, buf, sizeof(buf));
	if (ret)
		*ret = n;
	if (n < 0)
		error("read");
	if (n % REC) {
		errno = EPROTO;
		error("read-partial-record");
	}
	for (i = 0; i < n / REC; i++) {
		print_rec(batch, &buf[i]);
		got += accounts(&buf[i]);
	}
	return got;
}

/* read the queue as records come, for ms ms */
static void read_for(struct dev *d, const char *batch, unsigned int ms)
{
	uint64_t end = now_ms() + ms;

	while (now_ms() < end)
		if (do_poll(d, NULL, 50) & POLLIN)
			read_some(d, batch, NULL);
}

/* the flow stopped: read until nothing more comes for QUIET_MS */
static void drain(struct dev *d, const char *batch)
{
	uint64_t end;

	sleep_ms(SETTLE_MS);
	for (end = now_ms() + QUIET_MS; now_ms() < end;) {
		if (do_poll(d, NULL, QUIET_MS) & POLLIN) {
			read_some(d, batch, NULL);
			end = now_ms() + QUIET_MS;
		}
	}
}

/*
 * The flowing steps' start: their arguments (DEPTH MS LEN), a queue of
 * DEPTH records named @queue, and the thread that makes the device fault
 * from @iova on.  Returns -1 for bad arguments.
 */
static int flowing_start(struct dev *d, int argc, char **argv,
			 const char *queue, uint64_t iova, struct flow *f,
			 unsigned int *ms)
{
	uint32_t depth, len;

	if (argc != 3)
		return -1;
	depth = strtoul(argv[0], NULL, 0);
	*ms = strtoul(argv[1], NULL, 0);
	len = strtoul(argv[2], NULL, 0);
	d->qfd = queue_new(d, queue, depth);
	if (d->qfd < 0)
		error("IOMMU_DEV_FAULT_QUEUE_ALLOC");
	flow_start(f, d, iova, len);
	return 0;
}

static int step_close_flowing(struct dev *d, int argc, char **argv)
{
	unsigned int ms;
	uint32_t depth;
	struct flow f;

	if (flowing_start(d, argc, argv, "first", CLOSE_FLOW_IOVA, &f, &ms))
		return 2;
	depth = strtoul(argv[0], NULL, 0);
	read_for(d, "first", ms);
	/* the last read of the first queue, then its close, mid-flow */
	mark(&f, "last_read");
	read_some(d, "first", NULL);
	mark(&f, "close_call");
	close_fd(&d->qfd);
	mark(&f, "close_ret");
	/* no queue: the IOMMU driver logs the faults, nobody reads them */
	sleep_ms(ms);
	mark(&f, "alloc_call");
	d->qfd = queue_new(d, "second", depth);
	if (d->qfd < 0)
		error("IOMMU_DEV_FAULT_QUEUE_ALLOC");
	mark(&f, "alloc_ret");
	read_for(d, "second", ms);
	flow_join(&f);
	drain(d, "second");
	close_all(d);
	return 0;
}

static void detach_attach(struct dev *d, struct flow *f, int attach)
{
	struct vfio_device_attach_iommufd_pt at = {
		.argsz = sizeof(at),
		.pt_id = d->ioas,
	};
	struct vfio_device_detach_iommufd_pt de = { .argsz = sizeof(de) };
	const char *what = attach ? "attach" : "detach";
	char name[32];
	int ret;

	snprintf(name, sizeof(name), "%s_call", what);
	mark(f, name);
	ret = attach ? ioctl(d->devfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at) :
		       ioctl(d->devfd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &de);
	printf("BED: vfio_ioctl %s %s %d %d\n", step, what, ret,
	       ret ? errno : 0);
	snprintf(name, sizeof(name), "%s_ret", what);
	mark(f, name);
}

static int step_detach_flowing(struct dev *d, int argc, char **argv)
{
	unsigned int ms;
	struct flow f;

	if (flowing_start(d, argc, argv, "ok", DETACH_FLOW_IOVA, &f, &ms))
		return 2;
	read_for(d, "attached", ms);
	detach_attach(d, &f, 0);
	read_for(d, "detached", ms);
	detach_attach(d, &f, 1);
	read_for(d, "reattached", ms);
	flow_join(&f);
	drain(d, "reattached");
	close_all(d);
	return 0;
}

static int step_unbind_flowing(struct dev *d, int argc, char **argv)
{
	unsigned int ms;
	struct flow f;
	ssize_t ret;

	/* the BAR mapping would keep the device fd's file open */
	munmap((void *)d->bar, d->bar_size);
	d->bar = NULL;
	if (flowing_start(d, argc, argv, "ok", UNBIND_FLOW_IOVA, &f, &ms))
		return 2;
	read_for(d, "bound", ms);
	/* records queue up unread, then the device goes, faults flowing */
	mark(&f, "last_read");
	sleep_ms(ms / 2);
	do_poll(d, "before_unbind", 0);
	mark(&f, "unbind_call");
	close_fd(&d->devfd);
	/* the flow's next access fails: the file's release has run then */
	pthread_join(f.thread, NULL);
	f.stop = 1;
	mark(&f, "unbound");
	printf("BED: vfio_flow %s %#llx %u %u %u %d\n", step,
	       (unsigned long long)f.base, f.len, f.started, f.done, f.err);
	printf("BED: vfio_fired %s flow %u %u\n", step, f.done, f.len);
	do_poll(d, "unbound", WAIT_MS);
	do {
		read_some(d, "unbound", &ret);
		printf("BED: vfio_read %s unbound %zu %zd %d\n", step,
		       sizeof(struct iommu_dev_fault) * BIG_RECS, ret, 0);
	} while (ret > 0);
	do_poll(d, "drained", 0);
	close_all(d);
	return 0;
}

int main(int argc, char **argv)
{
	const char *bdf;
	struct dev d;
	int opt, ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "u:")) != -1) {
		if (opt != 'u')
			goto usage;
		fault_unit = strtoul(optarg, NULL, 0);
	}
	if (argc - optind < 2)
		goto usage;
	bdf = argv[optind];
	step = argv[optind + 1];
	argc -= optind + 2;
	argv += optind + 2;

	dev_open(&d, bdf);
	if (!strcmp(step, "main"))
		ret = step_main(&d, argc, argv);
	else if (!strcmp(step, "overflow"))
		ret = step_overflow(&d, argc, argv);
	else if (!strcmp(step, "hup"))
		ret = step_hup(&d, argc, argv);
	else if (!strcmp(step, "close"))
		ret = step_close(&d, bdf, argc, argv);
	else if (!strcmp(step, "flood"))
		ret = step_flood(&d, argc, argv);
	else if (!strcmp(step, "storm"))
		ret = step_storm(&d, argc, argv);
	else if (!strcmp(step, "close-flowing"))
		ret = step_close_flowing(&d, argc, argv);
	else if (!strcmp(step, "detach-flowing"))
		ret = step_detach_flowing(&d, argc, argv);
	else if (!strcmp(step, "unbind-flowing"))
		ret = step_unbind_flowing(&d, argc, argv);
	else
		ret = 2;
	if (ret != 2)
		return ret;
usage:
	fprintf(stderr, "usage: vfio_fault [-u FAULT_UNIT] BDF "
		"main DEPTH | overflow DEPTH N | hup | close N | "
		"flood DEPTH MS LEN [OTHER] | storm DEPTH N LEN | "
		"close-flowing DEPTH MS LEN | "
		"detach-flowing DEPTH MS LEN | unbind-flowing DEPTH MS LEN\n");
	return 2;
}
#endif /* IOMMU_DEV_FAULT_QUEUE_ALLOC */
