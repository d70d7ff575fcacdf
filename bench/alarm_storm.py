"""Benchmark: an alarm storm against the webhooks of a real `lbhealth serve`-style process.

Starts, all on loopback: a private redis-server, the fake Slack Web API, the fake Kubernetes API
(TargetGroupBindings + Services for the AWS target groups, Services annotated with their CLB id
for the Tencent ones), the fake Tencent API (one CLB per Tencent alarm), a server process that
builds the app exactly as `lbhealth serve` does (bot.serve.WebServer: gunicorn, same processes, threads
and body limit) except for one thing: the SNS certificate source reads the bench's self-signed
certificate from a file instead of fetching https://sns.<region>.amazonaws.com (nothing here
leaves the machine); the server gets no kubeconfig and no cloud credentials, as in the chart.
And one process running what each `lbhealth worker` runs for new incidents (bot.app.alarm_follow_ups:
the Service behind the alarm, the root message, the diagnosis job) but no rq worker, so that the
jobs stay queued to be counted. Then, released together from --clients threads with keep-alive connections:

- 1,000 deliveries of ONE CloudWatch alarm (SNS, signed): half are SNS retries of the first
  message (same MessageId), half are re-deliveries with their own MessageIds (the alarm repeating);
- 100 distinct alarms: 80 CloudWatch (SNS, signature versions 1 and 2 mixed; ALB and NLB target
  groups) and 20 Tencent Cloud Monitor callbacks (CLB listeners), each for its own Service.

Bars (DESIGN.md / issue 4): diagnosis jobs queued == 101, Slack root messages == 101, webhook
p99 < 150 ms. What is answered 5xx is re-sent afterwards, as SNS and Tencent Cloud Monitor do
(1 s apart instead of SNS's 20 s), and must then be accepted. No diagnosis runs: the jobs stay in the queue, to be counted.

    .venv/bin/python bench/alarm_storm.py
    .venv/bin/python bench/alarm_storm.py --copies 1000 --distinct 100 --clients 64 --threads 16
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REGION, ACCOUNT = "eu-west-1", "123456789012"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:lbhealth-alarms"
TENCENT_SECRET = "bench-tencent-path-secret"
CHANNEL = "C0ALARMS"


# ---- the server process -----------------------------------------------------------------------------


class FileCertSource:
    """Bench only: every validated SNS certificate URL answers with the bench's self-signed certificate."""

    def __init__(self, path: str) -> None:
        self.pem = Path(path).read_bytes()

    def get(self, url: str) -> bytes:
        from bot.webhooks.sns import validate_cert_url

        validate_cert_url(url)
        return self.pem


def serve(port_file: str, cert: str) -> int:
    """`lbhealth serve` (bot.serve.WebServer: gunicorn, LBHEALTH_HTTP_PROCESSES web processes), with the
    local certificate source given to the webhooks."""
    from bot.logs import setup_logging
    from bot.serve import WebServer, use_metrics_dir
    from bot.settings import get_settings
    from tests.fakes.redis_server import free_port

    settings = get_settings()
    setup_logging("WARNING")
    port = free_port()
    Path(port_file).write_text(str(port))
    use_metrics_dir()
    WebServer(settings, "127.0.0.1", port, webhook_options={"cert_source": FileCertSource(cert)}).run()
    return 0


def follow(ready_file: str) -> int:
    """The alarm follow-up of one `lbhealth worker` process (bot.worker_process builds it the same way)."""
    import signal

    from bot.app import alarm_follow_ups
    from bot.logs import setup_logging
    from bot.redis_conn import redis_client
    from bot.settings import get_settings
    from bot.slack.client import client_from_settings

    settings = get_settings()
    setup_logging("WARNING")
    redis = redis_client(settings, role="worker")
    follow_ups = alarm_follow_ups(settings, redis, client_from_settings(settings), warm=True).start()
    Path(ready_file).write_text("ready")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    follow_ups.stop()
    return 0


# ---- payloads -----------------------------------------------------------------------------------------


def tg_dim(i: int, kind: str = "alb") -> str:
    return f"targetgroup/k8s-{kind}{i:03d}-svc{i:03d}-{i:05x}/{i:016x}"


