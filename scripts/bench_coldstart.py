#!/usr/bin/env python3
"""Cold start per function against the floor (run by scripts/bench-coldstart).

For every function, n pairs: a fresh table seeded with the world its event expects
(`chore-coldstart prepare`), then one cold start of the chore-garden binary with the
function's environment and event (A) and one of the probe on the same table (B), in
alternating order. Each run is measured by the harness's own `one_run`
(../shared/tools/coldstart/coldstart.py): init = process start to the first
`invocation/next`, total = init + the first invocation, peak RSS. (The harness's CLI cannot
re-seed between runs, and a mutating event, such as complete, approve or accept an invite,
would take another, shorter path on its second run.)

Both reach DynamoDB Local and moto through a TCP proxy here that records when a request went
out and its answer came back, so each run's time spent waiting on AWS is known. Budgets
(issue 6), on the medians of the pairs:
  - init at most 1.3x the probe's;
  - init + first invocation at most 1.3x the probe's plus the function's extra round trips:
    (total A - (wait A - wait B) - extra stages x c) / total B <= 1.3, where wait is the wall
    time covered by round trips (DynamoDB and, where a function enqueues, SQS; calls made
    at once count once and are one stage), wait B the probe's one GetItem, and c what one
    more round trip costs besides the wire (signing, sending, parsing): measured first, as
    the CPU time a copy of the probe that sends its GetItem twice spends over the probe (a
    warm connection and an operation already used, so c is at most what our functions'
    extra calls cost);
  - peak RSS at most 22 MB.
Workers are measured the same way (the probe then answers the health event); their budget is
in the README.
"""
import argparse, json, os, re, select, socket, statistics, subprocess, sys, tempfile, threading, time

INIT_MAX, TOTAL_MAX, RSS_MAX = 1.3, 1.3, 22.0


def union(spans):
    """Stages (groups of overlapping spans) and the wall time they cover, in ms: calls made
    at once are one stage, and their time counts once."""
    stages, total, cur = 0, 0.0, None
    for start, end in sorted(spans):
        if cur and start <= cur[1]:
            cur[1] = max(cur[1], end)
            continue
        if cur:
            total += cur[1] - cur[0]
        stages, cur = stages + 1, [start, end]
    if cur:
        total += cur[1] - cur[0]
    return stages, total * 1000


