# The pipeline: environment -> data -> results -> reports. Each target names the files it is made from,
# so `make` redoes only what is out of date. `make test` runs the test suite; `make regen` rebuilds the
# regression baselines on purpose; `make pool` pools released results (four synthetic services, Making IPS
# Work). A trust runs its own extract with
#   make DATA=my_extract.csv REFERENCE=my_cmht.csv EXTRACT_DATE=2025-03-31 RESULTS=my_results
.DELETE_ON_ERROR:
.PHONY: all env data results robustness reports pool browser test regen bench clean

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ENV_STAMP := $(VENV)/.installed
CODE := $(wildcard analysis/*.py analysis/*/*.py) $(wildcard analysis/data/code_lists/*.csv)

# What to analyse: the synthetic data unless a trust names its own files.
DATA ?= data_synthetic/ips_extract.csv
REFERENCE ?= data_synthetic/reference_population.csv
EXTRACT_DATE ?= 2024-02-27
RESULTS ?= results
REPORTS ?= reports/_output
MAPPING ?=
# Optional: the people in the case-load who want work (characteristic,category,count), a need-based denominator.
NEED ?=
ENTRY_FROM ?=
ENTRY_TO ?=
# Disclosure control: none for the synthetic data; nhs (small counts suppressed, rounding to 5) for a trust.
DISCLOSURE ?= $(if $(filter data_synthetic/ips_extract.csv,$(DATA)),none,nhs)
# The service named in the reports: the synthetic one for the synthetic data; a trust names its own
# (SERVICE_NAME="..."), else the run records "IPS service (its file)".
SERVICE_NAME ?= $(if $(filter data_synthetic/ips_extract.csv,$(DATA)),Synthetic IPS service calibrated to Rinaldi et al. (2024))
# The Making IPS Work site table for the synthetic run; a trust may name one too (its own sites are then
# analysed beside it) or leave SITES empty to compare its own sites alone.
SITES ?= $(if $(filter data_synthetic/ips_extract.csv,$(DATA)),data_synthetic/making_ips_work_sites.csv)

# Employment specialists by month (month,specialists_wte) for the capacity chapter: the synthetic service's
# assumed staffing for the synthetic data; a trust names its own (STAFFING=...) or gives SPECIALISTS=WTE.
STAFFING ?= $(if $(filter data_synthetic/ips_extract.csv,$(DATA)),data_synthetic/staffing.csv)
SPECIALISTS ?=

SYNTHETIC := data_synthetic/ips_extract.csv data_synthetic/reference_population.csv \
             data_synthetic/making_ips_work_sites.csv

all: reports
	@echo "Results in $(RESULTS)/ (key_results.csv, one table per concern, figures/)."
	@echo "Reports (HTML and PDF) in $(REPORTS)/: open $(REPORTS)/index.html first."

# --- environment: exact versions from the lock file, then the package itself -------------------------
env: $(ENV_STAMP)
$(ENV_STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# --- data: the seeded synthetic extract, calibrated to the published figures ---------------------------
data: $(SYNTHETIC) data_synthetic/DATA_DICTIONARY.md
$(SYNTHETIC) &: data_synthetic/calibration.csv analysis/synthetic.py analysis/data/calibration.py \
                analysis/core/contract.py | $(ENV_STAMP)
	$(BIN)/ips-analysis synth --out data_synthetic

data_synthetic/DATA_DICTIONARY.md: analysis/core/contract.py analysis/data/dictionary.py analysis/data/codes.py \
                                   $(wildcard analysis/data/code_lists/*.csv) | $(ENV_STAMP)
	$(BIN)/python -m analysis.data.dictionary data_synthetic/DATA_DICTIONARY.md

# --- results: every analysis, written atomically (a failed run leaves the previous results intact) -------
results: $(RESULTS)/key_results.csv
$(RESULTS)/key_results.csv: $(DATA) $(REFERENCE) $(NEED) $(SITES) $(MAPPING) $(STAFFING) $(CODE) | $(ENV_STAMP)
	$(BIN)/ips-analysis run $(DATA) $(if $(SERVICE_NAME),--service-name "$(SERVICE_NAME)") --reference $(REFERENCE) $(if $(NEED),--need $(NEED)) $(if $(SITES),--sites $(SITES)) $(if $(MAPPING),--mapping $(MAPPING)) \
	    $(if $(STAFFING),--staffing $(STAFFING)) $(if $(SPECIALISTS),--specialists $(SPECIALISTS)) \
	    $(if $(ENTRY_FROM),--entry-from $(ENTRY_FROM)) $(if $(ENTRY_TO),--entry-to $(ENTRY_TO)) --extract-date $(EXTRACT_DATE) --disclosure $(DISCLOSURE) --out $(RESULTS)

# --- robustness: how often each published conclusion holds across seeds and assumptions (synthetic only) --
ROBUSTNESS := $(if $(and $(filter data_synthetic/ips_extract.csv,$(DATA)),$(filter results,$(RESULTS))),results/robustness.csv)
robustness: results/robustness.csv
results/robustness.csv: data_synthetic/calibration.csv analysis/synthetic.py analysis/robustness.py \
                        analysis/questions/access.py analysis/questions/in_work.py | $(ENV_STAMP)
	$(BIN)/ips-analysis robustness --out $@

# --- reports: the Quarto book, one HTML page per chapter and one PDF (quarto if installed, else the fallback) --
REPORT_SOURCES := $(wildcard reports/*.qmd) reports/_quarto.yml reports/references.bib reports/styles.css \
                  reports/pdf-header.typ $(wildcard reports/_fallback/*)
reports: $(REPORTS)/index.html
$(REPORTS)/index.html: $(RESULTS)/key_results.csv $(ROBUSTNESS) $(wildcard $(RESULTS)/benchmark.csv) $(REPORT_SOURCES) analysis/book/reporting.py analysis/book/labels.py \
                       analysis/book/render.py | $(ENV_STAMP)
	$(BIN)/ips-analysis report --results $(RESULTS) --out $(REPORTS) --extract-date $(EXTRACT_DATE) \
	    $(if $(SERVICE_NAME),--service-name "$(SERVICE_NAME)")

# --- pooling: services' released results pooled into one picture (ips-analysis pool) ----------------------
# Worked examples: four synthetic services (synth under their own sizes and seeds, each released with the
# nhs rule; the fidelity scores beside them are invented for the example) and the six Making IPS Work sites
# from their published counts. The releases are what a service shares; their extracts stay in pooled/extracts/.
POOLED ?= pooled
POOL_SERVICES := A B C D
POOL_N_A := 250
POOL_SEED_A := 404
POOL_N_B := 450
POOL_SEED_B := 101
POOL_N_C := 800
POOL_SEED_C := 202
POOL_N_D := 1400
POOL_SEED_D := 303
POOL_RELEASES := $(foreach s,$(POOL_SERVICES),$(POOLED)/releases/$(s)/key_results.csv)
POOL_FIDELITY := examples/pool_fidelity.csv
POOL_BOOK := $(wildcard reports/pooled/*.qmd) reports/pooled/_quarto.yml reports/pooled/references.bib \
             reports/styles.css reports/pdf-header.typ $(wildcard reports/_fallback/*)
pool: $(POOLED)/synthetic/key_results.csv $(POOLED)/making_ips_work/key_results.csv
	@echo "Pooled books: $(POOLED)/synthetic/book/index.html and $(POOLED)/making_ips_work/book/index.html"

$(POOLED)/releases/%/key_results.csv: $(CODE) data_synthetic/calibration.csv | $(ENV_STAMP)
	$(BIN)/ips-analysis synth --n $(POOL_N_$*) --seed $(POOL_SEED_$*) --out $(POOLED)/extracts/$*
	$(BIN)/ips-analysis run $(POOLED)/extracts/$*/ips_extract.csv --reference $(POOLED)/extracts/$*/reference_population.csv \
	    --extract-date 2024-02-27 --disclosure nhs --service-name "Synthetic service $*" --no-figures --out $(POOLED)/releases/$*

$(POOLED)/synthetic/key_results.csv: $(POOL_RELEASES) $(POOL_FIDELITY) $(CODE) $(POOL_BOOK) | $(ENV_STAMP)
	$(BIN)/ips-analysis pool $(foreach s,$(POOL_SERVICES),$(POOLED)/releases/$(s)) --fidelity $(POOL_FIDELITY) \
	    --name "Four synthetic services" --out $(POOLED)/synthetic

$(POOLED)/making_ips_work/key_results.csv: data_synthetic/making_ips_work_sites.csv $(CODE) $(POOL_BOOK) | $(ENV_STAMP)
	$(BIN)/ips-analysis pool --site-table data_synthetic/making_ips_work_sites.csv --name "Making IPS Work sites" \
	    --out $(POOLED)/making_ips_work

# --- checks ----------------------------------------------------------------------------------------------
# The browser tests need Chromium: installed from Debian's archive when missing (CI runs as root).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# One BLAS thread per test worker: -n auto already runs a worker per core, and their BLAS threads competing
# for the same cores made the suite slower (526 s against 480 s on 2 cores). Results are the same bytes.
PYTEST := OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest
test: $(ENV_STAMP) browser
	$(PYTEST) -n auto --dist worksteal

regen: $(ENV_STAMP)
	$(PYTEST) --force-regen -p no:cacheprovider || true
	$(PYTEST) -n auto --dist worksteal

# --- benchmark: 10k to 5M rows against the reference fitters and R (timing lives here, not in the tests) ---
bench: $(ENV_STAMP)
	$(BIN)/python bench/run_bench.py

clean:
	rm -rf $(VENV) .pytest_cache
