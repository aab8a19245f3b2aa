# mpicomm. Two commands set up everything on a fresh machine:
#   make test   the whole suite, with MPICH and with Open MPI, and the documentation
#   make demo   the pack benchmark with and without the interposer, side by side
# and `make docs` builds the documentation alone (docs/_build/html).
PYTHON ?= python3
MPIS ?= mpich openmpi
RANKS ?= 1 2
DEVICE_RANKS ?= 1 2 3
CACHE := $(CURDIR)/.cache
# What setup installs: PREREQS=all (make test: the Fortran and Slurm tests' Debian packages
# too) or required (make demo: a compiler, venv and the Python headers only); EXTRAS, the
# pip extras beside the MPI wheel (cuda: NVIDIA's compiler wheels for the device kernels;
# torch: PyTorch's CPU build, scripts/install_torch.sh).
PREREQS ?= all
EXTRAS ?= test,cuda,torch
comma := ,

export MPICOMM_CACHE_DIR := $(CACHE)/build
# Open MPI refuses root and more ranks than cores unless told; mpicomm run sets these
# itself, the singleton (launcher-less) tests need them from here.
export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1
export PRTE_MCA_rmaps_default_mapping_policy := :oversubscribe

other = $(if $(filter mpich,$(1)),openmpi,mpich)
venv = $(CURDIR)/.venv-$(1)

.PHONY: test demo bench docs setup prereqs clean $(MPIS:%=setup-%) $(MPIS:%=test-%) $(MPIS:%=bench-%)

prereqs:
	@PYTHON=$(PYTHON) PREREQS=$(PREREQS) sh scripts/prereqs.sh

setup: prereqs $(MPIS:%=setup-%)

# One virtual environment per MPI: the wheel MPI, mpi4py on it, mpicomm, NVIDIA's nvcc
# wheels (the CUDA kernels are compiled in the tests; no GPU needed), and the interposer
# compiled with that MPI's mpicc.
$(MPIS:%=setup-%): setup-%: prereqs
	@test -x $(call venv,$*)/bin/python || $(PYTHON) -m venv $(call venv,$*)
	$(call venv,$*)/bin/python -m pip install -q --upgrade pip
	rm -rf build    # setuptools' in-tree build folder would ship files moved since
	$(if $(filter torch,$(subst $(comma), ,$(EXTRAS))),sh scripts/install_torch.sh $(call venv,$*)/bin/python)
	$(call venv,$*)/bin/python -m pip install -q ".[$*,$(EXTRAS)]"
	$(call venv,$*)/bin/mpicomm build
	$(call venv,$*)/bin/python tests/support/fetch_mpi4py_suite.py $(CACHE) >/dev/null

test: setup $(MPIS:%=test-%) docs

# The documentation, warnings as errors, then its doctest blocks (one rank, MPICH), of
# the installed package (sphinx-build, unlike python -m, does not put the source tree,
# which has no compiled core, first on the path).
DOCS_BIN = $(call venv,$(firstword $(MPIS)))/bin
docs: setup-$(firstword $(MPIS))
	$(DOCS_BIN)/python -m pip install -q ".[docs]"
	$(DOCS_BIN)/sphinx-build -b html -W --keep-going -q docs docs/_build/html
	$(DOCS_BIN)/sphinx-build -b doctest -W -q docs docs/_build/doctest

