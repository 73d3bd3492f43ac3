"""End to end on a real one-node cluster (scripts/k8s-testbed.sh node-start, run by scripts/test-cluster.sh,
so by `make test`): kubelet + containerd + runc + CNI + kube-proxy, images imported from local OCI archives.

`helm install` puts the operator in a pod; a MockModel applied with kubectl rolls out a real Deployment;
an agent pod runs the real Python clients (boto3, openai from the cached venv, mounted read-only) against
the Service's ClusterIP. There is no cluster DNS here, so the agent dials the ClusterIP, and the tests
check that `status.endpoints` names that Service (`<name>.<ns>.svc:8080`).

The tests run in file order and share one release, one MockModel and one agent pod.
"""
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
SYSTEM = "mockmodel-system"
NS = "staging"
NAME = "support-agent"
WAIT = 120
GREETING = "Hi, I'm the Acme support assistant. How can I help you with your order today?"
NEW_GREETING = "Welcome back to Acme support!"
# ~30 s of frames (one every 1/tps s): long enough to still be in flight when the edit lands
STORY = "Once upon a time an agent met a mock model, and they talked for a while in staging. The end."
STORY_FIXTURE = {"match": {"userMessage": "long story"}, "chunkSize": 4,
                 "streamingProfile": {"ttft": 0, "tps": 0.8}, "response": {"content": STORY}}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    kubeconfig = os.environ.get("MOCKMODEL_NODE_KUBECONFIG")
    assert kubeconfig and Path(kubeconfig).is_file(), "run through scripts/test-cluster.sh (the node's kubeconfig)"
    venv = os.environ.get("MOCKMODEL_VENV")
    assert venv and Path(venv, "bin", "python").exists(), "MOCKMODEL_VENV: the venv of scripts/venv.sh"
    home = tmp_path_factory.mktemp("helmhome")
    bindir = subprocess.run([str(ROOT / "scripts" / "helm.sh")], capture_output=True, text=True, check=True)
    e = dict(os.environ, KUBECONFIG=kubeconfig, HELM_CACHE_HOME=str(home / "cache"),
             HELM_CONFIG_HOME=str(home / "config"), HELM_DATA_HOME=str(home / "data"))
    e["PATH"] = bindir.stdout.strip() + os.pathsep + e["PATH"]
    return e


def run(env, *args, check=True, stdin=None, timeout=WAIT):
    r = subprocess.run(list(args), capture_output=True, text=True, env=env, input=stdin, timeout=timeout)
    if check:
        assert r.returncode == 0, f"{' '.join(args)}\n{r.stdout}\n{r.stderr}"
    return r


def get(env, *args):
    return json.loads(run(env, "kubectl", *args, "-o", "json", "--show-managed-fields").stdout or "null")


def eventually(what, probe, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.5)


def condition(obj, kind):
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c["type"] == kind:
            return c
    return None


def pods(env, ns, selector):
    """The pods matching `selector`, without those already terminating."""
    items = get(env, "get", "pods", "-n", ns, "-l", selector)["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def apply(env, doc):
    run(env, "kubectl", "apply", "-f", "-", stdin=json.dumps(doc))


def mockmodel(fixtures=None, replicas=1):
    mm = yaml.safe_load(SAMPLE.read_text())
    mm["metadata"]["namespace"] = NS
    mm["spec"]["imagePullPolicy"] = "Never"
    mm["spec"]["replicas"] = replicas
    mm["spec"]["fixtures"] = fixtures if fixtures is not None else [STORY_FIXTURE] + mm["spec"]["fixtures"]
    return mm


def edited_fixtures():
    """The sample's fixtures after the greeting edit."""
    fixtures = mockmodel()["spec"]["fixtures"]
    fixtures[1]["response"]["content"] = NEW_GREETING
    return fixtures


def ensure_namespace(env, name):
    apply(env, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    # pods are refused until the namespace's default ServiceAccount has its token
    eventually(f"{name}'s default ServiceAccount token", lambda: (get(
        env, "get", "serviceaccount", "default", "-n", name, "--ignore-not-found") or {}).get("secrets"))


@pytest.fixture(scope="module")
def release(env):
    run(env, "helm", "install", "mockmodel", str(CHART), "--namespace", SYSTEM, "--create-namespace",
        "--set", "image.pullPolicy=Never", "--wait", "--timeout", f"{WAIT}s", timeout=WAIT + 30)
    return get(env, "get", "deployment", "mockmodel", "-n", SYSTEM)


@pytest.fixture(scope="module")
def agent(env, release):
    """A pod running the real Python clients: the venv, its base interpreter and the host's /usr (the
    libraries the interpreter links), all read-only hostPath mounts at the host's paths."""
    ensure_namespace(env, "agents")
    venv = os.environ["MOCKMODEL_VENV"]
    here = str(Path(__file__).parent)
    base = subprocess.run([f"{venv}/bin/python", "-c", "import sys; print(sys.base_prefix)"],
                          capture_output=True, text=True, check=True).stdout.strip()
    host_dirs = {"usr": "/usr", "venv": venv}
    if not base.startswith("/usr/") and base != "/usr":
        host_dirs["python"] = base
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "agent", "namespace": "agents"},
        "spec": {
            "automountServiceAccountToken": False, "enableServiceLinks": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532},
            "containers": [{
                "name": "agent", "image": "localhost/mockmodel-agent:test", "imagePullPolicy": "Never",
                "env": [{"name": k, "value": v} for k, v in {
                    "AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": "test",
                    "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1", "HOME": "/tmp",
                    "PYTHONDONTWRITEBYTECODE": "1", "NO_PROXY": "*"}.items()],
                "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]}},
                "volumeMounts": [{"name": k, "mountPath": v, "readOnly": True} for k, v in host_dirs.items()] + [
                    {"name": "agent", "mountPath": "/agent", "readOnly": True}, {"name": "tmp", "mountPath": "/tmp"}],
            }],
            "volumes": [{"name": k, "hostPath": {"path": v, "type": "Directory"}} for k, v in host_dirs.items()] + [
                {"name": "agent", "hostPath": {"path": here, "type": "Directory"}}, {"name": "tmp", "emptyDir": {}}],
        },
    }
    apply(env, pod)
    run(env, "kubectl", "wait", "--for=condition=Ready", "pod/agent", "-n", "agents", f"--timeout={WAIT}s",
        timeout=WAIT + 10)
    return Agent(env, venv)


