# Two commands on a fresh Debian machine with Python 3.11:
#   make run    installs everything, then runs the whole DAG on config.yaml (embedded default)
#   make test   installs everything the tests need, lints, and runs the CI test suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(BIN):$(PATH)
CORES ?= 2
# Debian packages the pipeline needs (museval needs ffmpeg at import; audio stems are rendered
# with fluidsynth and a General MIDI soundfont) and those only the tests need (a real SLURM).
DEB_PACKAGES := ffmpeg fluidsynth fluid-soundfont-gm
DEB_TEST_PACKAGES := slurmctld slurmd slurm-client munge

.PHONY: run test test-all lint format lock benchmark report dvc-yaml deb deb-test clean

$(STAMP): requirements.lock requirements-nodeps.txt pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.lock
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

deb:
	scripts/install-debian-packages.sh $(DEB_PACKAGES)

deb-test: deb
	scripts/install-debian-packages.sh $(DEB_TEST_PACKAGES)

# every family's data, models, results, tables and figures; then this run's tables against the
# committed ones (a run on another CPU moves a few cells: it says which, and by how much)
run: $(STAMP) deb
	snakemake --cores $(CORES)
	harness results check --run results --rev HEAD || echo "make run: finished; its tables differ from the committed ones beyond tolerance, or could not be compared (see above)"

test: $(STAMP) deb-test lint
	python -m pytest -m "not slow" --durations=25

test-all: $(STAMP) deb-test lint
	python -m pytest

lint: $(STAMP)
	ruff check src tests benchmarks
	ruff format --check src tests benchmarks
	snakefmt --check Snakefile workflow
	snakemake --lint
	harness workflow dvc-yaml --check

format: $(STAMP)
	ruff check --fix src tests benchmarks
	ruff format src tests benchmarks
	snakefmt Snakefile workflow

dvc-yaml: $(STAMP)
	harness workflow dvc-yaml --out dvc.yaml

report: $(STAMP)
	snakemake --report report.html

benchmark: $(STAMP)
	python benchmarks/bench_odeen_tags.py
	python benchmarks/bench_odeen_nrs.py
	python benchmarks/bench_odeen_tables.py
	python benchmarks/bench_sdr.py
	python benchmarks/bench_lass_counts.py
	python benchmarks/bench_lass_sampler.py
	python benchmarks/bench_msdm.py
	python benchmarks/bench_cocola.py

# Re-resolve the pinned set from requirements.in in a fresh environment.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install -q -r requirements.in
	{ printf '# Full resolved dependency set (Python 3.11, linux x86_64): `make lock` regenerates it\n# from requirements.in. Every machine installs exactly this.\n'; \
	  .lock-venv/bin/pip freeze --exclude-editable; } > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf .snakemake logs report.html
