# The two commands a fresh machine needs (see README.md):
#   make dev    build both workers and run them locally (local KV, Queues, R2; no account, no Redis)
#   make test   every check and test: fmt (cargo, prettier), clippy, host tests, both workers built,
#               integration tests
.PHONY: dev test setup build bench size screenshots

dev:
	bash scripts/dev.sh

test:
	bash scripts/test.sh

setup:
	bash scripts/setup.sh

build: setup
	bash scripts/build.sh .
	bash scripts/build.sh r2-fetch

bench: build
	bash bench/run.sh

size: build
	bash bench/size.sh

# The console's screenshots in docs/ (every page at 1280 and 390 px), from the built worker.
screenshots: build
	bash scripts/setup.sh --test
	. scripts/env.sh && node scripts/screenshots.mjs