def cw_alarm(i: int, *, state="ALARM", changed_s: int = 0, nlb: bool = False) -> dict:
    ns = "AWS/NetworkELB" if nlb else "AWS/ApplicationELB"
    lb = f"{'net' if nlb else 'app'}/k8s-lb{i:03d}/{i:016x}"
    name = f"svc{i:03d}-unhealthy-hosts"
    t = time.gmtime(1_800_000_000 + changed_s)
    return {
        "AlarmName": name, "AlarmDescription": "unhealthy targets", "AWSAccountId": ACCOUNT, "NewStateValue": state,
        "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints [2.0] was greater than or equal to the threshold (1.0)",
        "StateChangeTime": time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", t), "Region": "EU (Ireland)",
        "AlarmArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}", "OldStateValue": "OK",
        "Trigger": {"MetricName": "UnHealthyHostCount", "Namespace": ns, "StatisticType": "Statistic", "Statistic": "MINIMUM",
                    "Unit": None, "Dimensions": [{"value": tg_dim(i), "name": "TargetGroup"}, {"value": lb, "name": "LoadBalancer"}],
                    "Period": 60, "EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanOrEqualToThreshold", "Threshold": 1.0,
                    "TreatMissingData": "missing", "EvaluateLowSampleCountPercentile": ""},
    }


def tencent_alarm(j: int, session: str) -> dict:
    vip = f"127.0.1.{j + 1}"
    return {
        "sessionId": session, "alarmStatus": "1", "alarmType": "metric",
        "alarmObjInfo": {"region": "gz", "namespace": "qce/lb_public", "appId": "1250000000", "uin": "100000000001",
                         "dimensions": {"protocol": "tcp", "vip": vip, "vport": 80, "objId": f"{vip}#80#tcp"}},
        "alarmPolicyInfo": {"policyId": f"policy-{j:08d}", "policyType": "clb_public_listener", "policyName": f"clb-{j}-unhealthy",
                            "conditions": {"metricName": "unhealthrscount", "calcType": ">", "calcValue": "0", "currentValue": "1"}},
        "firstOccurTime": "2026-11-21 18:00:00", "durationTime": 60, "recoverTime": "0",
    }