class Agent:
    def __init__(self, env, venv):
        self.env, self.python = env, f"{venv}/bin/python"

    def argv(self, *args):
        return ["kubectl", "exec", "-n", "agents", "agent", "--", self.python, "/agent/agent.py", *args]

    def __call__(self, *args):
        r = run(self.env, *self.argv(*args), timeout=180)
        return json.loads(r.stdout.strip().splitlines()[-1])

    def start(self, *args):
        return subprocess.Popen(self.argv(*args), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)


@pytest.fixture(scope="module")
def model(env, release):
    ensure_namespace(env, NS)
    run(env, "kubectl", "apply", "-f", "-", stdin=json.dumps(mockmodel()))

    def ready():
        mm = get(env, "get", "mockmodel", NAME, "-n", NS)
        c = condition(mm, "Ready")
        return mm if c and c["status"] == "True" else None

    return eventually("MockModel Ready=True", ready)


def service_url(env):
    svc = get(env, "get", "service", NAME, "-n", NS)
    (port,) = svc["spec"]["ports"]
    return f"http://{svc['spec']['clusterIP']}:{port['port']}", svc


def server_pods(env):
    return pods(env, NS, f"app.kubernetes.io/instance={NAME}")


def test_the_chart_runs_the_operator_as_a_pod(env, release):
    assert release["status"]["readyReplicas"] == 1
    (pod,) = pods(env, SYSTEM, "app.kubernetes.io/name=mockmodel")
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "ghcr.io/mockmodel/mockmodel-operator:0.1.0"
    assert pod["spec"]["serviceAccountName"] == "mockmodel"
    (cs,) = pod["status"]["containerStatuses"]
    assert cs["ready"] and "running" in cs["state"], cs
    assert pod["status"]["podIP"].startswith("10.213.2."), pod["status"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_a_mockmodel_rolls_out_for_real_and_turns_ready(env, model):
    status = model["status"]
    assert condition(model, "FixturesValid")["status"] == "True"
    assert status["fixtureCount"] == 6
    deploy = get(env, "get", "deployment", NAME, "-n", NS)
    assert deploy["status"]["readyReplicas"] == 1
    assert condition(deploy, "Available")["status"] == "True"
    (pod,) = server_pods(env)
    (cs,) = pod["status"]["containerStatuses"]
    assert cs["ready"] and cs["restartCount"] == 0
    assert cs["image"] == "ghcr.io/mockmodel/mockmodel-server:0.1.0"
    assert condition(pod, "Ready")["status"] == "True"
    # the Deployment's status was written by the deployment controller, not by a test
    managers = {f["manager"] for f in deploy["metadata"]["managedFields"] if f.get("subresource") == "status"
                or f["operation"] == "Update"}
    assert "kube-controller-manager" in managers, managers


def test_status_endpoints_name_the_service(env, model):
    _, svc = service_url(env)
    host = f"{svc['metadata']['name']}.{svc['metadata']['namespace']}.svc:{svc['spec']['ports'][0]['port']}"
    assert model["status"]["endpoints"]["bedrock"] == f"http://{host}"
    assert model["status"]["endpoints"]["openai"] == f"http://{host}/v1"


def test_an_agent_pod_calls_converse_stream_and_chat_through_the_cluster_ip(env, model, agent):
    url, _ = service_url(env)
    converse = agent("converse", url, "hello")
    assert converse["text"] == GREETING
    assert converse["stopReason"] == "end_turn"
    stream = agent("converse-stream", url, "hello")
    assert stream["text"] == GREETING
    assert stream["chunks"] > 1
    assert (stream["first"], stream["last"]) == ("messageStart", "metadata")
    assert stream["stopReason"] == "end_turn"
    chat = agent("chat", url, "hello")
    assert chat == {"text": GREETING, "finish_reason": "stop"}
    tools = agent("tool-round-trip", url)
    assert tools == {"call": {"name": "lookup_order", "arguments": {"orderId": "A-1042"}},
                     "answer": "Your order A-1042 shipped yesterday and should arrive on Thursday."}


def test_agent_pods_can_only_reach_the_node_and_the_service_cidr(agent):
    """Network safety, seen from inside a pod: no default route and no nameserver."""
    net = agent("netinfo", "-")
    assert net["routes"] == ["10.213.0.1/32", "10.213.1.0/24", "10.213.2.0/24"], net
    assert "nameserver" not in net["resolv_conf"], net


def test_a_fixture_edit_reaches_the_running_pod_while_a_long_stream_completes(env, model, agent):
    url, _ = service_url(env)
    (before,) = server_pods(env)
    long_stream = agent.start("converse-stream", url, "tell me a long story")
    try:
        assert long_stream.stdout.readline().strip() == "started", long_stream.stderr.read()
        run(env, "kubectl", "apply", "-f", "-", stdin=json.dumps(mockmodel(edited_fixtures())))
        answer = eventually("the new greeting from the running pod",
                            lambda: (agent("chat", url, "hello")["text"] == NEW_GREETING) or None)
        assert answer
        assert long_stream.poll() is None, "the reload landed while the story was still streaming"
        out, err = long_stream.communicate(timeout=WAIT)
    finally:
        if long_stream.poll() is None:
            long_stream.kill()
    assert long_stream.returncode == 0, err
    story = json.loads(out.strip().splitlines()[-1])
    assert story["text"] == STORY
    assert story["stopReason"] == "end_turn"
    (after,) = server_pods(env)
    assert after["metadata"]["uid"] == before["metadata"]["uid"], "same pod: reloaded, not restarted"
    assert after["status"]["containerStatuses"][0]["restartCount"] == 0
    assert agent("converse", url, "hello")["text"] == NEW_GREETING


def test_a_broken_edit_is_reported_and_the_pods_keep_serving(env, model, agent):
    url, _ = service_url(env)
    (before,) = server_pods(env)
    deploy_before = get(env, "get", "deployment", NAME, "-n", NS)
    cm_before = get(env, "get", "configmap", NAME, "-n", NS)["data"]
    fixtures = mockmodel()["spec"]["fixtures"]
    fixtures[1]["response"]["content"] = "this edit must not reach the pods"
    fixtures[2]["chunkSize"] = 0
    run(env, "kubectl", "apply", "-f", "-", stdin=json.dumps(mockmodel(fixtures)))

    def invalid():
        mm = get(env, "get", "mockmodel", NAME, "-n", NS)
        c = condition(mm, "FixturesValid")
        return c if c and c["status"] == "False" else None

    c = eventually("FixturesValid=False", invalid)
    assert c["reason"] == "InvalidFixtures"
    assert "spec.fixtures[2].chunkSize" in c["message"], c["message"]
    assert get(env, "get", "configmap", NAME, "-n", NS)["data"] == cm_before
    deploy_after = get(env, "get", "deployment", NAME, "-n", NS)
    assert deploy_after["metadata"]["generation"] == deploy_before["metadata"]["generation"]
    (after,) = server_pods(env)
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert agent("converse", url, "hello")["text"] == NEW_GREETING
    assert agent("chat", url, "hello")["text"] == NEW_GREETING


def test_scaling_to_three_replicas_spreads_requests_over_three_pods(env, model, agent):
    url, _ = service_url(env)
    run(env, "kubectl", "apply", "-f", "-", stdin=json.dumps(mockmodel(edited_fixtures(), replicas=3)))

    def three_ready():
        mm = get(env, "get", "mockmodel", NAME, "-n", NS)
        ready = [p for p in server_pods(env) if (condition(p, "Ready") or {}).get("status") == "True"]
        ok = mm.get("status", {}).get("readyReplicas") == 3 and (condition(mm, "Ready") or {}).get("status") == "True"
        return ready if ok and len(ready) == 3 else None

    ready = three_ready() or eventually("3 ready server pods", three_ready)
    pod_urls = [f"http://{p['status']['podIP']}:8080" for p in ready]
    for u in pod_urls:
        assert agent("journal", u, "clear")["status"] == 204
    spread = agent("spread", url, "30")
    assert spread["texts"] == [NEW_GREETING]
    counts = [len([e for e in agent("journal", u)["entries"]]) for u in pod_urls]
    assert sum(counts) == 30, counts
    assert all(n > 0 for n in counts), f"every pod answered some of the 30 calls: {counts}"


def ready_mockmodel(env, name):
    def ready():
        mm = get(env, "get", "mockmodel", name, "-n", NS)
        c = condition(mm, "Ready")
        return mm if c and c["status"] == "True" else None

    return eventually(f"MockModel {name} Ready=True", ready)


def test_a_recording_mockmodel_forwards_to_another_and_its_recording_reads_back(env, model, agent):
    """`spec.record`: MockModel `recorder` has no fixture for "hello" and records from
    `support-agent`'s Service (its ClusterIP: no cluster DNS here), re-signing Bedrock requests with
    keys from a Secret (`awsCredentialsSecret`). Its pod answers with support-agent's fixture, and its
    recording, read back through `/__mockmodel/recorded`, replays in a third MockModel."""
    upstream, _ = service_url(env)
    apply(env, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "recorder-aws", "namespace": NS},
                "stringData": {"AWS_ACCESS_KEY_ID": "recorder", "AWS_SECRET_ACCESS_KEY": "recorder-secret",
                               "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}})
    rec = mockmodel([{"match": {"userMessage": "never asked"}, "response": {"content": "no"}}])
    rec["metadata"]["name"] = "recorder"
    rec["spec"]["record"] = {"upstreams": [{"url": upstream}], "awsCredentialsSecret": "recorder-aws"}
    apply(env, rec)
    ready_mockmodel(env, "recorder")
    deploy = get(env, "get", "deployment", "recorder", "-n", NS)
    (container,) = deploy["spec"]["template"]["spec"]["containers"]
    assert container["args"][-4:] == ["--record", upstream, "--record-dir", "/var/lib/mockmodel/recorded"]
    svc = get(env, "get", "service", "recorder", "-n", NS)
    url = f"http://{svc['spec']['clusterIP']}:8080"

    assert agent("converse", url, "hello")["text"] == NEW_GREETING
    assert agent("chat", url, "hello") == {"text": NEW_GREETING, "finish_reason": "stop"}
    (pod,) = pods(env, NS, "app.kubernetes.io/instance=recorder")
    pod_url = f"http://{pod['status']['podIP']}:8080"
    entries = agent("journal", pod_url)["entries"]
    assert [(e["operation"], e["outcome"], e["upstream"]) for e in entries] == [
        ("Converse", "forwarded 200", upstream), ("chat.completions", "forwarded 200", upstream)]
    recorded = eventually("two recorded fixtures", lambda: (lambda d: d if len(d["fixtures"]) == 2 else None)(
        agent("recorded", url)))
    ops = sorted((f["match"]["protocol"], f["match"]["operation"], f["response"]["content"])
                 for f in recorded["fixtures"])
    assert ops == [("bedrock", "Converse", NEW_GREETING), ("openai", "chat.completions", NEW_GREETING)]
    assert all(f["metadata"]["recordedFrom"] == upstream for f in recorded["fixtures"])

    replay = mockmodel(recorded["fixtures"])
    replay["metadata"]["name"] = "replay"
    apply(env, replay)
    mm = ready_mockmodel(env, "replay")
    assert condition(mm, "FixturesValid")["status"] == "True"
    assert mm["status"]["fixtureCount"] == 2
    svc = get(env, "get", "service", "replay", "-n", NS)
    assert agent("converse", f"http://{svc['spec']['clusterIP']}:8080", "hello")["text"] == NEW_GREETING
    for name in ("recorder", "replay"):
        run(env, "kubectl", "delete", "mockmodel", name, "-n", NS, "--wait=true")


def test_deleting_the_mockmodel_garbage_collects_its_children(env, model):
    uid = get(env, "get", "mockmodel", NAME, "-n", NS)["metadata"]["uid"]
    for kind in ("configmap", "deployment", "service"):
        (owner,) = get(env, "get", kind, NAME, "-n", NS)["metadata"]["ownerReferences"]
        assert owner["uid"] == uid
    run(env, "kubectl", "delete", "mockmodel", NAME, "-n", NS, "--wait=true")

    def gone():
        left = [k for k in ("configmap", "deployment", "service")
                if run(env, "kubectl", "get", k, NAME, "-n", NS, "--ignore-not-found", "-o", "name").stdout.strip()]
        return not left and not server_pods(env)

    # the garbage collector discovers a new CRD type on its 30 s resync
    eventually("children garbage-collected", gone, timeout=180)
