"""A benchmark, not a test (scripts/bench-node.sh runs it on a fresh one-node cluster): N MockModels
applied at once with kubectl; for each, the time from `kubectl apply` to the first request a real client
(boto3 Converse) gets answered through its Service's ClusterIP. Prints p50/p99/max and the RSS of the
operator pod and the server pods as the host sees them (/proc).

    bench_node.py N     (KUBECONFIG of the node, the chart already installed)
"""
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]
NS = "bench"
GREETING = "Hi, I'm the Acme support assistant. How can I help you with your order today?"


def kubectl(*args, stdin=None):
    r = subprocess.run(["kubectl", *args], capture_output=True, text=True, input=stdin)
    return r.stdout if r.returncode == 0 else None


def rss_mib(name):
    """RSS of the `name` processes in the node's pods (under the kubelet's cgroup root)."""
    total, count = 0, 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() != name[:15]:
                continue
            if "/mockmodel/kubepods" not in Path(f"/proc/{pid}/cgroup").read_text():
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    count += 1
        except OSError:
            continue
    return total / 1024, count


def main(n):
    import yaml

    sample = yaml.safe_load((ROOT / "deploy" / "samples" / "mockmodel-support-agent.yaml").read_text())
    kubectl("create", "namespace", NS)
    while not json.loads(kubectl("get", "sa", "default", "-n", NS, "-o", "json") or "{}").get("secrets"):
        time.sleep(0.2)
    docs = []
    for i in range(n):
        mm = json.loads(json.dumps(sample))
        mm["metadata"] = {"name": f"m{i:02d}", "namespace": NS}
        mm["spec"]["imagePullPolicy"] = "Never"
        docs.append(mm)
    latencies = [None] * n

    def first_answer(i, t0):
        name = f"m{i:02d}"
        ip = None
        while not ip:
            ip = (kubectl("get", "service", name, "-n", NS, "-o", "jsonpath={.spec.clusterIP}") or "").strip()
            if not ip:
                time.sleep(0.2)
        client = boto3.client("bedrock-runtime", endpoint_url=f"http://{ip}:8080", region_name="us-east-1",
                              aws_access_key_id="test", aws_secret_access_key="test",
                              config=Config(retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=5))
        while True:
            try:
                r = client.converse(modelId="anthropic.claude-3-5-sonnet-20240620-v1:0", messages=[{"role": "user", "content": [{"text": "hello"}]}])
                if r["output"]["message"]["content"][0]["text"] == GREETING:
                    latencies[i] = time.monotonic() - t0
                    return
            except Exception:  # not routed / not ready yet
                time.sleep(0.1)

    t0 = time.monotonic()
    kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))
    threads = [threading.Thread(target=first_answer, args=(i, t0)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    done = sorted(x for x in latencies if x is not None)
    q = statistics.quantiles(done, n=100, method="inclusive") if len(done) > 1 else done * 99
    op_mib, _ = rss_mib("mockmodel-operator")
    srv_mib, srv_count = rss_mib("mockmodel-server")
    print(f"{len(done)}/{n} MockModels answered through their ClusterIP")
    print(f"apply -> first answered Converse: p50 {q[49]:.1f} s, p99 {q[98]:.1f} s, max {done[-1]:.1f} s")
    print(f"RSS: operator {op_mib:.1f} MiB; {srv_count} servers {srv_mib:.1f} MiB "
          f"({srv_mib / max(srv_count, 1):.1f} MiB each)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