# Tests that launch their own jobs, then the suite under mpiexec at each rank count, then
# the device tests on the simulated device (MPICOMM_DEVICE=sim; on a GPU machine,
# scripts/gpu_run.sh runs them on the GPU).
$(MPIS:%=test-%): test-%: setup-%
	PATH=$(call venv,$*)/bin:$$PATH MPICOMM_TEST_OTHER_MPICC=$(call venv,$(call other,$*))/bin/mpicc \
	    $(call venv,$*)/bin/pytest -q --color=no tests --ignore=tests/mpi --ignore=tests/device
	for n in $(RANKS); do \
	    PATH=$(call venv,$*)/bin:$$PATH $(call venv,$*)/bin/mpicomm run -n $$n -- \
	        $(call venv,$*)/bin/pytest -q --color=no --with-mpi tests/mpi || exit 1; \
	done
	for n in $(DEVICE_RANKS); do \
	    PATH=$(call venv,$*)/bin:$$PATH MPICOMM_DEVICE=sim MPICOMM_SIM_DEVICES=2 \
	        $(call venv,$*)/bin/mpicomm run -n $$n -- \
	        $(call venv,$*)/bin/pytest -q --color=no --with-mpi tests/device || exit 1; \
	done

demo:
	@$(MAKE) --no-print-directory setup PREREQS=required EXTRAS=test
	@for m in $(MPIS); do \
	    echo; echo "== $$m: MPI_Pack, system MPI vs mpicomm interposer (one run, side by side) =="; \
	    $(call venv,$$m)/bin/mpicomm run -n 1 -- $(call venv,$$m)/bin/python \
	        benchmarks/pack_bench.py --reps 5 || exit 1; \
	done
	@echo; echo "Next, in this shell (docs/tutorial.md walks through them):"; \
	echo "  . .venv-$(firstword $(MPIS))/bin/activate      # mpicomm, mpi4py and the MPI's mpicc"; \
	echo "  mpicc -O2 -o halo3d examples/halo3d.c"; \
	echo "  MPICOMM_STATS=1 mpicomm run -n 2 -- ./halo3d --n 128"; \
	echo "  mpicomm info                          # the MPI, the build, the model auto follows"; \
	echo "  make docs                             # these and more in docs/_build/html"

bench: setup $(MPIS:%=bench-%)
	$(call venv,$(firstword $(MPIS)))/bin/python benchmarks/coding_bench.py --json benchmarks/results/coding.json
	$(call venv,$(firstword $(MPIS)))/bin/python benchmarks/kind_cost.py --runs 7 \
	    --json benchmarks/results/kind-cost.json
	$(call venv,$(firstword $(MPIS)))/bin/python docs/tables.py --readme README.md
	$(call venv,$(firstword $(MPIS)))/bin/python -m pip install -q ".[plot]"
	PATH=$(call venv,$(firstword $(MPIS)))/bin:$$PATH $(call venv,$(firstword $(MPIS)))/bin/python \
	    benchmarks/coded_run_bench.py --json benchmarks/results/coded-run.json \
	    --png benchmarks/results/coded-run.png
	PATH=$(call venv,$(firstword $(MPIS)))/bin:$$PATH $(call venv,$(firstword $(MPIS)))/bin/python \
	    benchmarks/digits_bench.py --json benchmarks/results/digits.json \
	    --png benchmarks/results/digits.png

