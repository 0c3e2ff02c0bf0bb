// SPDX-License-Identifier: GPL-2.0
/*
 * iopf_bench - time page-request round trips through iommufd's fault queue
 *
 * Sets up iommufd's mock device (CONFIG_IOMMUFD_TEST) attached to a HWPT
 * that has a fault queue, then repeats: IOMMU_TEST_OP_TRIGGER_IOPF (the
 * mock driver reports a last page request), read() the request from the
 * queue, write() a SUCCESS response (which reaches the mock driver's
 * page_response).  Every request read is checked against what was
 * triggered, so a run that goes wrong fails instead of timing nonsense.
 *
 * usage: iopf_bench ROUNDS RUNS
 * prints one line per run: "run <i> rounds <n> ns <guest ns>", then one
 * line with the time of each phase over a last run of ROUNDS round trips,
 * each phase timed on its own: "phases trigger <ns> read <ns> write <ns>"
 * (the clock reads make that run slower than the others; compare phases
 * between kernels, not with the runs).  Exits non-zero on any error.
 *
 * usage: iopf_bench ROUNDS RUNS DEPTH...
 * times the response alone (P2) with DEPTH groups pending: DEPTH - 1 groups
 * are read and held unanswered, then each round triggers one more, reads
 * it and times the write() of its response.  Prints, per depth and run,
 * "depth <d> run <i> rounds <n> ns <guest ns in write()>", after one
 * uncounted warm-up run per depth.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include "iommufd_test.h"

#define BENCH_PASID	1
#define BENCH_ADDR	0x12345000ULL

static int fd;

static void die(const char *what)
{
	fprintf(stderr, "iopf_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void test_cmd(struct iommu_test_cmd *cmd, const char *what)
{
	cmd->size = sizeof(*cmd);
	if (ioctl(fd, IOMMU_TEST_CMD, cmd))
		die(what);
}

static uint32_t hwpt_alloc(uint32_t dev_id, uint32_t pt_id, uint32_t flags,
			   uint32_t fault_id, uint32_t data_type, void *data,
			   uint32_t data_len)
{
	struct iommu_hwpt_alloc cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.dev_id = dev_id,
		.pt_id = pt_id,
		.data_type = data_type,
		.data_len = data_len,
		.data_uptr = (uintptr_t)data,
		.fault_id = fault_id,
	};

	if (ioctl(fd, IOMMU_HWPT_ALLOC, &cmd))
		die("IOMMU_HWPT_ALLOC");
	return cmd.out_hwpt_id;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* time spent in each phase, when timing phases */
static int timing;
static uint64_t t_trigger, t_read, t_write;

static void trigger(uint32_t idev_id, uint32_t grpid)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_TRIGGER_IOPF,
		.trigger_iopf = {
			.dev_id = idev_id,
			.pasid = BENCH_PASID,
			.grpid = grpid,
			.perm = IOMMU_PGFAULT_PERM_READ,
			.addr = BENCH_ADDR,
		},
	};

	test_cmd(&cmd, "TRIGGER_IOPF");
}

/* Read the request trigger() sent for @grpid; returns its cookie */
static uint32_t read_request(uint32_t idev_id, int fault_fd, uint32_t grpid)
{
	struct iommu_hwpt_pgfault pf;

	if (read(fault_fd, &pf, sizeof(pf)) != sizeof(pf))
		die("read of the fault queue");
	if (pf.dev_id != idev_id || pf.pasid != BENCH_PASID ||
	    pf.grpid != grpid || pf.addr != BENCH_ADDR ||
	    !(pf.flags & IOMMU_PGFAULT_FLAGS_LAST_PAGE) ||
	    !(pf.flags & IOMMU_PGFAULT_FLAGS_PASID_VALID)) {
		fprintf(stderr, "iopf_bench: group %u: unexpected request "
			"dev %u pasid %u grpid %u addr %#llx flags %#x\n",
			grpid, pf.dev_id, pf.pasid, pf.grpid,
			(unsigned long long)pf.addr, pf.flags);
		exit(1);
	}
	return pf.cookie;
}

static void respond(int fault_fd, uint32_t cookie)
{
	struct iommu_hwpt_page_response resp = {
		.cookie = cookie,
		.code = IOMMUFD_PAGE_RESP_SUCCESS,
	};

	if (write(fault_fd, &resp, sizeof(resp)) != sizeof(resp))
		die("write of the response");
}

static void round_trip(uint32_t idev_id, int fault_fd, uint32_t i)
{
	uint32_t grpid = i & 0x1ff;	/* the 9-bit PRG index */
	uint64_t t0 = 0, t1 = 0, t2 = 0;
	uint32_t cookie;

	if (timing)
		t0 = now_ns();
	trigger(idev_id, grpid);
	if (timing)
		t1 = now_ns();
	cookie = read_request(idev_id, fault_fd, grpid);
	if (timing)
		t2 = now_ns();
	respond(fault_fd, cookie);
	if (timing) {
		t_trigger += t1 - t0;
		t_read += t2 - t1;
		t_write += now_ns() - t2;
	}
}

