# The pipeline: environment -> data -> results -> reports. Each target names the files it is made from,
# so `make` redoes only what is out of date. `make test` runs the test suite; `make regen` rebuilds the
# regression baselines on purpose. A trust runs its own extract with
#   make DATA=my_extract.csv REFERENCE=my_cmht.csv EXTRACT_DATE=2025-03-31 RESULTS=my_results
.DELETE_ON_ERROR:
.PHONY: all env data results test regen clean

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ENV_STAMP := $(VENV)/.installed
CODE := $(wildcard analysis/*.py)

# What to analyse: the synthetic data unless a trust names its own files.
DATA ?= data_synthetic/ips_extract.csv
REFERENCE ?= data_synthetic/reference_population.csv
EXTRACT_DATE ?= 2024-02-27
RESULTS ?= results
# The Making IPS Work site table for the synthetic run; a trust leaves SITES empty to compare its own sites.
SITES ?= $(if $(filter data_synthetic/ips_extract.csv,$(DATA)),data_synthetic/making_ips_work_sites.csv)

SYNTHETIC := data_synthetic/ips_extract.csv data_synthetic/reference_population.csv \
             data_synthetic/making_ips_work_sites.csv

all: results
	@echo "Results in $(RESULTS)/ (key_results.csv, one table per concern, figures/)."

# --- environment: exact versions from the lock file, then the package itself -------------------------
env: $(ENV_STAMP)
$(ENV_STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# --- data: the seeded synthetic extract, calibrated to the published figures ---------------------------
data: $(SYNTHETIC) data_synthetic/DATA_DICTIONARY.md
$(SYNTHETIC) &: data_synthetic/calibration.csv analysis/synthetic.py analysis/calibration.py \
                analysis/contract.py | $(ENV_STAMP)
	$(BIN)/ips-analysis synth --out data_synthetic

data_synthetic/DATA_DICTIONARY.md: analysis/contract.py analysis/dictionary.py | $(ENV_STAMP)
	$(BIN)/python -m analysis.dictionary data_synthetic/DATA_DICTIONARY.md

# --- results: every analysis, written atomically (a failed run leaves the previous results intact) -------
results: $(RESULTS)/key_results.csv
$(RESULTS)/key_results.csv: $(DATA) $(REFERENCE) $(SITES) $(CODE) | $(ENV_STAMP)
	$(BIN)/ips-analysis run $(DATA) --reference $(REFERENCE) $(if $(SITES),--sites $(SITES)) --extract-date $(EXTRACT_DATE) --out $(RESULTS)

# --- checks ----------------------------------------------------------------------------------------------
test: $(ENV_STAMP)
	$(BIN)/python -m pytest

regen: $(ENV_STAMP)
	$(BIN)/python -m pytest --force-regen -p no:cacheprovider || true
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache
