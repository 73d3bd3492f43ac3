"""The Helm chart against the real kube-apiserver of scripts/k8s-testbed.sh (run by scripts/test-cluster.sh,
so by `make test`): `helm install` (the CRD from the chart's crds/), the repository's operator binary run
exactly as the rendered Deployment configures it and authenticated *as the chart's ServiceAccount*
(kubeconfig impersonation), so reconciling proves the chart's RBAC is enough; `kubectl auth can-i` for
least privilege; server-side dry-run of renders. Real helm and kubectl come from scripts/helm.sh.

No kubelet runs here: the operator is a local process standing in for the pod, and everything the pod
would get from the Deployment (args, env, the downward-API POD_NAME/POD_NAMESPACE) is taken from the render.
"""
import base64
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "mockmodel"
SAMPLE = ROOT / "deploy" / "samples" / "mockmodel-support-agent.yaml"
OPERATOR = ROOT / "target" / "debug" / "mockmodel-operator"
SYSTEM = "mockmodel-system"
WAIT = 30


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    kubeconfig = os.environ.get("KUBECONFIG")
    assert kubeconfig and Path(kubeconfig).is_file(), "run through scripts/test-cluster.sh (KUBECONFIG of the testbed)"
    assert OPERATOR.is_file(), "cargo build -p mockmodel-operator first"
    home = tmp_path_factory.mktemp("helmhome")
    bindir = subprocess.run([str(ROOT / "scripts" / "helm.sh")], capture_output=True, text=True, check=True)
    e = dict(os.environ, KUBECONFIG=kubeconfig, HELM_CACHE_HOME=str(home / "cache"),
             HELM_CONFIG_HOME=str(home / "config"), HELM_DATA_HOME=str(home / "data"))
    e["PATH"] = bindir.stdout.strip() + os.pathsep + e["PATH"]
    return e


def run(env, *args, check=True, stdin=None):
    r = subprocess.run(list(args), capture_output=True, text=True, env=env, input=stdin)
    if check:
        assert r.returncode == 0, f"{' '.join(args)}\n{r.stdout}\n{r.stderr}"
    return r


def kubectl_json(env, *args):
    return json.loads(run(env, "kubectl", *args, "-o", "json", "--show-managed-fields").stdout)


def ensure_namespace(env, name):
    doc = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    run(env, "kubectl", "apply", "-f", "-", stdin=json.dumps(doc))


def docs(text):
    return [d for d in yaml.safe_load_all(text) if d]


def eventually(what, probe, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.25)


class Release:
    """A `helm install`ed release: its rendered objects and its operator's ServiceAccount."""

    def __init__(self, env, name, *values):
        self.env, self.name = env, name
        run(env, "helm", "install", name, str(CHART), "--namespace", SYSTEM, *values)
        self.objects = docs(run(env, "helm", "get", "manifest", name, "--namespace", SYSTEM).stdout)
        (self.deployment,) = [o for o in self.objects if o["kind"] == "Deployment"]
        self.sa = self.deployment["spec"]["template"]["spec"]["serviceAccountName"]
        self.user = f"system:serviceaccount:{SYSTEM}:{self.sa}"

    def can_i(self, *args):
        r = run(self.env, "kubectl", "auth", "can-i", *args, "--as", self.user, check=False)
        return r.stdout.strip()


class Operator:
    """target/debug/mockmodel-operator configured like the release's pod, acting as its ServiceAccount."""

    def __init__(self, release, pod, tmp, **overrides):
        container = release.deployment["spec"]["template"]["spec"]["containers"][0]
        fields = {"metadata.name": pod, "metadata.namespace": SYSTEM}
        env = {}
        for e in container["env"]:
            env[e["name"]] = e["value"] if "value" in e else fields[e["valueFrom"]["fieldRef"]["fieldPath"]]
        # the only deviation from the pod: no pod network here, so no fixed metrics port to collide on
        env["MOCKMODEL_OPERATOR_METRICS_ADDR"] = "127.0.0.1:0"
        env.update(overrides)
        env["KUBECONFIG"] = str(impersonating_kubeconfig(release, tmp / f"{pod}.kubeconfig"))
        self.env = env
        self.log = tmp / f"{pod}.log"
        self.proc = subprocess.Popen(
            [str(OPERATOR), *container.get("args", [])],
            env=dict(env, PATH=os.environ["PATH"]),
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )

    def text(self):
        return self.log.read_text()

    def assert_healthy(self):
        assert self.proc.poll() is None, f"operator exited {self.proc.returncode}:\n{self.text()}"
        assert "forbidden" not in self.text().lower(), f"RBAC denied the operator something:\n{self.text()}"

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def impersonating_kubeconfig(release, path):
    """The testbed's admin credentials, acting as the ServiceAccount (user and the groups its token has)."""
    admin = yaml.safe_load(Path(release.env["KUBECONFIG"]).read_text())
    admin["users"][0]["user"]["as"] = release.user
    admin["users"][0]["user"]["as-groups"] = [
        "system:serviceaccounts", f"system:serviceaccounts:{SYSTEM}", "system:authenticated"]
    path.write_text(yaml.safe_dump(admin))
    return path


