#!/usr/bin/env python3
"""The server under faults, at 16 connections, on one machine (figures for docs/running.md; not part of .ci/run).

    .venv/bin/python scripts/fault_proof.py                  # about 2 minutes; --db, --json FILE

1. swap: 30 s of load (wrk, else a Python loader) over validate-code, lookup and translate requests
   sampled from the build, 2 workers, the default settings; after 4 s POST /admin/reload rebuilds and swaps
   a new build in, then `termsvc build` does it again. Counts non-2xx answers and socket errors (must be 0)
   and the swaps that landed during the load (termsvc_build_generation in /metrics: 3 after both).
2. SIGTERM: 16 Python connections (keep-alive) of load and 4 costly requests in flight (each runs to its
   time limit, 2 s, and answers 422); SIGTERM to the server's main process after 4 s. Every request sent
   before the signal must get its answer; the server must exit within 10 s.
3. SIGKILL: the same load; one of the 2 workers is killed with SIGKILL after 4 s. Counts the requests lost
   (those the killed worker held), how long the replacement took, and that every request sent after it
   came up was answered.
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (request sets, wrk, the server process)

TERMSVC = os.path.join(os.path.dirname(sys.executable), "termsvc")
TOKEN = "fault-proof-token"
CONNECTIONS = 16


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def costly_expand() -> bytes:
    """$expand of a value set whose filter walks a 20,000-deep hierarchy: minutes without a time limit."""
    n = 20_000
    concepts = [{"code": f"c{i}", **({"property": [{"code": "parent", "valueCode": f"c{i - 1}"}]} if i else {})}
                for i in range(n)]
    cs = {"resourceType": "CodeSystem", "url": "http://example.org/cs/chain", "version": "1", "status": "active",
          "content": "complete", "hierarchyMeaning": "is-a",
          "property": [{"code": "parent", "uri": "http://hl7.org/fhir/concept-properties#parent", "type": "code"}],
          "concept": concepts}
    vs = {"resourceType": "ValueSet", "url": "http://example.org/vs/chain", "status": "active",
          "compose": {"include": [{"system": cs["url"], "filter": [{"property": "concept", "op": "generalizes",
                                                                     "value": f"c{n - 1}"}]}]}}
    return json.dumps({"resourceType": "Parameters", "parameter": [
        {"name": "url", "valueUri": vs["url"]}, {"name": "tx-resource", "resource": cs},
        {"name": "tx-resource", "resource": vs}]}).encode()


class PythonLoad:
    """CONNECTIONS keep-alive connections sending the paths in turn; every answer or error with its times."""

    def __init__(self, base: str, paths: list[str]):
        self.host, self.port = base.split("//")[1].split(":")
        self.paths, self.running, self.results = paths, True, []
        self.threads = [threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(CONNECTIONS)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def _run(self, k):
        conn, i = None, k * 7919
        while self.running:
            path = self.paths[i % len(self.paths)]
            i += 1
            sent = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.host, int(self.port), timeout=15)
                conn.request("GET", path, headers={"Accept": "application/fhir+json"})
                response = conn.getresponse()
                response.read()
                outcome = response.status
            except (OSError, http.client.HTTPException) as e:
                outcome = type(e).__name__
                conn = None
                time.sleep(0.01)
            self.results.append((sent, time.monotonic(), outcome))

    def stop(self):
        self.running = False
        for t in self.threads:
            t.join(20)


def metric(base: str, name: str) -> float | None:
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
    return None


def workers_of(pid: int) -> set[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return {int(p) for p in f.read().split()}


def phase_swap(db: str, port: int, path_file: str, seconds: int) -> dict:
    """Load for `seconds`; POST /admin/reload after 4 s, then `termsvc build` as soon as it has swapped."""
    server = bench.Server(db, port, 2, None)
    loader = bench.run_wrk if shutil.which("wrk") else bench.run_python
    result, swaps = {}, []
    load = threading.Thread(target=lambda: result.update(loader(server.base, path_file, CONNECTIONS, seconds)))
    try:
        started = time.monotonic()
        load.start()
        time.sleep(4)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        req = urllib.request.Request(server.base + "/admin/reload", method="POST", headers=auth)
        with urllib.request.urlopen(req, timeout=10) as r:
            job_url = json.loads(r.read())["job"]["url"]
        while True:
            with urllib.request.urlopen(urllib.request.Request(server.base + job_url, headers=auth), timeout=10) as r:
                job = json.loads(r.read())
            if job["state"] in ("succeeded", "failed"):
                break
            time.sleep(0.2)
        swaps.append({"how": "POST /admin/reload", "state": job["state"], "build_s": job.get("seconds"),
                      "swapped_at_s": round(time.monotonic() - started, 1)})
        t0 = time.monotonic()
        done = subprocess.run([TERMSVC, "build", "--db", db, "--quiet"], capture_output=True)
        swaps.append({"how": "termsvc build", "state": "succeeded" if done.returncode == 0 else "failed",
                      "build_s": round(time.monotonic() - t0, 1), "swapped_at_s": round(time.monotonic() - started, 1)})
        for swap in swaps:
            log(f"swap: {swap}")
        load.join()
        time.sleep(1.5)
        generation = metric(server.base, "termsvc_build_generation")
    finally:
        server.stop()
    failed = sum(result.get(k, 0) for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    return {"seconds": seconds, "requests": result["requests"],
            "rps": round(result["requests"] / (result["duration_us"] / 1e6)), "non_2xx": result["non_2xx"],
            "socket_errors": failed, "loader": loader.__name__, "swaps": swaps,
            "swaps_during_load": sum(1 for s in swaps if s["state"] == "succeeded" and s["swapped_at_s"] < seconds),
            "build_generation_after": generation}


def phase_sigterm(db: str, port: int, paths: list[str]) -> dict:
    os.environ["TERMSVC_TIME_LIMIT_MS"] = "2000"
    try:
        server = bench.Server(db, port, 2, 0)
    finally:
        del os.environ["TERMSVC_TIME_LIMIT_MS"]
    load = PythonLoad(server.base, paths).start()
    costly, body = [], costly_expand()

    def send_costly():
        sent = time.monotonic()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request("POST", "/fhir/ValueSet/$expand", body=body, headers={"Content-Type": "application/fhir+json"})
            r = c.getresponse()
            r.read()
            costly.append((sent, r.status))
        except (OSError, http.client.HTTPException) as e:
            costly.append((sent, type(e).__name__))
    threads = [threading.Thread(target=send_costly) for _ in range(4)]
    time.sleep(3.5)
    for t in threads:
        t.start()
    time.sleep(0.5)
    signalled = time.monotonic()
    os.kill(server.proc.pid, signal.SIGTERM)
    try:
        server.proc.wait(15)
    except subprocess.TimeoutExpired:
        pass
    exit_s = time.monotonic() - signalled
    for t in threads:
        t.join(20)
    load.stop()
    server.stop()
    before = [r for r in load.results if r[0] < signalled]
    lost = [r for r in before if r[2] != 200]
    return {"exit_s": round(exit_s, 2), "requests_sent_before_sigterm": len(before),
            "of_them_not_answered_200": len(lost), "in_flight_at_sigterm": sum(1 for r in before if r[1] > signalled),
            "costly_in_flight": [status for _, status in costly],
            "refused_after": sum(1 for r in load.results if r[0] >= signalled)}


def phase_sigkill(db: str, port: int, paths: list[str], seconds: int = 12) -> dict:
    server = bench.Server(db, port, 2, None)
    load = PythonLoad(server.base, paths).start()
    try:
        time.sleep(4)
        before = workers_of(server.proc.pid)
        victim = min(before)
        killed = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        replaced = None
        while time.monotonic() - killed < 30:
            now = workers_of(server.proc.pid)
            if len(now) == 2 and victim not in now:
                replaced = time.monotonic()
                break
            time.sleep(0.05)
        time.sleep(max(0.0, seconds - 4 - (time.monotonic() - killed)))
    finally:
        load.stop()
        server.stop()
    failed = [r for r in load.results if r[2] != 200]
    after = [r for r in load.results if replaced and r[0] > replaced]
    return {"requests": len(load.results), "failed": len(failed),
            "failed_kinds": sorted({str(r[2]) for r in failed}),
            "failed_sent_after_kill_s": [round(r[0] - killed, 3) for r in failed][:20],
            "replaced_after_s": round(replaced - killed, 2) if replaced else None,
            "requests_after_replacement": len(after), "failed_after_replacement": sum(1 for r in after if r[2] != 200),
            "rps_before": round(sum(1 for r in load.results if r[0] < killed) / 4)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", help="a build to copy and serve (default: build the default content)")
    ap.add_argument("--port", type=int, default=18610)
    ap.add_argument("--seconds", type=int, default=30, help="seconds of load of the swap phase (30)")
    ap.add_argument("--work", default="/tmp/termsvc-fault-proof")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args(argv)
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    db = os.path.join(args.work, "termsvc.db")
    if args.db:
        shutil.copyfile(args.db, db)
    else:
        subprocess.run([TERMSVC, "build", "--db", db, "--quiet"], check=True)
    os.environ["TERMSVC_ADMIN_TOKEN"] = TOKEN
    os.environ["TERMSVC_ACCESS_LOG"] = "on"
    sets, _, _ = bench.build_sets(db)
    paths = sets["validate-code"] + sets["lookup"] + sets["translate"]
    path_file = os.path.join(args.work, "calls.txt")
    with open(path_file, "w") as f:
        f.write("\n".join(paths) + "\n")
    report = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "cpus": os.cpu_count(), "requests_sampled": len(paths)}
    report["swap"] = phase_swap(db, args.port, path_file, args.seconds)
    log(f"swap: {report['swap']}")
    report["sigterm"] = phase_sigterm(db, args.port, paths)
    log(f"sigterm: {report['sigterm']}")
    report["sigkill"] = phase_sigkill(db, args.port, paths)
    log(f"sigkill: {report['sigkill']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    ok = (report["swap"]["non_2xx"] == 0 and report["swap"]["socket_errors"] == 0 and report["swap"]["swaps_during_load"]
          and report["sigterm"]["exit_s"] < 10 and report["sigterm"]["of_them_not_answered_200"] == 0
          and report["sigkill"]["replaced_after_s"] is not None and report["sigkill"]["failed_after_replacement"] == 0)
    print(json.dumps(report, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
