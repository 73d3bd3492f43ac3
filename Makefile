# mockmodel tasks. The README's two commands: `make run` and `make test`.
.PHONY: run test lint fmt ci bench

## Run the mock server on its embedded default fixtures (http://127.0.0.1:4010).
run:
	cargo run --release -p mockmodel-server -- $(ARGS)

## Every test: Rust unit/in-process tests and the real-client wire tests (sets up its own venv).
test:
	scripts/test.sh

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

## What CI runs.
ci: lint test

## Benchmark: throughput, latency percentiles, stream timing error and RSS against bare baselines.
bench:
	cargo build --release --locked -p mockmodel-server -p mockmodel-bench
	target/release/mockmodel-bench $(ARGS)