class Proxy:
    """Forwards 127.0.0.1:<port> to an emulator and records each request's span: from its
    first byte to the last byte of its answer (the next request on a connection starts a new
    span once an answer came back)."""

    def __init__(self, target):
        host, port = target.rsplit("//", 1)[-1].split(":")
        self.target = (host, int(port))
        self.lock = threading.Lock()
        self.spans = []
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self):
        with self.lock:
            self.spans = []

    def taken(self):
        """This run's spans, (start, end) in seconds."""
        with self.lock:
            return [tuple(x) for x in self.spans if x[1] > x[0]]

    def _accept(self):
        while True:
            client, _ = self.listener.accept()
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            upstream = socket.create_connection(self.target)
        except OSError:
            client.close()
            return
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        span, answered = None, False
        try:
            while True:
                readable, _, _ = select.select([client, upstream], [], [])
                for s in readable:
                    data = s.recv(65536)
                    now = time.perf_counter()
                    if not data:
                        return
                    if s is client:
                        if span is None or answered:
                            span, answered = [now, now], False
                            with self.lock:
                                self.spans.append(span)
                        upstream.sendall(data)
                    else:
                        client.sendall(data)
                        if span is not None:
                            span[1] = time.perf_counter()
                            answered = True
        except OSError:
            pass
        finally:
            client.close()
            upstream.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="chore-garden, a native release build")
    ap.add_argument("--probe", required=True, help="the probe's bootstrap")
    ap.add_argument("--probe-two-calls", required=True, help="the probe, sending its GetItem twice")
    ap.add_argument("--harness", required=True, help="directory of coldstart.py")
    ap.add_argument("--seeder", required=True, help="the chore-coldstart binary")
    ap.add_argument("--dynamodb", required=True)
    ap.add_argument("--moto", required=True)
    ap.add_argument("--events", required=True, help="the events/ directory")
    ap.add_argument("-n", type=int, default=15)
    ap.add_argument("--only", action="append", default=[], help="just these functions")
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args()

    sys.path.insert(0, a.harness)
    import coldstart as cs  # the harness: one_run measures one cold start

    ddb, moto = Proxy(a.dynamodb), Proxy(a.moto)

    # CPU time besides wall time: the harness reads peak RSS just before it kills the
    # runtime, which is also when its CPU time (every thread's, from schedstat, in ns) is
    # complete. CPU time does not include waiting, so it is the steadier of the two on a
    # shared machine.
    peak_rss_kb, cpu = cs.peak_rss_kb, {}

    def peak_rss_and_cpu(pid):
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
            cpu["ms"] = sum(int(open(f"/proc/{pid}/task/{t}/schedstat").read().split()[0]) for t in tasks) / 1e6
        except OSError:
            cpu["ms"] = float("nan")
        return peak_rss_kb(pid)

    cs.peak_rss_kb = peak_rss_and_cpu

    def one_run(binary, env, event):
        cs.S.event = event
        ddb.reset()
        moto.reset()
        r = cs.one_run(binary, env)
        # A killed runtime's last `invocation/next` can still sit in its connection's handler
        # thread, which answers it against the harness's global state; if that happens after
        # the next run's reset, the next runtime is parked and never answered. Let it settle.
        time.sleep(0.2)
        spans = ddb.taken() + moto.taken()
        r["round_trips"] = len(spans)
        r["stages"], r["wait_ms"] = union(spans)
        r["cpu_ms"] = cpu.pop("ms", float("nan"))
        return r

    work = tempfile.mkdtemp(prefix="coldstart-")
    seeder_env = dict(os.environ, CG_COLDSTART_DYNAMODB_ENDPOINT=a.dynamodb, CG_COLDSTART_MOTO_ENDPOINT=a.moto)

    def prepare(function, count=False):
        cmd = [a.seeder, "prepare", function, work] + (["--count"] if count else [])
        p = subprocess.run(cmd, env=seeder_env, capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"{function}: chore-coldstart failed: {p.stderr.strip()}")
        return json.loads(p.stdout.strip().splitlines()[-1])

    def lambda_env(prep):
        env = dict(prep["env"])
        env.update({
            "AWS_ENDPOINT_URL_DYNAMODB": ddb.url, "AWS_ENDPOINT_URL_SQS": moto.url, "AWS_ENDPOINT_URL_KMS": moto.url,
            "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
            # What Lambda sets for the template's LoggingConfig (JSON, INFO).
            "AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO",
            "HOME": os.environ.get("HOME", "/tmp"),
        })
        return env

    def answered(function, worker, run):
        # The harness keeps the first 300 bytes of the answer: enough for its status.
        body = run["body"]
        if worker:
            ok = b'"batchItemFailures":[]' in body
        else:
            m = re.search(rb'"statusCode":\s*(\d+)', body)
            ok = m is not None and 200 <= int(m.group(1)) < 300
        if run["status"] != "ok" or not ok:
            raise SystemExit(f"{function}: not a success: {body!r}")

    health = open(os.path.join(a.events, "HealthFunction.json"), "rb").read()
    med = statistics.median

    # c: one more round trip besides its wire time, on the floor's code, in CPU time (the
    # steadier measure on a shared machine: waiting and being descheduled do not count).
    diffs = []
    for i in range(a.n + 1):
        prep = prepare("HealthFunction")
        env = lambda_env(prep)
        one, two = (lambda: one_run(a.probe, env, health)), (lambda: one_run(a.probe_two_calls, env, health))
        # Alternate which of the two meets the fresh table first.
        if i % 2:
            r1 = one(); r2 = two()
        else:
            r2 = two(); r1 = one()
        if i:
            diffs.append(r2["cpu_ms"] - r1["cpu_ms"])
    per_call = max(0.0, med(diffs))
    print(f"one more DynamoDB round trip costs the probe {per_call:.2f} ms of CPU besides the wire"
          f" (median of {len(diffs)} pairs)", flush=True)

    functions = sorted(f[:-5] for f in os.listdir(a.events) if f.endswith(".json"))
    if a.only:
        functions = [f for f in functions if f in a.only]
    results = []
    for function in functions:
        # Workers (SQS) and scheduled jobs are compared with the probe answering the health event.
        worker_event = json.loads(open(os.path.join(a.events, function + ".json")).read())
        worker = "Records" in worker_event or worker_event.get("detail-type") == "Scheduled Event"
        # Its calls, as the handler makes them in-process (a check on the proxy's count).
        counted = prepare(function, count=True)
        if not 200 <= counted["status"] < 300:
            raise SystemExit(f"{function}: in-process run answered {counted['status']}: {counted['body']}")
        pairs = []
        for i in range(a.n + 1):  # the first pair warms the page cache
            prep = prepare(function)
            env = lambda_env(prep)
            event = open(prep["event"], "rb").read()
            # The probe answers API events; a worker is compared on the health event.
            run_a = lambda: one_run(a.bin, env, event)
            run_b = lambda: one_run(a.probe, env, health if worker else event)
            # Alternate which of the two meets the fresh table first.
            if i % 2:
                rb = run_b(); ra = run_a()
            else:
                ra = run_a(); rb = run_b()
            answered(function, worker, ra)
            if i:
                pairs.append((ra, rb))
        init_r = med([x["init_ms"] / y["init_ms"] for x, y in pairs])
        total_r = med([x["total_ms"] / y["total_ms"] for x, y in pairs])
        extra = [x["wait_ms"] - y["wait_ms"] for x, y in pairs]
        # Calls made at once are one stage: the SDK work of all but one overlaps a wait
        # already taken out, so c is credited per stage, not per call.
        net_r = med([(x["total_ms"] - e - max(0, x["stages"] - y["stages"]) * per_call) / y["total_ms"]
                     for (x, y), e in zip(pairs, extra)])
        cpu_r = med([x["cpu_ms"] / y["cpu_ms"] for x, y in pairs])
        rss = max(x["rss_mb"] for x, _ in pairs)
        trips = [x["round_trips"] for x, _ in pairs]
        r = {
            "function": function, "worker": worker,
            "init_ms": med([x["init_ms"] for x, _ in pairs]), "probe_init_ms": med([y["init_ms"] for _, y in pairs]),
            "invoke_ms": med([x["invoke_ms"] for x, _ in pairs]),
            "probe_invoke_ms": med([y["invoke_ms"] for _, y in pairs]),
            "total_ms": med([x["total_ms"] for x, _ in pairs]), "probe_total_ms": med([y["total_ms"] for _, y in pairs]),
            "wait_ms": med([x["wait_ms"] for x, _ in pairs]), "probe_wait_ms": med([y["wait_ms"] for _, y in pairs]),
            "cpu_ms": med([x["cpu_ms"] for x, _ in pairs]), "probe_cpu_ms": med([y["cpu_ms"] for _, y in pairs]),
            "init_ratio": init_r, "total_ratio": total_r, "net_total_ratio": net_r, "cpu_ratio": cpu_r,
            "extra_ms": med(extra),
            "rss_mb": rss, "probe_rss_mb": max(y["rss_mb"] for _, y in pairs),
            "round_trips": max(trips), "stages": max(x["stages"] for x, _ in pairs),
            "calls": [c for c, _ in counted["calls"]],
        }
        if max(trips) != counted["roundTrips"]:
            print(f"  note: {function} made {sorted(set(trips))} round trips cold, {counted['roundTrips']} in-process")
        r["within"] = init_r <= INIT_MAX and (worker or net_r <= TOTAL_MAX) and rss <= RSS_MAX
        r["per_call_ms"] = per_call
        results.append(r)
        print(f"{function:<27} init {init_r:4.2f}x  init+first {total_r:4.2f}x, net of round trips {net_r:4.2f}x"
              f"  CPU {cpu_r:4.2f}x  RSS {rss:4.1f} MB  round trips {r['round_trips']} in {r['stages']} stages (+{r['extra_ms']:4.1f} ms)"
              f"  {'within budget' if r['within'] else 'OVER BUDGET'}", flush=True)

    api = [r for r in results if not r["worker"]]
    if api:
        def mmm(k):
            xs = sorted(r[k] for r in api)
            return f"min {xs[0]:.2f}  median {med(xs):.2f}  max {xs[-1]:.2f}"
        print(f"API functions ({len(api)}): init ratio {mmm('init_ratio')}; init+first ratio {mmm('total_ratio')};"
              f" net of round trips {mmm('net_total_ratio')}; CPU time {mmm('cpu_ratio')}; RSS MB {mmm('rss_mb')}")
        print(f"probe: init {med(r['probe_init_ms'] for r in api):.1f} ms, init+first"
              f" {med(r['probe_total_ms'] for r in api):.1f} ms, CPU {med(r['probe_cpu_ms'] for r in api):.1f} ms, RSS {med(r['probe_rss_mb'] for r in api):.1f} MB")
        print(f"{sum(r['within'] for r in api)} of {len(api)} API functions within budget "
              f"(init <= {INIT_MAX}x, init+first net of round trips <= {TOTAL_MAX}x, RSS <= {RSS_MAX:.0f} MB)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    if not all(r["within"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
