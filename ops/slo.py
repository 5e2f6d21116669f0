#!/usr/bin/env python3
"""The service level objectives, written once: this script writes the Prometheus rules
(ops/prometheus/livesurgery.rules.yml) and the Grafana dashboard
(ops/grafana/dashboards/livesurgery-slo.json) from the table below.

    python3 ops/slo.py           # rewrite both files
    python3 ops/slo.py --check   # exit 1 when a committed file differs from what it would write

Standard library only. The names (metrics, SLIs, recording rules) are those of the issue 17
contract, summed up in ops/README.md ("Metrics").
"""

import json
import sys
from pathlib import Path

OPS = Path(__file__).resolve().parent
RULES = OPS / "prometheus" / "livesurgery.rules.yml"
DASHBOARD = OPS / "grafana" / "dashboards" / "livesurgery-slo.json"

# The recording rules' windows, shortest first; alerts pair them as the SRE workbook does.
WINDOWS = ["5m", "30m", "1h", "6h", "3d"]
# (speed, long window, short window, burn-rate factor, severity). At 14.4x a 30-day budget is
# gone in about 2 days (2% of it in 1 h); at 6x in 5 days (5% in 6 h); at 1x in 30 days (10% in 3 d).
BURNS = [
    ("FastBurn", "1h", "5m", 14.4, "page"),
    ("SlowBurn", "6h", "30m", 6, "page"),
    ("SteadyBurn", "3d", "6h", 1, "ticket"),
]
DATASOURCE_UID = "livesurgery-prometheus"


def rate(selector, window):
    return f"sum(rate({selector}[{window}]))"


class Slo:
    """One SLO: `name` as in `livesurgery:sli_<name>:ratio_rate<window>`, its objective (the
    share of good events over 30 days), how the SLI is computed, and what a reader needs."""

    def __init__(self, name, title, objective, sli, what, quantile=None):
        self.name = name
        self.title = title
        self.objective = objective
        self.sli = sli  # window -> PromQL of the good/valid ratio, absent when nothing was valid
        self.what = what
        # (rule name, histogram, quantile) of the percentile the issue names, if any.
        self.quantile = quantile

    @property
    def camel(self):
        return "".join(part.capitalize() for part in self.name.split("_"))

    def record(self, window):
        return f"livesurgery:sli_{self.name}:ratio_rate{window}"

    @property
    def budget(self):
        return round(1 - self.objective, 6)


def error_ratio_sli(bad, valid):
    """1 - bad/valid. `or vector(0)`: no bad event yet is a ratio of 0, not a missing one.
    `> 0` on the denominator: with no valid event the SLI is absent, never NaN and never a
    made-up 1 (see ops/README.md, "When nothing happened")."""

    def sli(w):
        valid_rate = " + ".join(rate(v, w) for v in valid)
        if len(valid) > 1:
            valid_rate = f"({valid_rate})"
        return f"1 - (\n  ({rate(bad, w)} or vector(0))\n  /\n  ({valid_rate} > 0)\n)"

    return sli


def histogram_sli(metric, le):
    """The share of observations at or under `le` (a bucket bound of `metric`). The bound is
    matched with and without `.0`: Prometheus 3 writes integral bounds as `2.0`, 2.x as the
    server exposes them (`2`)."""
    le_match = f'le=~"{le}(\\\\.0)?"' if "." not in le else f'le="{le}"'

    def sli(w):
        return (
            f"{rate(f'{metric}_bucket{{{le_match}}}', w)}\n"
            f"/\n({rate(f'{metric}_count', w)} > 0)"
        )

    return sli


BACKLOG_OK = "livesurgery:recording_upload_backlog_within_objective:bool"


def backlog_sli(w):
    # The share of evaluations (one per rule evaluation interval, per server) at which the
    # spool held 20 segments or fewer. Present whenever the gauge was seen in the window.
    return f"sum(sum_over_time({BACKLOG_OK}[{w}]))\n/\nsum(count_over_time({BACKLOG_OK}[{w}]))"


def quantile(short, q):
    rule = f"livesurgery:{short}:p{int(q * 100)}_5m"
    return (rule, f"livesurgery_{short}", q)