def apply_sample(env, ns):
    run(env, "kubectl", "apply", "--namespace", ns, "-f", str(SAMPLE))
    return kubectl_json(env, "get", "mockmodel", "support-agent", "--namespace", ns)


def assert_reconciled(env, ns, mm, operator):
    def endpoints():
        operator.assert_healthy()
        got = kubectl_json(env, "get", "mockmodel", "support-agent", "--namespace", ns)
        return (got.get("status") or {}).get("endpoints")

    ep = eventually(f"status.endpoints of {ns}/support-agent", endpoints)
    assert ep["bedrock"] == f"http://support-agent.{ns}.svc:8080"
    assert ep["openai"] == f"http://support-agent.{ns}.svc:8080/v1"
    status = kubectl_json(env, "get", "mockmodel", "support-agent", "--namespace", ns)["status"]
    assert status["fixtureCount"] == 5
    for kind in ("configmap", "deployment", "service"):
        child = kubectl_json(env, "get", kind, "support-agent", "--namespace", ns)
        (owner,) = child["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"], owner["controller"]) == ("MockModel", mm["metadata"]["uid"], True)
        managers = {f["manager"] for f in child["metadata"]["managedFields"]}
        assert managers == {"mockmodel-operator"}, (kind, managers)
    operator.assert_healthy()


@pytest.fixture(scope="module")
def default_release(env):
    crd = run(env, "kubectl", "get", "crd", "mockmodels.mockmodel.dev", check=False)
    assert crd.returncode != 0, "a fresh testbed: the CRD must come from the chart's crds/"
    ensure_namespace(env, SYSTEM)
    release = Release(env, "mockmodel")
    run(env, "kubectl", "wait", "--for=condition=established", "crd/mockmodels.mockmodel.dev", "--timeout=30s")
    return release


@pytest.fixture(scope="module")
def namespaced_release(env, default_release):
    for ns in ("team-a", "team-b"):
        ensure_namespace(env, ns)
    return Release(env, "mockmodel-ns", "--set", "watchNamespaces={team-a}", "--set", "replicaCount=2")


def test_helm_install_brings_the_crd_from_the_charts_crds_folder(env, default_release):
    crd = kubectl_json(env, "get", "crd", "mockmodels.mockmodel.dev")
    committed = yaml.safe_load((CHART / "crds" / "mockmodels.yaml").read_text())
    assert crd["spec"]["names"] == {**committed["spec"]["names"], "listKind": "MockModelList"}
    assert [v["name"] for v in crd["spec"]["versions"]] == ["v1alpha1"]
    # helm wrote it (the apiserver only manages its status conditions)
    managers = {f["manager"]: f.get("subresource", "") for f in crd["metadata"]["managedFields"]}
    assert set(managers) == {"helm", "kube-apiserver"}, managers
    assert default_release.sa == "mockmodel"


def test_kubectl_explain_documents_spec_record(env, default_release):
    """The CRD's schema is published with its descriptions: `kubectl explain` reads them. (kubectl
    1.20 lists no FIELDS under an optional, hence nullable, object: the apiserver publishes such
    fields without their type in OpenAPI v2.)"""
    out = eventually("kubectl explain mockmodel.spec.record", lambda: (lambda r: r.returncode == 0 and r.stdout)(
        run(env, "kubectl", "explain", "mockmodel.spec.record", check=False)))
    for text in ("--record", "--proxy-unmatched", "/__mockmodel/recorded", "emptyDir"):
        assert text in out, out


def test_default_install_reconciles_the_sample_as_the_charts_service_account(env, default_release, tmp_path):
    ensure_namespace(env, "chart-default")
    op = Operator(default_release, "mockmodel-7d4b9-x2k4q", tmp_path)
    try:
        assert op.env.get("MOCKMODEL_OPERATOR_NO_LEADER_ELECTION") == "true"
        assert "MOCKMODEL_OPERATOR_WATCH_NAMESPACES" not in op.env
        mm = apply_sample(env, "chart-default")
        assert_reconciled(env, "chart-default", mm, op)
    finally:
        op.stop()


