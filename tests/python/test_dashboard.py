"""The Grafana dashboard in deploy/grafana only queries metrics the server actually exports."""
import json
import re

from openai import OpenAI

from conftest import ROOT

DASHBOARD = ROOT / "deploy" / "grafana" / "mockmodel-dashboard.json"


def metric_names(expr):
    # Names are followed by a selector; strip histogram suffixes to get the family.
    names = set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", expr))
    return {re.sub(r"_(bucket|sum|count)$", "", n) for n in names}


def test_every_server_metric_the_dashboard_queries_exists(server):
    client = OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
    stream = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello"}], stream=True)
    list(stream)
    exported = server.get_text("/metrics")
    families = set(re.findall(r"^# TYPE (\S+) ", exported, flags=re.M))
    dash = json.loads(DASHBOARD.read_text())
    queried = set()
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            queried |= metric_names(target["expr"])
    server_side = {n for n in queried if not n.startswith("mockmodel_operator_")}
    assert server_side, "the dashboard queries server metrics"
    assert server_side <= families, sorted(server_side - families)
