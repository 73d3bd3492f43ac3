#!/usr/bin/env bash
# Refreshes the AWS service models mockmodel validates requests against (server/data/botocore/) from
# the botocore package in the test venv (pinned by tests/python/requirements.txt via boto3), and
# records botocore's version beside them. Run after bumping boto3; commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$(scripts/venv.sh)"
"$venv/bin/python" - <<'PY'
import gzip, json, pathlib, botocore
root = pathlib.Path(botocore.__file__).parent / "data"
out = pathlib.Path("server/data/botocore")
out.mkdir(parents=True, exist_ok=True)
for service in ("bedrock-runtime", "sagemaker-runtime"):
    (version,) = sorted(p.name for p in (root / service).iterdir() if p.is_dir())[-1:]
    src = root / service / version / "service-2.json"
    data = gzip.open(str(src) + ".gz").read() if not src.exists() else src.read_bytes()
    model = json.loads(data)
    # Documentation strings are most of the file and nothing validation reads.
    def strip(v):
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if k != "documentation"}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v
    (out / f"{service}.json").write_text(json.dumps(strip(model), indent=1, sort_keys=True) + "\n")
(out / "VERSION").write_text(f"botocore {botocore.__version__}\n")
print(f"server/data/botocore: bedrock-runtime, sagemaker-runtime from botocore {botocore.__version__}")
PY