SLOS = [
    Slo(
        "join_success", "Join success", 0.999,
        error_ratio_sli('livesurgery_joins_total{outcome="failed"}',
                        ['livesurgery_joins_total{outcome=~"ok|failed"}']),
        "participants:join answers that succeeded, among those not refused; a refusal, a 4xx, "
        "is a correct answer",
    ),
    Slo(
        "join_first_frame", "Join to first frame", 0.95,
        histogram_sli("livesurgery_sfu_join_to_first_frame_seconds", "2"),
        "subscribers whose first keyframe was forwarded within 2 s of their participants:join",
        quantile("sfu_join_to_first_frame_seconds", 0.95),
    ),
    Slo(
        "ws_push_latency", "WebSocket push latency", 0.99,
        histogram_sli("livesurgery_ws_push_latency_seconds", "0.2"),
        "WebSocket pushes handed to the client's socket within 0.2 s of the event's append",
        quantile("ws_push_latency_seconds", 0.99),
    ),
    Slo(
        "rest_availability", "REST availability", 0.999,
        error_ratio_sli('livesurgery_http_requests_total{status_class="5xx"}',
                        ["livesurgery_http_requests_total"]),
        "REST answers that were not 5xx",
    ),
    Slo(
        "rest_latency", "REST latency", 0.99,
        histogram_sli("livesurgery_http_request_duration_seconds", "0.5"),
        "REST answers whose head left within 0.5 s of the request's arrival",
        quantile("http_request_duration_seconds", 0.99),
    ),
    Slo(
        "append_latency", "Event append latency", 0.99,
        histogram_sli("livesurgery_event_append_duration_seconds", "0.1"),
        "command appends durably committed within 0.1 s",
        quantile("event_append_duration_seconds", 0.99),
    ),
    Slo(
        "projection_lag", "Projection lag", 0.99,
        histogram_sli("livesurgery_projection_apply_latency_seconds", "1"),
        "events committed by every projection within 1 s of their append",
    ),
    Slo(
        "sfu_forward_loss", "SFU forwarding loss", 0.995,
        error_ratio_sli("livesurgery_sfu_forward_drops_total",
                        ["livesurgery_sfu_frames_forwarded_total",
                         "livesurgery_sfu_forward_drops_total"]),
        "frames handed to subscribers, of those forwarded or dropped",
    ),
    Slo(
        "sfu_added_latency", "SFU added latency", 0.99,
        histogram_sli("livesurgery_sfu_forward_delay_seconds", "0.02"),
        "frames handed to a subscriber within 20 ms of their arrival from the publisher",
    ),
    Slo(
        "recording_backlog", "Recording upload backlog", 0.99,
        backlog_sli,
        "time (rule evaluations) with 20 or fewer recorded segments waiting in the upload spool",
    ),
]


def runbook(slo):
    return f'ops/README.md, "Runbook", "{slo.title}"'


def indent(text, spaces):
    pad = " " * spaces
    return "\n".join(pad + line if line else line for line in text.split("\n"))


