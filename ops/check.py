#!/usr/bin/env python3
"""Checks the deployment files of ops/ against each other and against the server, without
running them (no Grafana or Kubernetes here):

- the rules and the dashboard are what ops/slo.py writes;
- the recording rules are exactly the contract's (every SLI over every window, the percentile
  helpers), every alert has a severity, a summary and a description naming a runbook section
  of ops/README.md that exists, and every metric a rule reads is in ops/README.md's metric
  table and defined in the server's source (src/);
- the dashboard: valid JSON, every panel and query on the provisioned datasource's uid, every
  recording rule shown, every name a query reads a recording rule or a listed metric;
- the compose file: every service it depends on defined, every file it mounts present, every
  named volume declared, no literal secret, every ${VARIABLE} in compose.env.example;
- the Kubernetes base: kustomization.yaml lists exactly the manifests of ops/k8s, probes on
  /readyz and /healthz at the port of LIVESURGERY_HTTP_ADDR, the SFU's UDP port that of
  LIVESURGERY_SFU_UDP_BIND on the host network with LIVESURGERY_SFU_PUBLIC_IP set, Services and
  the PodDisruptionBudget selecting pods that exist, no Secret committed;
- every LIVESURGERY_* variable these files set is a setting the server reads.

    python3 ops/check.py     # needs PyYAML; prints each failure, exit 1 if any

Run by .ci/ops.sh with the venv .ci/install-ops.sh makes.
"""

import json
import re
import sys
from pathlib import Path

import yaml

OPS = Path(__file__).resolve().parent
ROOT = OPS.parent
sys.path.insert(0, str(OPS))
import slo  # noqa: E402  (ops/slo.py: the SLO table)

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
    return condition


def section(title):
    print(f"-- {title}")


# ---- what the server defines ----

def server_settings():
    """Every LIVESURGERY_* environment variable the server's flags read."""
    names = set()
    for path in (ROOT / "src").rglob("*.rs"):
        names |= set(re.findall(r'env\s*=\s*"(LIVESURGERY_[A-Z0-9_]+)"', path.read_text()))
    return names


def server_metrics():
    """Every metric name written as a literal in the server's source."""
    names = set()
    for path in (ROOT / "src").rglob("*.rs"):
        names |= set(re.findall(r'"(livesurgery_[a-z0-9_]+)"', path.read_text()))
    return names


def readme_metrics():
    """The metric table of ops/README.md ("Metrics"): its first column's names."""
    text = (OPS / "README.md").read_text()
    block = text.split("\n## Metrics\n", 1)
    check(len(block) == 2, 'ops/README.md has no "## Metrics" section')
    names = set()
    if len(block) == 2:
        for line in block[1].split("\n## ", 1)[0].splitlines():
            if line.startswith("| `livesurgery_"):
                names |= set(re.findall(r"`(livesurgery_[a-z0-9_]+)", line.split("|")[1]))
    check(names, "ops/README.md's metric table lists no metric")
    return names


def runbook_sections():
    text = (OPS / "README.md").read_text()
    parts = text.split("\n## Runbook\n", 1)
    check(len(parts) == 2, 'ops/README.md has no "## Runbook" section')
    if len(parts) != 2:
        return set()
    return set(re.findall(r"^### (.+)$", parts[1].split("\n## ", 1)[0], re.M))


HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")
PROMQL_WORDS = {
    "sum", "rate", "by", "on", "and", "or", "bool", "vector", "histogram_quantile", "le",
    "avg_over_time", "sum_over_time", "count_over_time", "max", "absent", "up", "without",
    "ignoring", "unless", "avg", "min", "count", "offset",
}


