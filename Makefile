# mockmodel tasks. The README's two commands: `make run` and `make test`.
.PHONY: run test lint fmt ci bench generate test-cluster bench-operator bench-node package test-package

## Run the mock server on its embedded default fixtures (http://127.0.0.1:4010).
run:
	cargo run --release -p mockmodel-server -- $(ARGS)

## Every test: Rust unit/in-process tests, the real-client wire tests (sets up its own venv) and the
## cluster tests: a local kube-apiserver, then real pods on a one-node cluster (Kubernetes built once,
## see scripts/k8s-testbed.sh).
test:
	scripts/test.sh

## The Python wheel (target/wheels/) and npm tarballs (target/npm/) for this platform; publishes nothing.
package:
	scripts/package.sh

## Only the package tests (also part of `make test`): the wheel in a fresh venv (pytest -n 2), the
## npm tarballs in a scratch project (node:test, Vitest, Jest, tsc).
test-package:
	scripts/test-package.sh

## Regenerate crds/ from the Rust types, its copies in the chart and deploy/, and deploy/mockmodel.yaml
## from the chart's default render (tests fail when any of them drift).
generate:
	scripts/generate.sh

## Cluster tests: a real kube-apiserver + etcd on 127.0.0.1, then a one-node cluster with real pods
## (root; builds Kubernetes once; see scripts/k8s-testbed.sh).
test-cluster:
	scripts/test-cluster.sh

## Reconcile 500 MockModels on the local apiserver; prints total time, apply-to-ConfigMap latency, peak RSS.
bench-operator:
	scripts/bench-operator.sh

## 20 MockModels on a fresh one-node cluster (root): apply-to-answered-request p50/p99 through each
## Service's ClusterIP, operator and server RSS.
bench-node:
	scripts/bench-node.sh $(ARGS)

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
