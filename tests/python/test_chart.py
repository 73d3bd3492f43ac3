"""The Helm chart with the real `helm` (from scripts/helm.sh): lint, schema-checked values, renders
validated by kubernetes-validate, a safe default posture, least-privilege RBAC, and deploy/ kept
equal to the default render."""
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

CHART = ROOT / "charts" / "mockmodel"


@pytest.fixture(scope="module")
def helm():
    bindir = subprocess.run([str(ROOT / "scripts" / "helm.sh")], capture_output=True, text=True, check=True)
    return str(Path(bindir.stdout.strip()) / "helm")


def template(helm, *args, check=True):
    return subprocess.run(
        [helm, "template", "mockmodel", str(CHART), "--namespace", "mockmodel-system", *args],
        capture_output=True,
        text=True,
        check=check,
    )


def docs(text):
    return [d for d in yaml.safe_load_all(text) if d]


def by_kind(objs, kind):
    return [o for o in objs if o["kind"] == kind]


def test_helm_lint_strict_passes(helm):
    r = subprocess.run([helm, "lint", "--strict", str(CHART)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in r.stdout


VALUE_SETS = {
    "default": [],
    "ha-namespaced": [
        "--set", "replicaCount=2", "--set", "watchNamespaces={team-a,team-b}",
        "--set", "metrics.serviceMonitor.enabled=true", "--set", "networkPolicy.enabled=true",
        "--set", "logging.json=true", "--set", "image.tag=9.9.9",
    ],
}


@pytest.mark.parametrize("name", VALUE_SETS)
def test_renders_validate_against_the_kubernetes_schemas(helm, name, tmp_path):
    rendered = template(helm, *VALUE_SETS[name]).stdout
    # ServiceMonitor is a CRD kind kubernetes-validate has no schema for; validate built-in kinds.
    builtin = [d for d in docs(rendered) if d["kind"] != "ServiceMonitor"]
    f = tmp_path / "rendered.yaml"
    f.write_text(yaml.safe_dump_all(builtin))
    validate = Path(sys.executable).parent / "kubernetes-validate"
    r = subprocess.run([str(validate), "--strict", "-k", "1.30.0", str(f)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "replicaCount=two"], "replicaCount: Invalid type. Expected: integer, given: string"),
        (["--set", "imagee.tag=x"], "Additional property imagee is not allowed"),
        (["--set", "watchNamespaces={Bad_NS}"], "watchNamespaces.0: Does not match pattern"),
        (["--set", "image.pullPolicy=Sometimes"], "image.pullPolicy"),
    ],
)
def test_invalid_values_fail_with_the_schema_message(helm, args, message):
    r = template(helm, *args, check=False)
    assert r.returncode != 0
    assert message in r.stderr


def test_default_posture_is_non_root_read_only_and_unprivileged(helm):
    objs = docs(template(helm).stdout)
    (dep,) = by_kind(objs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (c,) = pod["containers"]
    assert c["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert c["image"].endswith(":" + cargo_version())
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["MOCKMODEL_SERVER_IMAGE"] == "ghcr.io/mockmodel/mockmodel-server:" + cargo_version()
    assert env["MOCKMODEL_OPERATOR_NO_LEADER_ELECTION"] == "true"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_two_replicas_turn_leader_election_on_with_a_lease_role(helm):
    objs = docs(template(helm, "--set", "replicaCount=2").stdout)
    (dep,) = by_kind(objs, "Deployment")
    env = {e["name"] for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "MOCKMODEL_OPERATOR_NO_LEADER_ELECTION" not in env and "MOCKMODEL_OPERATOR_LEASE_NAME" in env
    lease_roles = [r for r in by_kind(objs, "Role") if r["metadata"]["name"].endswith("leader-election")]
    assert lease_roles[0]["rules"] == [
        # lease.rs only gets, creates and replaces (update); it never patches
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}
    ]


def rules_of(objs):
    return [rule for r in by_kind(objs, "ClusterRole") + by_kind(objs, "Role") for rule in r["rules"]]


def test_rbac_covers_what_the_operator_uses_and_never_secrets(helm):
    rules = rules_of(docs(template(helm).stdout))
    granted = {(g, res, v) for r in rules for g in r["apiGroups"] for res in r["resources"] for v in r["verbs"]}
    for need in [
        ("mockmodel.dev", "mockmodels", "watch"),
        ("mockmodel.dev", "mockmodels/status", "patch"),
        ("", "configmaps", "patch"),
        ("apps", "deployments", "patch"),
        ("", "services", "patch"),
        ("events.k8s.io", "events", "create"),
    ]:
        assert need in granted, need
    assert not any(res == "secrets" or res == "*" or v == "*" for _, res, v in granted)


def test_watch_namespaces_use_namespaced_roles_only(helm):
    objs = docs(template(helm, "--set", "watchNamespaces={team-a,team-b}").stdout)
    assert by_kind(objs, "ClusterRole") == [] and by_kind(objs, "ClusterRoleBinding") == []
    assert sorted(r["metadata"]["namespace"] for r in by_kind(objs, "RoleBinding")) == ["team-a", "team-b"]


def test_deploy_manifest_is_the_default_render():
    """deploy/mockmodel.yaml is exactly what `make generate` writes from the chart (no drift)."""
    r = subprocess.run([str(ROOT / "scripts" / "generate.sh"), "deploy-manifest"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    committed = (ROOT / "deploy" / "mockmodel.yaml").read_text()
    assert committed == r.stdout, "deploy/mockmodel.yaml drifted from the chart: run `make generate`"
    kinds = [d["kind"] for d in docs(committed)]
    assert kinds[0] == "Namespace" and "Deployment" in kinds and "ClusterRole" in kinds


def test_kustomize_builds_the_crd_and_the_default_render(helm):
    kubectl = str(Path(helm).parent / "kubectl")
    r = subprocess.run([kubectl, "kustomize", str(ROOT / "deploy")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    built = docs(r.stdout)
    crd = [d for d in built if d["kind"] == "CustomResourceDefinition"]
    assert [c["metadata"]["name"] for c in crd] == ["mockmodels.mockmodel.dev"]
    assert crd[0] == yaml.safe_load((ROOT / "crds" / "mockmodels.yaml").read_text())
    key = lambda d: (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"])
    rendered = docs((ROOT / "deploy" / "mockmodel.yaml").read_text())
    assert sorted(map(key, built)) == sorted(map(key, rendered + crd))
    (ns,) = [d for d in built if d["kind"] == "Namespace"]
    assert ns["metadata"]["name"] == "mockmodel-system"


def cargo_version():
    return tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["version"]


def test_chart_app_version_is_the_crate_version():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == cargo_version()
