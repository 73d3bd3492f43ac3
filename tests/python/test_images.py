"""The container images: the Dockerfile's targets copy binaries the release build produces, those
binaries link only what distroless/cc ships, and image names agree across Dockerfile, chart,
operator default and docs. (No Docker engine runs here; `make test` builds the release binaries.)"""
import re
import subprocess

import pytest
import yaml

from conftest import ROOT
from test_chart import cargo_version

DOCKERFILE = (ROOT / "Dockerfile").read_text()
RELEASE = ROOT / "target" / "release"
# glibc's core libraries: exactly what gcr.io/distroless/cc-debian12 provides.
DISTROLESS_CC = {"linux-vdso.so.1", "libgcc_s.so.1", "libm.so.6", "libc.so.6", "ld-linux-x86-64.so.2"}


def stages():
    return {name: base for base, name in re.findall(r"^FROM (\S+) AS (\S+)$", DOCKERFILE, flags=re.M)}


def test_each_runtime_stage_is_distroless_nonroot_and_copies_a_release_binary():
    s = stages()
    assert set(s) == {"build", "server", "operator"}
    for target in ["server", "operator"]:
        assert s[target] == "gcr.io/distroless/cc-debian12:nonroot"
        assert f"COPY --from=build /src/target/release/mockmodel-{target} /usr/local/bin/mockmodel-{target}" in DOCKERFILE
    assert DOCKERFILE.count("USER 65532:65532") == 2
    assert "cargo build --release --locked -p mockmodel-server -p mockmodel-operator" in DOCKERFILE


@pytest.mark.parametrize("binary", ["mockmodel-server", "mockmodel-operator"])
def test_release_binaries_run_and_link_only_what_distroless_cc_has(binary):
    path = RELEASE / binary
    assert path.exists(), "scripts/test.sh builds the release binaries first"
    out = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"{binary} {cargo_version()}"
    ldd = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=True).stdout
    libs = {line.split()[0].rsplit("/", 1)[-1] for line in ldd.splitlines() if line.strip()}
    assert libs <= DISTROLESS_CC, libs - DISTROLESS_CC


def test_image_names_agree_everywhere():
    values = yaml.safe_load((ROOT / "charts" / "mockmodel" / "values.yaml").read_text())
    assert values["image"]["repository"] == "ghcr.io/mockmodel/mockmodel-operator"
    assert values["server"]["image"]["repository"] == "ghcr.io/mockmodel/mockmodel-server"
    resources = (ROOT / "operator" / "src" / "resources.rs").read_text()
    assert 'format!("ghcr.io/mockmodel/mockmodel-server:{}", env!("CARGO_PKG_VERSION"))' in resources
    for image in ["mockmodel-server", "mockmodel-operator"]:
        assert f"-t ghcr.io/mockmodel/{image}:{cargo_version()}" in DOCKERFILE