$(MPIS:%=bench-%): bench-%: setup-%
	mkdir -p benchmarks/results
	$(call venv,$*)/bin/mpicomm run -n 1 -- $(call venv,$*)/bin/python benchmarks/pack_bench.py \
	    --reps 15 --json benchmarks/results/pack-$*.json
	$(call venv,$*)/bin/mpicomm measure -o $(CACHE)/model-$*.h5
	$(call venv,$*)/bin/python benchmarks/model_map.py $(CACHE)/model-$*.h5 \
	    --json benchmarks/results/model-$*.json
	MPICOMM_MODEL=$(CACHE)/model-$*.h5 $(call venv,$*)/bin/mpicomm run -n 2 -- \
	    $(call venv,$*)/bin/python benchmarks/ddt_bench.py --reps 25 \
	    --json benchmarks/results/ddt-$*.json
	MPICOMM_MODEL=builtin $(call venv,$*)/bin/mpicomm run -n 2 -- \
	    $(call venv,$*)/bin/python benchmarks/ddt_bench.py --reps 25 \
	    --json benchmarks/results/ddt-$*-builtin.json
	MPICOMM_MODEL=$(CACHE)/model-$*.h5 $(call venv,$*)/bin/mpicomm run -n 2 -- \
	    $(call venv,$*)/bin/python benchmarks/p2p_bench.py --reps 5 --json benchmarks/results/p2p-$*.json
	for n in 2 4; do MPICOMM_MODEL=$(CACHE)/model-$*.h5 $(call venv,$*)/bin/mpicomm run -n $$n -- \
	    $(call venv,$*)/bin/python benchmarks/alltoall_bench.py \
	    --json benchmarks/results/alltoall-$*-$$n.json || exit 1; done
	$(call venv,$*)/bin/python benchmarks/overhead.py --rounds 7 --iters 200000 \
	    --json benchmarks/results/overhead-$*.json
	$(call venv,$*)/bin/python benchmarks/fortran_bench.py --rounds 9 \
	    --json benchmarks/results/fortran-$*.json
	MPICOMM_MODEL=builtin PATH=$(call venv,$*)/bin:$$PATH $(call venv,$*)/bin/python \
	    benchmarks/c_bench.py --rounds 7 --json benchmarks/results/c-$*.json
	$(call venv,$*)/bin/mpicomm run -n 4 --no-interposer -- $(call venv,$*)/bin/python \
	    benchmarks/allreduce_bench.py --reps 7 --json benchmarks/results/allreduce-$*.json
	$(call venv,$*)/bin/mpicomm run -n 2 --no-interposer -- $(call venv,$*)/bin/python \
	    benchmarks/allreduce_bench.py --reps 7 --json benchmarks/results/allreduce-$*-2ranks.json
	$(call venv,$*)/bin/mpicomm run -n 8 --no-interposer -- $(call venv,$*)/bin/python \
	    benchmarks/partial_bench.py --reps 7 --json benchmarks/results/partial-$*.json
	PATH=$(call venv,$*)/bin:$$PATH $(call venv,$*)/bin/python benchmarks/codegen_bench.py \
	    --rounds 9 --json benchmarks/results/codegen-$*.json
	PATH=$(call venv,$*)/bin:$$PATH $(call venv,$*)/bin/python -m benchmarks.internode_bench \
	    --reps 31 --json-prefix benchmarks/results/internode-$*
	PATH=$(call venv,$*)/bin:$$PATH $(call venv,$*)/bin/python -m benchmarks.scaling_bench \
	    --reps 9 --json benchmarks/results/scaling-$*.json
	PATH=$(call venv,$*)/bin:$$PATH $(call venv,$*)/bin/python -m benchmarks.slurm_bench \
	    --rounds 9 --json benchmarks/results/slurm-$*.json
	MPICOMM_MODEL=$(CACHE)/model-$*.h5 $(call venv,$*)/bin/mpicomm run -n 2 -- \
	    $(call venv,$*)/bin/python benchmarks/app_types_bench.py --reps 9 \
	    --json benchmarks/results/app-types-$*.json
	PATH=$(call venv,$*)/bin:$$PATH $(call venv,$*)/bin/python benchmarks/commit_bench.py \
	    --reps 9 --json benchmarks/results/commit-$*.json
	PATH=$(call venv,$*)/bin:$$PATH $(call venv,$*)/bin/python benchmarks/startup_bench.py \
	    --reps 15 --json benchmarks/results/startup-$*.json
	if [ $* = openmpi ]; then PATH=$(call venv,$*)/bin:$$PATH $(call venv,$*)/bin/python \
	    benchmarks/ft_bench.py --jobs 60 --json benchmarks/results/ft-$*.json; fi
	for n in 2 4; do $(call venv,$*)/bin/mpicomm run -n $$n --no-interposer -- \
	    $(call venv,$*)/bin/python benchmarks/torch_bench.py \
	    --json benchmarks/results/torch-$*-$$n.json || exit 1; done

clean:
	rm -rf .venv-mpich .venv-openmpi $(CACHE) build *.egg-info docs/_build docs/_generated