/* P2: the cost of a response with @depth groups pending, group 0 answered */
static void depth_runs(uint32_t idev_id, int fault_fd, unsigned long depth,
		       unsigned long rounds, unsigned long runs)
{
	static uint32_t held[512];
	unsigned long run, i;
	uint64_t t0, ns;
	uint32_t cookie;

	if (depth < 1 || depth > 512) {
		fprintf(stderr, "iopf_bench: depth %lu: 1 to 512\n", depth);
		exit(2);
	}
	for (i = 1; i < depth; i++) {
		trigger(idev_id, i);
		held[i] = read_request(idev_id, fault_fd, i);
	}
	for (run = 0; run <= runs; run++) {
		ns = 0;
		for (i = 0; i < rounds; i++) {
			trigger(idev_id, 0);
			cookie = read_request(idev_id, fault_fd, 0);
			t0 = now_ns();
			respond(fault_fd, cookie);
			ns += now_ns() - t0;
		}
		/* run 0 warms up */
		if (run)
			printf("depth %lu run %lu rounds %lu ns %llu\n", depth,
			       run - 1, rounds, (unsigned long long)ns);
		fflush(stdout);
	}
	for (i = 1; i < depth; i++)
		respond(fault_fd, held[i]);
}

int main(int argc, char **argv)
{
	struct iommu_hwpt_selftest data = { .iotlb = IOMMU_TEST_IOTLB_DEFAULT };
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	struct iommu_fault_alloc fault = { .size = sizeof(fault) };
	struct iommu_test_cmd cmd = { 0 };
	uint32_t stdev_id, idev_id, parent, iopf_hwpt, i;
	unsigned long rounds, runs, run;
	uint64_t t0, t1;

	if (argc < 3)
		return fprintf(stderr,
			       "usage: iopf_bench ROUNDS RUNS [DEPTH...]\n"), 2;
	rounds = strtoul(argv[1], NULL, 0);
	runs = strtoul(argv[2], NULL, 0);

	fd = open("/dev/iommu", O_RDWR);
	if (fd < 0)
		die("/dev/iommu");
	if (ioctl(fd, IOMMU_IOAS_ALLOC, &ioas))
		die("IOMMU_IOAS_ALLOC");

	cmd.op = IOMMU_TEST_OP_MOCK_DOMAIN;
	cmd.id = ioas.out_ioas_id;
	test_cmd(&cmd, "MOCK_DOMAIN (CONFIG_IOMMUFD_TEST?)");
	stdev_id = cmd.mock_domain.out_stdev_id;
	idev_id = cmd.mock_domain.out_idev_id;

	/* a nested HWPT with a fault queue, as iommufd's own selftest does */
	parent = hwpt_alloc(idev_id, ioas.out_ioas_id,
			    IOMMU_HWPT_ALLOC_NEST_PARENT, 0,
			    IOMMU_HWPT_DATA_NONE, NULL, 0);
	if (ioctl(fd, IOMMU_FAULT_QUEUE_ALLOC, &fault))
		die("IOMMU_FAULT_QUEUE_ALLOC");
	iopf_hwpt = hwpt_alloc(idev_id, parent, IOMMU_HWPT_FAULT_ID_VALID,
			       fault.out_fault_id, IOMMU_HWPT_DATA_SELFTEST,
			       &data, sizeof(data));
	memset(&cmd, 0, sizeof(cmd));
	cmd.op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE;
	cmd.id = stdev_id;
	cmd.mock_domain_replace.pt_id = iopf_hwpt;
	test_cmd(&cmd, "MOCK_DOMAIN_REPLACE");

	if (argc > 3) {
		int a;

		for (a = 3; a < argc; a++)
			depth_runs(idev_id, fault.out_fault_fd,
				   strtoul(argv[a], NULL, 0), rounds, runs);
		return 0;
	}

	/* warm up caches and allocators: one run, not counted */
	for (i = 0; i < rounds; i++)
		round_trip(idev_id, fault.out_fault_fd, i);

	for (run = 0; run < runs; run++) {
		t0 = now_ns();
		for (i = 0; i < rounds; i++)
			round_trip(idev_id, fault.out_fault_fd, i);
		t1 = now_ns();
		printf("run %lu rounds %lu ns %llu\n", run, rounds,
		       (unsigned long long)(t1 - t0));
		fflush(stdout);
	}

	timing = 1;
	for (i = 0; i < rounds; i++)
		round_trip(idev_id, fault.out_fault_fd, i);
	printf("phases trigger %llu read %llu write %llu\n",
	       (unsigned long long)t_trigger, (unsigned long long)t_read,
	       (unsigned long long)t_write);
	return 0;
}