def rules_yaml():
    out = [
        "# GENERATED by ops/slo.py from its SLO table: edit that and run `python3 ops/slo.py`.",
        "# Checked by `promtool check rules`, tested by `promtool test rules ops/prometheus/tests/*.yml`.",
        "#",
        "# SLIs: livesurgery:sli_<name>:ratio_rate<window> is the share of good events among valid",
        "# ones over the window (1 is perfect). It is ABSENT when the window held no valid event",
        "# (no join, no request...): never NaN and never a made-up 1. An absent SLI fires no burn",
        "# alert, so a server that is down or not scraped is caught by LiveSurgeryTargetDown and",
        "# LiveSurgeryTargetMissing instead (ops/README.md, \"When nothing happened\").",
        "#",
        "# Alerts: the SRE workbook's multi-window, multi-burn-rate pairs over a 30-day budget:",
        "# page when the error ratio over 1h AND over 5m exceed 14.4x the budget, or over 6h AND",
        "# 30m exceed 6x; ticket when over 3d AND 6h it exceeds 1x. The short window makes an alert",
        "# stop soon after the burn stops.",
        "groups:",
        "  - name: livesurgery-sli",
        "    rules:",
        f"      - record: {BACKLOG_OK}",
        "        # 1 while a server's upload spool holds 20 segments or fewer, else 0; the backlog",
        "        # SLI averages it over time (a rule instead of a subquery: cheap over 3 days).",
        "        expr: livesurgery_recording_upload_backlog_segments <= bool 20",
    ]
    for slo in SLOS:
        for w in WINDOWS:
            out.append(f"      - record: {slo.record(w)}")
            out.append("        expr: |")
            out.append(indent(slo.sli(w), 10))
    for slo in SLOS:
        if slo.quantile:
            rule, metric, q = slo.quantile
            out.append(f"      - record: {rule}")
            out.append("        expr: |")
            out.append(indent(
                f"histogram_quantile({q}, sum by (le) (rate({metric}_bucket[5m])))\n"
                f"and on ()\n(sum(rate({metric}_count[5m])) > 0)", 10))
    out += [
        "",
        "  - name: livesurgery-slo-alerts",
        "    rules:",
    ]
    for slo in SLOS:
        for speed, long_w, short_w, factor, severity in BURNS:
            threshold = f"{factor} * {slo.budget}"
            out += [
                f"      - alert: LiveSurgery{slo.camel}{speed}",
                "        expr: |",
                indent(
                    f"(1 - {slo.record(long_w)}) > ({threshold})\n"
                    f"and\n(1 - {slo.record(short_w)}) > ({threshold})", 10),
                "        labels:",
                f"          severity: {severity}",
                f"          slo: {slo.name}",
                "        annotations:",
                f"          summary: \"{slo.title} is burning its 30-day error budget at over {factor}x "
                f"({long_w} and {short_w})\"",
                "          description: >-",
                f"            {slo.title} SLI ({slo.what}) over {long_w} is "
                f"{{{{ $value | humanizePercentage }}}} bad, objective {slo.objective * 100:g}%;"
                f" a burn of exactly {factor}x spends the 30-day budget in {30 / factor:.3g} days."
                f" Runbook: {runbook(slo)}.",
            ]
    out += [
        "",
        "  - name: livesurgery-availability",
        "    rules:",
        "      - alert: LiveSurgeryTargetDown",
        "        expr: up{job=\"livesurgery\"} == 0",
        "        for: 2m",
        "        labels:",
        "          severity: page",
        "        annotations:",
        "          summary: \"A LiveSurgery server does not answer its /metrics scrape\"",
        "          description: >-",
        "            {{ $labels.instance }} has not answered Prometheus for 2 minutes; its SLIs are",
        "            absent meanwhile, so no burn alert can fire for it.",
        "            Runbook: ops/README.md, \"Runbook\", \"Target down\".",
        "      - alert: LiveSurgeryTargetMissing",
        "        expr: absent(up{job=\"livesurgery\"})",
        "        for: 5m",
        "        labels:",
        "          severity: page",
        "        annotations:",
        "          summary: \"Prometheus scrapes no LiveSurgery server at all\"",
        "          description: >-",
        "            No target of job livesurgery for 5 minutes (a broken scrape configuration or",
        "            service discovery): every SLI is absent.",
        "            Runbook: ops/README.md, \"Runbook\", \"Target down\".",
    ]
    return "\n".join(out) + "\n"


# ---- the dashboard ----

class Ids:
    def __init__(self):
        self.n = 0

    def next(self):
        self.n += 1
        return self.n


def target(expr, legend, ref, instant=False):
    t = {"datasource": {"type": "prometheus", "uid": DATASOURCE_UID}, "expr": expr,
         "legendFormat": legend, "refId": ref, "range": not instant, "instant": instant}
    return t


def panel(ids, kind, title, x, y, w, h, targets, unit=None, description=None,
          thresholds=None, minimum=None, maximum=None, options=None, line_at=None):
    defaults = {"unit": unit} if unit else {}
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    if thresholds:
        defaults["thresholds"] = {"mode": "absolute", "steps": thresholds}
    if kind == "timeseries":
        defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 0,
                              "spanNulls": False,
                              "thresholdsStyle": {"mode": "line" if line_at else "off"}}
    p = {
        "id": ids.next(),
        "type": kind,
        "title": title,
        "datasource": {"type": "prometheus", "uid": DATASOURCE_UID},
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options or {},
        "targets": targets,
    }
    if description:
        p["description"] = description
    return p


def stat_options():
    return {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value", "graphMode": "none", "textMode": "value",
            "justifyMode": "auto", "orientation": "auto"}