def kube_objects(n_aws: int, n_tc: int) -> list[dict]:
    objs = []
    for i in range(n_aws):
        ns, svc = f"team{i % 10}", f"svc{i:03d}"
        objs.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": svc, "namespace": ns, "uid": f"uid-{i}"},
                     "spec": {"type": "ClusterIP", "selector": {"app": svc}, "ports": [{"port": 80, "targetPort": 8080}]}})
        objs.append({"apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding",
                     "metadata": {"name": f"k8s-{svc}", "namespace": ns},
                     "spec": {"serviceRef": {"name": svc, "port": 80}, "targetType": "ip",
                              "targetGroupARN": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:{tg_dim(i)}"}})
    for j in range(n_tc):
        ns, svc = "tke", f"clb{j:03d}"
        objs.append({"apiVersion": "v1", "kind": "Service",
                     "metadata": {"name": svc, "namespace": ns, "uid": f"uid-tc-{j}",
                                  "annotations": {"service.kubernetes.io/loadbalance-id": f"lb-bench{j:04d}"}},
                     "spec": {"type": "LoadBalancer", "selector": {"app": svc}, "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30000 + j}]},
                     "status": {"loadBalancer": {"ingress": [{"ip": f"127.0.1.{j + 1}"}]}}})
    return objs


# ---- the storm ------------------------------------------------------------------------------------------


def load(port: int, requests: list, clients: int, barrier, out_q) -> None:
    """One load-generator process: `clients` threads, keep-alive connections, released together."""
    results: list[tuple[str, int, float]] = []
    unaccepted: list[tuple[str, str, bytes, dict[str, str]]] = []  # answered 5xx or not at all: the sender retries
    lock = threading.Lock()
    cursor = iter(range(len(requests)))
    start = threading.Barrier(clients + 1)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        start.wait()
        while True:
            with lock:
                idx = next(cursor, None)
            if idx is None:
                break
            kind, path, body, headers = requests[idx]
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except OSError:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = 0
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                results.append((kind, status, ms))
                if not 200 <= status < 500:
                    unaccepted.append(requests[idx])
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start.wait()
    for t in threads:
        t.join()
    out_q.put((results, unaccepted))


def redeliver(port: int, unaccepted: list, rounds: int = 3, delay_s: float = 1.0) -> tuple[int, int]:
    """Re-send what was answered 5xx, as the senders do (SNS's default HTTP policy waits 20 s; compressed
    to `delay_s` here). A 503 is the webhook's "retry later" (e.g. while a signing certificate is
    being fetched: only two requests per process wait for a fetch). Returns (accepted on a retry, never accepted)."""
    pending, accepted = list(unaccepted), 0
    for _ in range(rounds):
        if not pending:
            break
        time.sleep(delay_s)
        retry_later = []
        for kind, path, body, headers in pending:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request("POST", path, body=body, headers=headers)
                status = conn.getresponse().status
            except OSError:
                status = 0
            finally:
                conn.close()
            if 200 <= status < 300:
                accepted += 1
            else:
                retry_later.append((kind, path, body, headers))
        pending = retry_later
    return accepted, len(pending)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def wait_port(port_file: Path, proc: subprocess.Popen, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        if port_file.exists() and port_file.read_text().strip():
            port = int(port_file.read_text())
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    return port
            except OSError:
                pass
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def wait_ready(ready_file: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ready_file.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"follow-up process exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError("follow-up process did not start")
        time.sleep(0.1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", type=int, default=1000, help="deliveries of the one repeated alarm")
    ap.add_argument("--distinct", type=int, default=100, help="distinct alarms (80%% CloudWatch, 20%% Tencent)")
    ap.add_argument("--clients", type=int, default=64, help="concurrent client connections")
    ap.add_argument("--threads", type=int, default=16, help="threads per web process (LBHEALTH_HTTP_THREADS)")
    ap.add_argument("--procs", type=int, default=2, help="load-generator processes (the clients are split among them)")
    ap.add_argument("--processes", type=int, default=2, help="web processes of lbhealth serve (LBHEALTH_HTTP_PROCESSES; 2 = the cores here)")
    ap.add_argument("--runs", type=int, default=3, help="repeat the whole storm (fresh servers); p99 bar on the median")
    ap.add_argument("--serve", nargs=2, metavar=("PORT_FILE", "CERT"), help=argparse.SUPPRESS)
    ap.add_argument("--follow", metavar="READY_FILE", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        return serve(*args.serve)
    if args.follow:
        return follow(args.follow)
    runs = [run_storm(args, i + 1) for i in range(max(1, args.runs))]
    p99s = [r["p99"] for r in runs]
    median = sorted(p99s)[len(p99s) // 2]
    counts_ok = all(r["counts_ok"] for r in runs)
    print(f"\n== {len(runs)} run(s): webhook p99 per run {', '.join(f'{x:.1f}' for x in p99s)} ms; median {median:.1f} ms "
          f"(bar < 150: {'MET' if median < 150 else 'NOT MET'}); jobs/roots/incidents exactly "
          f"{1 + args.distinct} in every run: {'MET' if counts_ok else 'NOT MET'}")
    print(f"rerun: .venv/bin/python bench/alarm_storm.py --copies {args.copies} --distinct {args.distinct} "
          f"--clients {args.clients} --threads {args.threads} --procs {args.procs} --processes {args.processes} --runs {args.runs}")
    return 0 if counts_ok and median < 150 else 1


def run_storm(args: argparse.Namespace, run_no: int = 1) -> dict:
    import socketserver

    # The fakes answer headers and body in separate writes; without TCP_NODELAY every keep-alive call
    # to them would wait for a 40 ms delayed ACK, a cost of the fakes, not of lbhealth.
    socketserver.StreamRequestHandler.disable_nagle_algorithm = True

    from redis import Redis

    from bot.queue import queue_counts
    from tests.fakes.kube_api import FakeKubeAPI
    from tests.fakes.redis_server import RedisServer
    from tests.fakes.slack_api import FakeSlackAPI
    from tests.fakes.tencent_api import FakeTencentAPI
    from tests.webhooks.sns_signing import Signer

    n_tc = args.distinct // 5
    n_cw = args.distinct - n_tc
    tmp = Path(tempfile.mkdtemp(prefix="lbhealth-storm-"))
    redis_srv, slack, kube, tencent = RedisServer(), FakeSlackAPI(), FakeKubeAPI(kube_objects(n_cw + 1, n_tc)).start(), FakeTencentAPI().start()
    for j in range(n_tc):
        tencent.cloud.add_load_balancer({"LoadBalancerId": f"lb-bench{j:04d}", "LoadBalancerName": f"clb{j}", "LoadBalancerType": "OPEN",
                                         "Forward": 1, "LoadBalancerVips": [f"127.0.1.{j + 1}"], "Status": 1, "VpcId": "vpc-1"})
    kubeconfig = kube.write_kubeconfig(str(tmp / "kubeconfig"), context="bench")
    cfg = tmp / "lbhealth.yaml"
    # 100 target groups of one account alarming within a second (an AZ outage): allowed here, above the
    # policy's default bound on new incidents per sender (30 a minute), since the bench counts every thread
    cfg.write_text(f"clusters:\n  - {{name: bench, context: bench, region: {REGION}}}\nalarm_channel: {CHANNEL}\n"
                   "access: {rate_limits: {incidents_per_sender: 1000}}\n")
    signer = Signer()
    (tmp / "sns.pem").write_bytes(signer.cert)
    env = dict(os.environ, REDIS_URL=redis_srv.url, SLACK_API_URL=slack.url, SLACK_BOT_TOKEN="xoxb-bench", SLACK_SIGNING_SECRET="bench",
               LBHEALTH_CONFIG=str(cfg), LBHEALTH_SNS_TOPICS=TOPIC, LBHEALTH_TENCENT_WEBHOOK_SECRET=TENCENT_SECRET,
               LBHEALTH_HTTP_THREADS=str(args.threads), LBHEALTH_HTTP_PROCESSES=str(args.processes), KUBECONFIG=str(tmp / "none"),
               PYTHONPATH=str(ROOT))
    for name in ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(name, None)
    worker_env = dict(env, KUBECONFIG=kubeconfig, LBHEALTH_TENCENT_ENDPOINT=tencent.url, TENCENTCLOUD_SECRET_ID="AKIDbench",
                      TENCENTCLOUD_SECRET_KEY="bench", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_ENDPOINT_URL="http://127.0.0.1:9")
    port_file, ready_file = tmp / "port", tmp / "follow-ready"
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port_file), str(tmp / "sns.pem")], env=env, cwd=ROOT)
    follower = subprocess.Popen([sys.executable, __file__, "--follow", str(ready_file)], env=worker_env, cwd=ROOT)
    try:
        port = wait_port(port_file, server)
        wait_ready(ready_file, follower)

        # Pre-sign everything (RSA signing is the client's cost, not the server's).
        requests: list[tuple[str, str, bytes, dict[str, str]]] = []  # (kind, path, body, headers)

        def sns_req(msg: dict) -> tuple[str, str, bytes, dict[str, str]]:
            return ("sns", "/webhooks/cloudwatch", json.dumps(msg).encode(),
                    {"x-amz-sns-message-type": "Notification", "x-amz-sns-message-id": msg["MessageId"],
                     "x-amz-sns-topic-arn": TOPIC, "Content-Type": "text/plain; charset=UTF-8"})

        first = signer.notification(cw_alarm(0), topic=TOPIC, version="2")
        retries = args.copies // 2
        for _ in range(retries):
            requests.append(sns_req(first))
        for k in range(args.copies - retries):
            requests.append(sns_req(signer.notification(cw_alarm(0, changed_s=k + 1), topic=TOPIC, version="1" if k % 2 else "2")))
        for i in range(1, n_cw + 1):
            requests.append(sns_req(signer.notification(cw_alarm(i, nlb=i % 4 == 0), topic=TOPIC, version="1" if i % 2 else "2")))
        for j in range(n_tc):
            requests.append(("tencent", f"/webhooks/tencent/{TENCENT_SECRET}", json.dumps(tencent_alarm(j, str(uuid.uuid4()))).encode(),
                             {"Content-Type": "application/json"}))
        random.Random(7).shuffle(requests)

        # The load comes from --procs separate processes (threads each), so that neither the fakes nor
        # the server compete with the load generator for this process's interpreter lock.
        ctx = mp.get_context("spawn")
        procs_n = max(1, min(args.procs, args.clients))
        barrier = ctx.Barrier(procs_n + 1)
        out_q = ctx.Queue()
        shares = [requests[i::procs_n] for i in range(procs_n)]
        per_proc = [args.clients // procs_n + (1 if i < args.clients % procs_n else 0) for i in range(procs_n)]
        loaders = [ctx.Process(target=load, args=(port, shares[i], per_proc[i], barrier, out_q)) for i in range(procs_n)]
        for lp in loaders:
            lp.start()
        load_before = os.getloadavg()[0]
        barrier.wait()
        t_start = time.perf_counter()
        results: list[tuple[str, int, float]] = []
        unaccepted: list[tuple[str, str, bytes, dict[str, str]]] = []
        for _ in loaders:
            got, missed = out_q.get(timeout=300)
            results += got
            unaccepted += missed
        wall = time.perf_counter() - t_start
        for lp in loaders:
            lp.join()
        redelivered, still_refused = redeliver(port, unaccepted)

        redis = Redis.from_url(redis_srv.url)
        expected = 1 + args.distinct
        # The answers come once the alarm is recorded; Service lookup, root message and job follow
        # in the worker-side follow-up: wait for them (bounded), then count.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (queue_counts(redis)["queued"] < expected or redis.zcard("lbhealth:incidents:pending")):
            time.sleep(0.1)
        settle = time.perf_counter() - t_start
        queued = queue_counts(redis)["queued"]
        roots = [c for c in slack.calls_to("chat.postMessage") if not c.args.get("thread_ts")]
        follow: list[tuple[str, float, float]] = []  # (source, opened -> root posted, opened -> job queued) in ms
        incidents = 0
        for key in redis.scan_iter("lbhealth:incident:*", count=1000):
            if key.count(b":") != 2:
                continue
            incidents += 1
            h = {k.decode(): v.decode() for k, v in redis.hgetall(key).items()}
            if h.get("root_posted_at") and h.get("queued_at"):
                src = "tencent" if h.get("key", "").startswith("tencent:") else "sns"
                follow.append((src, (float(h["root_posted_at"]) - float(h["opened_at"])) * 1000,
                               (float(h["queued_at"]) - float(h["opened_at"])) * 1000))
        time.sleep(6)  # let the coalesced root updates (one per incident per 5 s) happen
        updates = slack.calls_to("chat.update")
        lat = [ms for _, _, ms in results]
        statuses: dict[int, int] = {}
        for _, s, _ in results:
            statuses[s] = statuses.get(s, 0) + 1
        by_kind = {k: [ms for kk, _, ms in results if kk == k] for k in ("sns", "tencent")}

        total = len(requests)
        print(f"\n[run {run_no}] alarm storm: {args.copies} deliveries of one CloudWatch alarm ({retries} SNS retries + {args.copies - retries} repeats) "
              f"+ {n_cw} distinct CloudWatch + {n_tc} distinct Tencent alarms = {total} POSTs")
        print(f"server: lbhealth serve ({args.processes} web process(es) x {args.threads} threads), {args.clients} concurrent keep-alive clients "
              f"in {procs_n} processes; "
              f"machine: {os.cpu_count()} CPUs (1-min load {load_before:.2f} before the storm), Python {sys.version.split()[0]}; HTTP statuses {dict(sorted(statuses.items()))}; "
              f"wall {wall:.2f} s ({total / wall:.0f} req/s); all roots posted and jobs queued {settle:.2f} s after the first POST\n")
        print(f"{'measure':<44}{'n':>6}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
        print("-" * 77)
        for label, vals in (("all webhook responses", lat), ("  SNS (CloudWatch) responses", by_kind["sns"]),
                            ("  Tencent callback responses", by_kind["tencent"])):
            print(f"{label:<44}{len(vals):>6}{pct(vals, 50):>9.1f}{pct(vals, 99):>9.1f}{max(vals or [0]):>9.1f}")
        for label, vals in (("alarm recorded -> root message posted", [x[1] for x in follow]),
                            ("alarm recorded -> diagnosis job queued", [x[2] for x in follow])):
            if vals:
                print(f"{label:<44}{len(vals):>6}{pct(vals, 50):>9.1f}{pct(vals, 99):>9.1f}{max(vals):>9.1f}")
        print("-" * 77)
        rows = [
            ("incidents recorded in Redis", incidents, expected, incidents == expected),
            ("diagnosis jobs queued", queued, expected, queued == expected),
            ("Slack root messages", len(roots), expected, len(roots) == expected),
            ("webhook p99 response (ms)", round(pct(lat, 99), 1), "< 150", pct(lat, 99) < 150),
            ("deliveries not accepted after the senders' retries", still_refused, 0, still_refused == 0),
        ]
        print(f"{'bar':<44}{'measured':>12}{'target':>10}  result")
        for name, value, target, ok in rows:
            print(f"{name:<44}{value!s:>12}{target!s:>10}  {'MET' if ok else 'NOT MET'}")
        print(f"(chat.update calls for the repeats, coalesced: {len(updates)}; first answers that were 5xx, "
              f"accepted when re-sent as SNS/Tencent would: {redelivered})")
        redis.close()
        return {"p99": pct(lat, 99), "counts_ok": all(ok for name, *_, ok in rows if "p99" not in name)}
    finally:
        for proc in (server, follower):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        kube.stop()
        tencent.stop()
        slack.stop()
        redis_srv.stop()


if __name__ == "__main__":
    sys.exit(main())
