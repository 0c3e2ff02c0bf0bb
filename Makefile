# The test bed.  Two commands matter: 'make demo' and 'make check'.
# Everything is done by the Python package in bed/; see README.md.

ARCH ?= x86_64
MODE ?=
SCENARIO ?= faults
T ?=
FLAVOUR ?=
KUNIT ?=
# space-separated KEY=VALUE: bed.KEY=VALUE on the guest's command line
PARAM ?=
BED := python3 -m bed
# BASE=1, KUNIT=1: yes; unset, 0 or anything else: no
yes = $(filter 1 y yes,$(1))

# 'make ARCH=arm64' must not leak into the kernel's own make
unexport ARCH

ROUNDS ?=
RUNS ?=

.PHONY: demo check bench profile deps tree export kernel base-kernel vm shell list clean

demo:
	@$(BED) demo --arch $(ARCH) $(if $(MODE),--mode $(MODE)) $(if $(call yes,$(BASE)),--base)

check:
	@$(BED) check $(if $(T),-k $(T))

# the series against base, ratios from one run (see README: Performance)
bench:
	@$(BED) bench $(if $(ROUNDS),--rounds $(ROUNDS)) $(if $(RUNS),--runs $(RUNS))

profile:
	@$(BED) profile

list:
	@$(BED) check --list

deps:
	@$(BED) deps

tree:
	@$(BED) tree $(if $(FORCE),--force)

export:
	@$(BED) export

kernel:
	@$(BED) kernel --arch $(ARCH) $(if $(FLAVOUR),--flavour $(FLAVOUR))

base-kernel:
	@$(BED) kernel --arch $(ARCH) --base

vm:
	@$(BED) vm --arch $(ARCH) --scenario $(SCENARIO) $(if $(MODE),--mode $(MODE)) \
		$(if $(call yes,$(BASE)),--base) $(if $(call yes,$(KUNIT)),--kunit) \
		$(foreach p,$(PARAM),--param $(p))

shell:
	@$(BED) vm --arch $(ARCH) --scenario shell $(if $(MODE),--mode $(MODE)) \
		$(if $(call yes,$(BASE)),--base)

clean:
	rm -rf build/out build/logs