def test_namespaced_ha_install_reconciles_only_its_namespace_and_holds_a_lease(env, namespaced_release, tmp_path):
    ops = [Operator(namespaced_release, f"mockmodel-ns-5f8c7-{s}", tmp_path) for s in ("aaaaa", "bbbbb")]
    try:
        assert ops[0].env["MOCKMODEL_OPERATOR_WATCH_NAMESPACES"] == "team-a"
        assert ops[0].env["MOCKMODEL_OPERATOR_LEASE_NAME"] == "mockmodel-ns"
        lease = eventually("the leader Lease", lambda: json.loads(run(
            env, "kubectl", "get", "lease", "mockmodel-ns", "--namespace", SYSTEM, "-o", "json", check=False,
        ).stdout or "null"))
        holder = lease["spec"]["holderIdentity"]
        assert holder in {"mockmodel-ns-5f8c7-aaaaa", "mockmodel-ns-5f8c7-bbbbb"}
        leader = next(o for o in ops if o.env["POD_NAME"] == holder)

        watched = apply_sample(env, "team-a")
        apply_sample(env, "team-b")
        assert_reconciled(env, "team-a", watched, leader)
        time.sleep(3)  # the leader has long reconciled team-a; team-b must stay untouched
        unwatched = kubectl_json(env, "get", "mockmodel", "support-agent", "--namespace", "team-b")
        assert "status" not in unwatched, unwatched.get("status")
        for kind in ("configmap", "deployment", "service"):
            r = run(env, "kubectl", "get", kind, "support-agent", "--namespace", "team-b", check=False)
            assert r.returncode != 0 and "NotFound" in r.stderr, (kind, r.stdout)
        for o in ops:
            o.assert_healthy()
        standby = next(o for o in ops if o is not leader)
        assert "acquired the leader lease" not in standby.text()
    finally:
        for o in ops:
            o.stop()


def test_the_namespaced_service_account_cannot_watch_beyond_its_namespaces(env, namespaced_release, tmp_path):
    """The converse: the chart's RBAC really is the limit (and the log check above would catch a denial)."""
    op = Operator(namespaced_release, "mockmodel-ns-5f8c7-ccccc", tmp_path, MOCKMODEL_OPERATOR_WATCH_NAMESPACES="team-b")
    try:
        code = op.proc.wait(timeout=WAIT)
    finally:
        op.stop()
    log = op.text()
    assert code != 0, log
    assert "listing MockModels" in log and "forbidden" in log.lower(), log
    assert "cannot list resource" in log and "team-b" in log, log


@pytest.mark.parametrize(
    "verb, resource, extra",
    [
        ("watch", "mockmodels.mockmodel.dev", []),
        ("patch", "mockmodels.mockmodel.dev", ["--subresource=status"]),
        ("create", "events.events.k8s.io", []),
        ("patch", "deployments.apps", []),
        ("patch", "services", []),
        ("get", "configmaps", []),
        ("create", "configmaps", []),  # server-side apply of a new object is authorized as create
    ],
)
def test_default_rbac_allows_what_the_operator_does(default_release, verb, resource, extra):
    assert default_release.can_i(verb, resource, *extra, "--all-namespaces") == "yes"


@pytest.mark.parametrize(
    "verb, resource",
    [("get", "secrets"), ("list", "secrets"), ("patch", "mockmodels.mockmodel.dev"),
     ("delete", "deployments.apps"), ("create", "customresourcedefinitions.apiextensions.k8s.io")],
)
def test_default_rbac_denies_secrets_and_unused_verbs(default_release, verb, resource):
    assert default_release.can_i(verb, resource, "--all-namespaces") == "no"
    assert default_release.can_i(verb, resource, "--namespace", "chart-default") == "no"


def test_namespaced_rbac_is_confined_to_the_listed_namespace_and_the_lease(namespaced_release):
    r = namespaced_release
    for verb, resource in [("list", "mockmodels.mockmodel.dev"), ("watch", "configmaps"),
                           ("patch", "deployments.apps"), ("create", "events.events.k8s.io")]:
        assert r.can_i(verb, resource, "--namespace", "team-a") == "yes", (verb, resource)
        assert r.can_i(verb, resource, "--namespace", "team-b") == "no", (verb, resource)
        assert r.can_i(verb, resource, "--all-namespaces") == "no", (verb, resource)
    assert r.can_i("get", "secrets", "--namespace", "team-a") == "no"
    assert r.can_i("update", "leases.coordination.k8s.io", "--namespace", SYSTEM) == "yes"
    assert r.can_i("update", "leases.coordination.k8s.io", "--namespace", "team-a") == "no"
    assert r.can_i("list", "namespaces") == "no"
    assert not [o for o in r.objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]


@pytest.mark.parametrize(
    "values",
    [
        [],
        ["--set", "replicaCount=2", "--set", "watchNamespaces={team-a,team-b}", "--set", "networkPolicy.enabled=true",
         "--set", "logging.json=true", "--set", "image.tag=9.9.9", "--set", "serviceAccount.name=custom-sa"],
    ],
    ids=["default", "ha-namespaced"],
)
def test_renders_pass_server_side_dry_run(env, default_release, values):
    for ns in ("team-a", "team-b"):
        ensure_namespace(env, ns)
    rendered = run(env, "helm", "template", "dry", str(CHART), "--namespace", SYSTEM, "--include-crds", *values).stdout
    expected = len(docs(rendered))
    r = run(env, "kubectl", "apply", "--dry-run=server", "-f", "-", stdin=rendered)
    lines = [line for line in r.stdout.splitlines() if line.endswith("(server dry run)")]
    assert len(lines) == expected, r.stdout
    assert any(line.startswith("deployment.apps/dry-mockmodel ") for line in lines), r.stdout
    # a dry run creates nothing
    assert run(env, "kubectl", "get", "deployment", "dry-mockmodel", "-n", SYSTEM, check=False).returncode != 0
