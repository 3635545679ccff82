#!/usr/bin/python3
"""Records Alertmanager 0.25's own answers as the oracle of alerting's routing, grouping and webhook payloads.

    apt-get install prometheus-alertmanager      # Debian 12: alertmanager and amtool 0.25.0
    /usr/bin/python3 tests/ModelOps.Unit.Tests/Fixtures/make_alertmanager_fixtures.py

Writes alertmanager.json beside this script:
- "routes": for each label set, the receivers `amtool config routes test` resolves it to, in order;
- "notifications": the webhook messages a running Alertmanager sent for a batch of alerts posted to its
  /api/v2/alerts (group_wait 1s), with the fingerprints it gave each alert in GET /api/v2/alerts.
Timestamps and externalURL depend on the run and are left out.
"""
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ROUTING_CONFIG = """
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: ['team="ml"']
      receiver: ml
      routes:
        - matchers: ['severity=~"high|critical"']
          receiver: ml-pager
          continue: true
        - matchers: ['model=~"credit-.*"']
          receiver: credit
        - match_re: {service: "drift|fairness"}
          receiver: monitoring
    - matchers: ['team!="ml"', 'severity="critical"']
      receiver: ops-pager
      continue: true
    - match: {alertname: Watchdog}
      receiver: deadman
    - matchers: ['env!~"prod|staging"']
      receiver: sandbox
receivers:
  - name: default
  - name: ml
  - name: ml-pager
  - name: credit
  - name: monitoring
  - name: ops-pager
  - name: deadman
  - name: sandbox
"""

LABEL_SETS = [
    {"alertname": "A"},
    {"alertname": "A", "env": "prod"},
    {"alertname": "A", "env": "production"},
    {"alertname": "A", "team": "ml", "env": "prod"},
    {"alertname": "A", "team": "ml", "severity": "high", "env": "prod"},
    {"alertname": "A", "team": "ml", "severity": "critical", "model": "credit-risk", "env": "prod"},
    {"alertname": "A", "team": "ml", "severity": "warning", "model": "credit-risk", "env": "prod"},
    {"alertname": "A", "team": "ml", "severity": "high", "service": "drift", "env": "prod"},
    {"alertname": "A", "team": "ml", "service": "fairness-x", "env": "prod"},
    {"alertname": "A", "team": "ml", "model": "xcredit-risk", "env": "prod"},
    {"alertname": "A", "team": "ops", "severity": "critical", "env": "prod"},
    {"alertname": "A", "severity": "critical", "env": "prod"},
    {"alertname": "Watchdog", "severity": "critical", "env": "prod"},
    {"alertname": "Watchdog", "severity": "critical", "team": "ml", "env": "prod"},
    {"alertname": "Watchdog", "env": "staging"},
    {"alertname": "Watchdog", "env": "dev"},
    {"alertname": "B", "env": "dev"},
    {"alertname": "B", "team": "ML", "env": "prod"},
]


def routes():
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        f.write(ROUTING_CONFIG)
        path = f.name
    cases = []
    for labels in LABEL_SETS:
        args = [f'{k}={v}' for k, v in labels.items()]
        out = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={path}", *args],
                             check=True, capture_output=True, text=True).stdout.strip()
        cases.append({"labels": labels, "receivers": out.split(",")})
    os.unlink(path)
    return {"config": ROUTING_CONFIG, "cases": cases}


GROUPING_CONFIG = """
route:
  receiver: hook
  group_by: [alertname, model]
  group_wait: 1s
  group_interval: 1h
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      group_by: ['...']
      continue: true
    - matchers: ['team="ml"']
      receiver: capped
receivers:
  - name: hook
    webhook_configs: [{url: "http://127.0.0.1:%(port)d/hook"}]
  - name: pager
    webhook_configs: [{url: "http://127.0.0.1:%(port)d/pager"}]
  - name: capped
    webhook_configs: [{url: "http://127.0.0.1:%(port)d/capped", max_alerts: 2}]
"""

ALERTS = [
    {"labels": {"alertname": "DriftDetected", "model": "credit", "version": "3", "job": "drift", "instance": "b"},
     "annotations": {"summary": "drift share 0.4", "runbook": "r1"}},
    {"labels": {"alertname": "DriftDetected", "model": "credit", "version": "4", "job": "drift", "instance": "a"},
     "annotations": {"summary": "drift share 0.5", "runbook": "r1"}},
    {"labels": {"alertname": "DriftDetected", "model": "credit", "version": "2"},
     "annotations": {"summary": "drift share 0.6", "runbook": "r1"}},
    {"labels": {"alertname": "DriftDetected", "model": "churn", "version": "1", "severity": "critical", "quote": "say \"hi\", then\\go"},
     "annotations": {"summary": "all columns"}},
    {"labels": {"alertname": "HighLatency", "service": "registry", "severity": "critical"},
     "annotations": {"summary": "p99 over 1s"}},
    {"labels": {"alertname": "Bias", "team": "ml", "model": "m1", "attr": "a"}, "annotations": {}},
    {"labels": {"alertname": "Bias", "team": "ml", "model": "m1", "attr": "b"}, "annotations": {}},
    {"labels": {"alertname": "Bias", "team": "ml", "model": "m1", "attr": "c"}, "annotations": {}},
    {"labels": {"alertname": "Ended", "model": "old"}, "annotations": {},
     "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2020-01-01T01:00:00Z"},
]


def notifications():
    hook_port, am_port = free_port(), free_port()
    received = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append({"path": self.path, "body": body})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", hook_port), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    work = tempfile.mkdtemp()
    config = os.path.join(work, "am.yml")
    with open(config, "w") as f:
        f.write(GROUPING_CONFIG % {"port": hook_port})
    am = subprocess.Popen(["prometheus-alertmanager", f"--config.file={config}", f"--storage.path={work}",
                           f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{am_port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/-/ready")
                break
            except OSError:
                time.sleep(0.1)
        request = urllib.request.Request(f"{base}/api/v2/alerts", data=json.dumps(ALERTS).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(request)
        time.sleep(4)
        alerts = json.load(urllib.request.urlopen(f"{base}/api/v2/alerts?active=true&silenced=true&inhibited=true"))
    finally:
        am.terminate()
        am.wait()
        server.shutdown()

    fingerprints = sorted([{"labels": a["labels"], "fingerprint": a["fingerprint"]} for a in alerts],
                          key=lambda a: a["fingerprint"])
    messages = []
    for r in received:
        body = r["body"]
        messages.append({
            "path": r["path"],
            "receiver": body["receiver"],
            "status": body["status"],
            "groupKey": body["groupKey"],
            "groupLabels": body["groupLabels"],
            "commonLabels": body["commonLabels"],
            "commonAnnotations": body["commonAnnotations"],
            "truncatedAlerts": body["truncatedAlerts"],
            "version": body["version"],
            "alerts": [{"status": a["status"], "labels": a["labels"], "annotations": a["annotations"],
                        "fingerprint": a["fingerprint"], "endsAt": a["endsAt"]} for a in body["alerts"]],
        })
    messages.sort(key=lambda m: (m["receiver"], m["groupKey"]))
    return {"config": GROUPING_CONFIG, "alerts": ALERTS, "fingerprints": fingerprints, "messages": messages}


if __name__ == "__main__":
    fixture = {"generator": "make_alertmanager_fixtures.py with Debian's prometheus-alertmanager 0.25.0",
               "routes": routes(), "notifications": notifications()}
    with open(os.path.join(HERE, "alertmanager.json"), "w") as f:
        json.dump(fixture, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{len(fixture['routes']['cases'])} routing cases, {len(fixture['notifications']['messages'])} messages")