def slo_row(ids, slo, y):
    o = slo.objective
    refs = iter("ABCDEFGH")
    panels = [{"id": ids.next(), "type": "row", "title": f"{slo.title}: objective {o * 100:g}% over 30 days",
               "collapsed": False, "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []}]
    y += 1
    red_below_objective = [{"color": "red", "value": None}, {"color": "green", "value": o}]
    # The 30-day SLI: the mean of the hourly SLI over 30 days. Each hour counts the same
    # whatever its traffic, and hours with no valid event are left out.
    sli_30d = f"avg_over_time({slo.record('1h')}[30d])"
    panels.append(panel(
        ids, "timeseries", f"{slo.title}: SLI", 0, y, 9, 7,
        [target(slo.record(w), w, next(refs)) for w in ("5m", "1h", "6h")],
        unit="percentunit", description=f"Share of {slo.what}. The line is the objective.",
        thresholds=red_below_objective, maximum=1, line_at=o))
    panels.append(panel(
        ids, "stat", "SLI, 30 days", 9, y, 3, 7,
        [target(sli_30d, "30d", "A", instant=True)], unit="percentunit",
        description="Mean of the hourly SLI over 30 days (hours without traffic left out).",
        thresholds=red_below_objective, options=stat_options()))
    panels.append(panel(
        ids, "stat", "Objective", 12, y, 2, 7,
        [target(f"vector({o})", "objective", "A", instant=True)], unit="percentunit",
        options=stat_options()))
    panels.append(panel(
        ids, "stat", "Error budget left, 30 days", 14, y, 3, 7,
        [target(f"1 - (1 - {sli_30d}) / {slo.budget}", "budget left", "A", instant=True)],
        unit="percentunit",
        description=f"1 - (bad share over 30 days) / (1 - {o}): 100% untouched, 0% spent, "
                    "below 0 overspent.",
        thresholds=[{"color": "red", "value": None}, {"color": "orange", "value": 0},
                    {"color": "green", "value": 0.25}],
        options=stat_options()))
    refs = iter("ABCDEFGH")
    second = [target(f"(1 - {slo.record(w)}) / {slo.budget}", w, next(refs)) for w in WINDOWS]
    panels.append(panel(
        ids, "timeseries", "Burn rate (1 = the budget lasts exactly 30 days)", 17, y, 7, 7,
        second, unit="none",
        description="Pages at 14.4 over 1h and 5m, or 6 over 6h and 30m; tickets at 1 over 3d and 6h.",
        thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 6},
                    {"color": "red", "value": 14.4}], minimum=0, line_at=True))
    y += 7
    if slo.quantile:
        rule, _, q = slo.quantile
        panels.append(panel(
            ids, "timeseries", f"{slo.title}: p{int(q * 100)} over 5 minutes", 0, y, 24, 6,
            [target(rule, f"p{int(q * 100)}", "A")], unit="s"))
        y += 6
    return panels, y


def load_row(ids, y):
    panels = [{"id": ids.next(), "type": "row", "title": "Load", "collapsed": False,
               "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []}]
    y += 1
    specs = [
        ("SFU peer connections", [("sum by (role) (livesurgery_sfu_peers)", "{{role}}")], "none"),
        ("Published tracks", [("sum(livesurgery_sfu_tracks)", "tracks")], "none"),
        ("WebSocket clients", [("sum(livesurgery_ws_connected_clients)", "clients")], "none"),
        ("Projection lag (events behind the log)",
         [("max by (instance) (livesurgery_projection_lag_events)", "{{instance}}")], "none"),
        ("Recording upload backlog (segments)",
         [("max by (instance) (livesurgery_recording_upload_backlog_segments)", "{{instance}}")],
         "none"),
        ("REST requests by status class",
         [("sum by (status_class) (rate(livesurgery_http_requests_total[5m]))", "{{status_class}}")],
         "reqps"),
    ]
    for i, (title, exprs, unit) in enumerate(specs):
        refs = iter("ABCD")
        panels.append(panel(ids, "timeseries", title, (i % 3) * 8, y + (i // 3) * 7, 8, 7,
                            [target(e, legend, next(refs)) for e, legend in exprs], unit=unit))
    return panels, y + 14


def dashboard():
    ids = Ids()
    panels, y = [], 0
    for slo in SLOS:
        row, y = slo_row(ids, slo, y)
        panels += row
    row, y = load_row(ids, y)
    panels += row
    return {
        "uid": "livesurgery-slo",
        "title": "LiveSurgery: service level objectives",
        "description": "GENERATED by ops/slo.py. One row per SLO (the SLI, its objective and the "
                       "30-day error budget left), then the load.",
        "tags": ["livesurgery", "slo"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": []},
        "annotations": {"list": []},
        "links": [],
        "panels": panels,
    }


def outputs():
    return {
        RULES: rules_yaml(),
        DASHBOARD: json.dumps(dashboard(), indent=2) + "\n",
    }


def main(argv):
    check = "--check" in argv
    stale = []
    for path, text in outputs().items():
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.relative_to(OPS.parent))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(OPS.parent)}")
    if stale:
        print("out of date with ops/slo.py (run `python3 ops/slo.py`): "
              + ", ".join(map(str, stale)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