def names_in(expr):
    """Metric and recording-rule names a PromQL expression reads (label matchers and strings
    removed first)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    return {n for n in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr)
            if n not in PROMQL_WORDS and not n.startswith("$")}


def base_metric(name):
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


# ---- rules ----

def check_rules(known_metrics, runbooks):
    section("prometheus rules")
    rules = yaml.safe_load((OPS / "prometheus" / "livesurgery.rules.yml").read_text())
    records, alerts = {}, {}
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "record" in rule:
                records[rule["record"]] = rule["expr"]
            else:
                alerts[rule["alert"]] = rule
    expected = {f"livesurgery:sli_{s.name}:ratio_rate{w}" for s in slo.SLOS for w in slo.WINDOWS}
    contract_names = {"join_success", "join_first_frame", "ws_push_latency", "rest_availability",
                      "rest_latency", "append_latency", "projection_lag", "sfu_forward_loss",
                      "sfu_added_latency", "recording_backlog"}
    check({s.name for s in slo.SLOS} == contract_names,
          f"the SLO names are not the contract's: {sorted({s.name for s in slo.SLOS} ^ contract_names)}")
    check(set(slo.WINDOWS) == {"5m", "30m", "1h", "6h", "3d"}, "the windows are not 5m 30m 1h 6h 3d")
    missing = expected - set(records)
    check(not missing, f"recording rules missing: {sorted(missing)}")
    quantiles = {"livesurgery:sfu_join_to_first_frame_seconds:p95_5m",
                 "livesurgery:ws_push_latency_seconds:p99_5m",
                 "livesurgery:http_request_duration_seconds:p99_5m",
                 "livesurgery:event_append_duration_seconds:p99_5m"}
    check(quantiles <= set(records), f"percentile helpers missing: {sorted(quantiles - set(records))}")
    for name, expr in records.items():
        for read in names_in(expr):
            if read in records:
                continue
            metric = base_metric(read)
            check(metric in known_metrics or read in known_metrics,
                  f"rule {name} reads {read}, which ops/README.md's metric table does not list")
    for slo_ in slo.SLOS:
        for speed, *_ in slo.BURNS:
            check(f"LiveSurgery{slo_.camel}{speed}" in alerts,
                  f"no alert LiveSurgery{slo_.camel}{speed}")
    for name, alert in alerts.items():
        labels, annotations = alert.get("labels", {}), alert.get("annotations", {})
        check(labels.get("severity") in ("page", "ticket"), f"alert {name}: severity page or ticket")
        check(annotations.get("summary"), f"alert {name}: no summary")
        description = annotations.get("description", "")
        cited = re.findall(r'Runbook: ops/README.md, "Runbook", "([^"]+)"', description)
        check(cited, f"alert {name}: its description names no runbook section")
        for title in cited:
            check(title in runbooks, f'alert {name}: ops/README.md has no runbook section "### {title}"')
        for read in names_in(alert["expr"]):
            check(read in records or read == "up", f"alert {name} reads {read}, not a recording rule")
    print(f"   {len(records)} recording rules, {len(alerts)} alerts")
    return records


# ---- dashboard ----

def panels_of(dashboard):
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def check_dashboard(records, known_metrics):
    section("grafana dashboard")
    datasources = yaml.safe_load((OPS / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uids = {d["uid"] for d in datasources["datasources"] if d["type"] == "prometheus"}
    check(len(uids) == 1, "the provisioning names one Prometheus datasource, by uid")
    providers = yaml.safe_load((OPS / "grafana/provisioning/dashboards/livesurgery.yml").read_text())
    check(providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/livesurgery",
          "the dashboard provider reads the folder compose.yaml mounts the dashboards at")
    for path in sorted((OPS / "grafana" / "dashboards").glob("*.json")):
        try:
            dashboard = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            check(False, f"{path.name}: not JSON: {e}")
            continue
        check(dashboard.get("uid"), f"{path.name}: no uid")
        ids, used, exprs = [], set(), 0
        rows = [p["title"] for p in panels_of(dashboard) if p["type"] == "row"]
        for s in slo.SLOS:
            check(any(r.startswith(f"{s.title}:") for r in rows), f"{path.name}: no row for {s.title}")
        check("Load" in rows, f"{path.name}: no Load row")
        for panel in panels_of(dashboard):
            ids.append(panel["id"])
            grid = panel["gridPos"]
            check(0 <= grid["x"] and grid["x"] + grid["w"] <= 24, f"{path.name}: panel {panel['title']} is off the grid")
            if panel["type"] == "row":
                continue
            check(panel.get("datasource", {}).get("uid") in uids,
                  f"{path.name}: panel {panel['title']} is not on the provisioned datasource")
            check(panel.get("targets"), f"{path.name}: panel {panel['title']} has no query")
            for t in panel.get("targets", []):
                exprs += 1
                check(t.get("datasource", {}).get("uid") in uids,
                      f"{path.name}: a query of {panel['title']} is not on the provisioned datasource")
                for read in names_in(t["expr"]):
                    used.add(read)
                    check(read in records or base_metric(read) in known_metrics,
                          f"{path.name}: {panel['title']} reads {read}: neither a recording rule nor a listed metric")
        check(len(ids) == len(set(ids)), f"{path.name}: panel ids repeat")
        unused = {r for r in records if r.startswith("livesurgery:sli_") or ":p9" in r} - used
        check(not unused, f"{path.name}: recording rules not shown: {sorted(unused)}")
        print(f"   {path.name}: {len(ids)} panels, {exprs} queries")


# ---- compose ----

SECRETISH = re.compile(r"PASSWORD|SECRET|_KEY$|TOKEN")


def check_compose(settings):
    section("compose")
    compose = yaml.safe_load((OPS / "compose.yaml").read_text())
    services = compose["services"]
    volumes = set((compose.get("volumes") or {}).keys())
    text = (OPS / "compose.yaml").read_text()
    example = (OPS / "compose.env.example").read_text()
    example_vars = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, re.M))
    for name in ("livesurgery", "postgres", "minio", "coturn", "prometheus", "grafana"):
        check(name in services, f"compose: no service {name}")
    for name, service in services.items():
        depends = service.get("depends_on", [])
        for dep in (depends if isinstance(depends, list) else depends.keys()):
            check(dep in services, f"compose: {name} depends on {dep}, which is not defined")
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith((".", "/")):
                check((OPS / source).resolve().exists(), f"compose: {name} mounts {source}, which does not exist")
            else:
                check(source in volumes, f"compose: {name} mounts volume {source}, not declared")
        env = service.get("environment", {})
        for key, value in (env.items() if isinstance(env, dict) else []):
            if SECRETISH.search(key) and not key.endswith("ACCESS_KEY"):
                check("${" in str(value), f"compose: {name}'s {key} is a literal, not from .env")
            if key.startswith("LIVESURGERY_"):
                check(key in settings, f"compose: {name} sets {key}, which the server does not read")
    server = services.get("livesurgery", {})
    env = server.get("environment", {})
    check("postgres" in env.get("LIVESURGERY_DATABASE_URL", ""), "compose: the server's database is not the postgres service")
    check(env.get("LIVESURGERY_STORAGE") == "s3" and "minio" in text, "compose: the server does not store archives in MinIO")
    check("./coturn/turnserver.conf" in text, "compose: coturn does not run ops/coturn/turnserver.conf")
    check("./prometheus/livesurgery.rules.yml" in text, "compose: Prometheus does not load the rules")
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    referenced = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", code))
    check(not (referenced - example_vars),
          f"compose: compose.env.example does not mention {sorted(referenced - example_vars)}")
    print(f"   {len(services)} services, {len(referenced)} variables from .env")


# ---- kubernetes ----

def port_of(address):
    return int(address.rsplit(":", 1)[1])


def check_k8s(settings):
    section("kubernetes")
    folder = OPS / "k8s"
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    files = {p.name for p in folder.glob("*.yaml")} - {"kustomization.yaml"}
    listed = set(kustomization.get("resources", []))
    check(listed == files, f"k8s: kustomization.yaml resources {sorted(listed)} are not the files {sorted(files)}")
    docs = []
    for name in sorted(files):
        for doc in yaml.safe_load_all((folder / name).read_text()):
            if doc:
                docs.append((name, doc))
    kinds = {}
    for name, doc in docs:
        kinds.setdefault(doc["kind"], []).append(doc)
        check(doc["kind"] != "Secret", f"k8s: {name} commits a Secret")
    for kind in ("Deployment", "StatefulSet", "Service", "PodDisruptionBudget", "ConfigMap"):
        check(kind in kinds, f"k8s: no {kind}")
    config = kinds.get("ConfigMap", [{}])[0].get("data", {})
    for key in config:
        check(key in settings, f"k8s: the ConfigMap sets {key}, which the server does not read")
    http_port = port_of(config.get("LIVESURGERY_HTTP_ADDR", ":0"))
    udp_port = port_of(config.get("LIVESURGERY_SFU_UDP_BIND", ":0"))
    pods = []
    for workload in kinds.get("Deployment", []) + kinds.get("StatefulSet", []):
        name = workload["metadata"]["name"]
        spec = workload["spec"]["template"]["spec"]
        labels = workload["spec"]["template"]["metadata"]["labels"]
        check(workload["spec"]["selector"]["matchLabels"].items() <= labels.items(),
              f"k8s: {name}'s selector does not select its pods")
        pods.append(labels)
        check(spec.get("securityContext", {}).get("runAsNonRoot") is True, f"k8s: {name} may run as root")
        for c in spec["containers"]:
            ports = {p["name"]: p for p in c.get("ports", [])}
            check(ports.get("http", {}).get("containerPort") == http_port,
                  f"k8s: {name}'s http port is not LIVESURGERY_HTTP_ADDR's {http_port}")
            for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
                get = c.get(probe, {}).get("httpGet", {})
                check(get.get("path") == path and get.get("port") in ("http", http_port),
                      f"k8s: {name}'s {probe} is not GET {path} on the http port")
            refs = [e.get("configMapRef", {}).get("name") or e.get("secretRef", {}).get("name")
                    for e in c.get("envFrom", [])]
            check("livesurgery-config" in refs and "livesurgery-secrets" in refs,
                  f"k8s: {name} does not read the ConfigMap and the Secret")
            for e in c.get("env", []):
                check(e["name"] in settings, f"k8s: {name} sets {e['name']}, which the server does not read")
            if labels.get("app.kubernetes.io/component") == "sfu":
                media = ports.get("media", {})
                check(spec.get("hostNetwork") is True, f"k8s: the SFU {name} is not on the host network")
                check(media.get("protocol") == "UDP" and media.get("containerPort") == udp_port
                      and media.get("hostPort") == udp_port,
                      f"k8s: the SFU {name}'s media port is not UDP {udp_port} (LIVESURGERY_SFU_UDP_BIND)")
                check(any(e["name"] == "LIVESURGERY_SFU_PUBLIC_IP" for e in c.get("env", [])),
                      f"k8s: the SFU {name} does not set LIVESURGERY_SFU_PUBLIC_IP")
    check(any(p.get("app.kubernetes.io/component") == "sfu" for p in pods), "k8s: no SFU workload")

    def selects(selector):
        return any(selector.items() <= labels.items() for labels in pods)

    for service in kinds.get("Service", []):
        check(selects(service["spec"]["selector"]), f"k8s: Service {service['metadata']['name']} selects no pod")
        for p in service["spec"]["ports"]:
            check(p["targetPort"] in ("http", http_port), f"k8s: Service {service['metadata']['name']} targets another port")
    for pdb in kinds.get("PodDisruptionBudget", []):
        check(selects(pdb["spec"]["selector"]["matchLabels"]), f"k8s: {pdb['metadata']['name']} PDB selects no pod")
    services = {s["metadata"]["name"] for s in kinds.get("Service", [])}
    for ingress in kinds.get("Ingress", []):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]["name"]
                check(backend in services, f"k8s: the Ingress sends {path['path']} to {backend}, not a Service")
    print(f"   {len(docs)} manifests: " + ", ".join(f"{k} x{len(v)}" for k, v in sorted(kinds.items())))


def check_containerfile(settings):
    section("Containerfile")
    text = (OPS / "Containerfile").read_text()
    for name in re.findall(r"\b(LIVESURGERY_[A-Z0-9_]+)=", text):
        check(name in settings, f"Containerfile sets {name}, which the server does not read")
    check(re.search(r"^USER 10001", text, re.M), "Containerfile: not USER 10001")
    check('HEALTHCHECK' in text and "/healthz" in text, "Containerfile: no HEALTHCHECK on /healthz")


def main():
    settings = server_settings()
    check(len(settings) > 20, "found too few LIVESURGERY_ settings in src/: the pattern is stale")
    section("generated files")
    check(slo.main(["--check"]) == 0, "ops/slo.py --check: a generated file is out of date")
    known = readme_metrics()
    src_metrics = server_metrics()
    missing_in_src = sorted(known - src_metrics)
    check(not missing_in_src, f"ops/README.md lists metrics the server's source does not define: {missing_in_src}")
    records = check_rules(known, runbook_sections())
    check_dashboard(records, known)
    check_compose(settings)
    check_k8s(settings)
    check_containerfile(settings)
    for failure in failures:
        print(f"FAIL: {failure}")
    print(f"ops/check.py: {len(failures)} failed" if failures else "ops/check.py: all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
