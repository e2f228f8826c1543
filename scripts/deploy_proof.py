#!/usr/bin/env python3
"""Proof of the deployment on one machine, without a container runtime: 3 termsvc replicas on
loopback behind nginx with the repository's configuration (deploy/nginx/termsvc.conf), load through
nginx, and a new content build rolled out to every replica with `termsvc pull` during the load.

    .venv/bin/python scripts/deploy_proof.py                 # about 3 minutes (two default builds)
    .venv/bin/python scripts/deploy_proof.py --seconds 10 --json proof.json

It installs nothing: it needs Debian's nginx (apt-get install nginx) and uses wrk when installed
(apt-get install wrk), else a slower Python loader (its req/s are lower bounds).

1. Two builds of the default content, A and B (B also holds a small marker CodeSystem), published
   over HTTP from a local folder; each replica pulls A into its own file, as a Kubernetes init container
   does into its pod's volume.
2. Throughput through nginx, 1 replica and then 3 (nginx reloaded with the other upstream list), at
   --connections, for requests sampled from the build (scripts/bench.py's sets): the calls of converters
   and validators (validate-code, lookup, translate) with the response cache off (every request
   computed) and on (the default), and expansions (pages at deep offsets, text filters) uncached.
3. RSS of every serving process after the cached 3-replica load (/proc: VmRSS, RssAnon, RssFile, Pss).
4. Rollout: load through nginx while `termsvc pull` puts B into each replica in turn; then every replica
   answers from B. Failed requests (socket errors, non-2xx) must be 0 and nginx must have logged no
   upstream error (it would have retried on another replica). Exit status 1 otherwise.
"""
import argparse
import functools
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import bench  # noqa: E402  (request sets, the servers and the loaders of the benchmark)
from termsvc.store.digest import file_sha256  # noqa: E402

NGINX_CONF = os.path.join(PROJECT, "deploy", "nginx", "termsvc.conf")
TERMSVC = os.path.join(os.path.dirname(sys.executable), "termsvc")
MARKER_CS = "http://example.org/fhir/CodeSystem/termsvc-deploy-proof"
# request mixes (scripts/bench.py's sets): what converters and validators call, and the costly expansions
MIXES = {"calls": ("validate-code", "lookup", "translate"), "expansions": ("page", "text-filter")}
PHASES = (("calls", "uncached", 0), ("expansions", "uncached", 0), ("calls", "cached", None))


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(*args, **kw):
    p = subprocess.run(list(args), capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise SystemExit(f"deploy_proof: {' '.join(args[:2])} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return p.stdout


def build_artifacts(work, reuse_a):
    """Artifacts A (default content) and B (default content + the marker): {name: (path, sha256)}."""
    os.makedirs(os.path.join(work, "artifacts"), exist_ok=True)
    marker = os.path.join(work, "marker.json")
    with open(marker, "w") as f:
        json.dump({"resourceType": "CodeSystem", "id": "termsvc-deploy-proof", "url": MARKER_CS,
                   "version": time.strftime("%Y%m%d%H%M%S"), "status": "active", "content": "complete",
                   "concept": [{"code": "rolled-out", "display": "Build B is served"}]}, f)
    out = {}
    for name, extra in (("a", []), ("b", ["--fhir", marker])):
        path = os.path.join(work, "artifacts", f"{name}.db")
        if name == "a" and reuse_a:
            shutil.copyfile(reuse_a, path)
            sha = file_sha256(path)
        else:
            log(f"building artifact {name.upper()} (default content{' + marker' if extra else ''})")
            t0 = time.monotonic()
            stdout = run(TERMSVC, "build", "--db", path, "--quiet", *extra, timeout=1800)
            sha = re.search(r"^([0-9a-f]{64})  ", stdout, re.M).group(1)  # what `termsvc build` prints
            log(f"  built in {time.monotonic() - t0:.0f} s, sha256 {sha[:12]}")
        out[name] = (path, sha)
    return out


class ArtifactServer:
    """The published artifacts: a static HTTP server over work/artifacts."""

    def __init__(self, folder, port):
        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *a):
                pass
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Quiet, directory=folder))
        self.base = f"http://127.0.0.1:{port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def pull(url, sha, db):
    t0 = time.monotonic()
    run(TERMSVC, "pull", url, "--sha256", sha, "--db", db, "--quiet", timeout=600)
    return time.monotonic() - t0


class Nginx:
    """Debian's nginx with the repository's deploy/nginx/termsvc.conf: only the listen address is
    changed, and the upstream list (termsvc-upstreams.conf) is the replicas'."""

    def __init__(self, binary, prefix, port):
        self.binary, self.prefix, self.port = binary, prefix, port
        self.base = f"http://127.0.0.1:{port}"
        for d in ("temp/body", "temp/proxy", "temp/fastcgi", "temp/uwsgi", "temp/scgi"):
            os.makedirs(os.path.join(prefix, d), exist_ok=True)
            os.chmod(os.path.join(prefix, d), 0o777)  # nginx's workers may run as another user than its master
        with open(NGINX_CONF) as f:
            conf, n = re.subn(r"^(\s*)listen\s+8080;", rf"\1listen 127.0.0.1:{port};", f.read(), flags=re.M)
        if n != 1:
            raise SystemExit(f"deploy_proof: {NGINX_CONF} has no `listen 8080;` line")
        with open(os.path.join(prefix, "termsvc.conf"), "w") as f:
            f.write(conf)
        t = os.path.join(prefix, "temp")
        with open(os.path.join(prefix, "nginx.conf"), "w") as f:
            f.write(f"""worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {t}/body;
    proxy_temp_path {t}/proxy;
    fastcgi_temp_path {t}/fastcgi;
    uwsgi_temp_path {t}/uwsgi;
    scgi_temp_path {t}/scgi;
    include termsvc.conf;
}}
""")
        self.proc = None

    def upstreams(self, ports):
        with open(os.path.join(self.prefix, "termsvc-upstreams.conf"), "w") as f:
            f.write("".join(f"server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n" for p in ports))
        conf = os.path.join(self.prefix, "nginx.conf")
        run(self.binary, "-t", "-q", "-p", self.prefix, "-c", conf)
        if self.proc is None:
            self.proc = subprocess.Popen([self.binary, "-p", self.prefix, "-c", conf, "-g", "daemon off;"],
                                         start_new_session=True)
        else:
            os.kill(self.proc.pid, signal.SIGHUP)  # reload: new workers with the new upstream list
            time.sleep(1.0)
        wait_health(self.base)

    def upstream_errors(self) -> list[str]:
        try:
            with open(os.path.join(self.prefix, "error.log")) as f:
                return [line.strip() for line in f if "upstream" in line]
        except FileNotFoundError:
            return []

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_health(base, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"deploy_proof: {base}/health did not answer within {timeout} s")


def memory(pid) -> dict:
    """VmRSS, RssAnon, RssFile (from /proc/PID/status) and Pss (smaps_rollup), in MB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile"):
                out[k] = round(int(v.split()[0]) / 1024, 1)
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    out["Pss"] = round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return out


def children(pid) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def replica_memory(server) -> dict:
    main = server.proc.pid
    return {"main": memory(main), "workers": [memory(c) for c in children(main)]}


def failures(r) -> int:
    return sum(r.get(k, 0) for k in ("connect_errors", "read_errors", "write_errors", "timeouts", "non_2xx"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=18300,
                    help="nginx's port; the replicas use the next three, the artifact server the one after")
    ap.add_argument("--seconds", type=int, default=15, help="seconds of load per throughput phase (default 15)")
    ap.add_argument("--rollout-seconds", type=int, default=20, help="seconds of load during the rollout (20)")
    ap.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    ap.add_argument("--workers", type=int, default=1, help="worker processes per replica (default 1)")
    ap.add_argument("--work", default="/tmp/termsvc-deploy-proof", help="scratch folder (emptied first)")
    ap.add_argument("--artifact-a", metavar="DB", help="use this build as artifact A instead of building it")
    ap.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    args = ap.parse_args(argv)

    nginx_bin = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)
    if not nginx_bin:
        raise SystemExit("deploy_proof: nginx is not installed (Debian: apt-get install nginx); this script"
                         " installs nothing itself")
    if not os.path.exists(TERMSVC):
        raise SystemExit(f"deploy_proof: no termsvc next to {sys.executable}: run it with .venv/bin/python")
    loader = bench.run_wrk if shutil.which("wrk") else bench.run_python
    loader_name = "wrk" if shutil.which("wrk") else "python (lower bounds)"

    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    t_start = time.time()
    artifacts = build_artifacts(args.work, args.artifact_a)
    publisher = ArtifactServer(os.path.join(args.work, "artifacts"), args.port + 4)
    replica_ports = [args.port + 1, args.port + 2, args.port + 3]
    replica_dbs = [os.path.join(args.work, f"replica-{i + 1}", "termsvc.db") for i in range(3)]
    nginx = Nginx(nginx_bin, os.path.join(args.work, "nginx"), args.port)
    servers = []
    report = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "cpus": os.cpu_count(), "loader": loader_name,
              "connections": args.connections, "workers_per_replica": args.workers,
              "nginx": subprocess.run([nginx_bin, "-v"], capture_output=True, text=True).stderr.strip(),
              "artifacts": {k: {"sha256": sha, "bytes": os.path.getsize(p)} for k, (p, sha) in artifacts.items()},
              "throughput": {}}

    def start_replicas(cache_size):
        for s in servers:
            s.stop()
        servers[:] = [bench.Server(db, port, args.workers, cache_size) for db, port in zip(replica_dbs, replica_ports)]

    try:
        for db in replica_dbs:  # the init container's job
            pull(f"{publisher.base}/a.db", artifacts["a"][1], db)
        sets, _, _ = bench.build_sets(artifacts["a"][0])
        files = {}
        for mix, names in MIXES.items():
            paths = [p for name in names for p in sets[name]]
            files[mix] = (os.path.join(args.work, f"{mix}.txt"), paths)
            with open(files[mix][0], "w") as f:
                f.write("\n".join(paths) + "\n")
            log(f"{mix}: {len(paths)} requests ({', '.join(f'{n} {len(sets[n])}' for n in names)})")
        log(f"loader {loader_name}")

        cache_running = "none"
        for mix, mode, cache_size in PHASES:
            if cache_running != mode:
                start_replicas(cache_size)
                cache_running = mode
            path_file, paths = files[mix]
            phase = report["throughput"][f"{mix}, {mode}"] = {}
            for n in (1, 3):
                nginx.upstreams(replica_ports[:n])
                if bench.check_requests(nginx.base, paths, mix):  # every request answers 200; warms caches
                    raise SystemExit("deploy_proof: some load requests do not answer 200 (see above)")
                r = loader(nginx.base, path_file, args.connections, args.seconds)
                rps = r["requests"] / (r["duration_us"] / 1e6)
                phase[f"x{n}"] = {"rps": round(rps), "p50_ms": r["p50_us"] / 1000, "p99_ms": r["p99_us"] / 1000,
                                  "failed": failures(r)}
                log(f"{mix}, {mode}, {n} replica(s): {rps:,.0f} req/s, p99 {r['p99_us'] / 1000:.1f} ms,"
                    f" {failures(r)} failed")
            phase["ratio"] = round(phase["x3"]["rps"] / phase["x1"]["rps"], 2)
        report["memory_mb"] = [replica_memory(s) for s in servers]  # after the cached 3-replica load
        path_file = files["calls"][0]

        # the rollout, cached (the default server settings), 3 replicas, under load
        errors_before = len(nginx.upstream_errors())
        result = {}
        load = threading.Thread(target=lambda: result.update(
            loader(nginx.base, path_file, args.connections, args.rollout_seconds)))
        load.start()
        time.sleep(args.rollout_seconds / 4)
        pulls = []
        for db in replica_dbs:
            pulls.append(round(pull(f"{publisher.base}/b.db", artifacts["b"][1], db), 2))
            log(f"pulled B into {db} in {pulls[-1]} s")
        load.join()
        time.sleep(0.5)
        served_b = []
        for s in servers:  # each replica directly: the marker of B is there
            q = urllib.parse.urlencode({"system": MARKER_CS, "code": "rolled-out"})
            with urllib.request.urlopen(f"{s.base}/fhir/CodeSystem/$lookup?{q}", timeout=10) as resp:
                served_b.append(resp.status == 200 and b"Build B is served" in resp.read())
        upstream_errors = nginx.upstream_errors()[errors_before:]
        report["rollout"] = {"requests": result["requests"], "failed": failures(result),
                             "rps": round(result["requests"] / (result["duration_us"] / 1e6)),
                             "p99_ms": result["p99_us"] / 1000, "pull_seconds": pulls,
                             "replicas_serving_b": sum(served_b), "nginx_upstream_errors": len(upstream_errors)}
        log(f"rollout: {result['requests']} requests, {failures(result)} failed, {sum(served_b)}/3 replicas serve B,"
            f" {len(upstream_errors)} upstream errors in nginx's log")
    finally:
        nginx.stop()
        for s in servers:
            s.stop()
        publisher.stop()
    report["elapsed_s"] = round(time.time() - t_start)

    t = report["throughput"]
    print(f"\ntermsvc deployment proof, {report['date']}, {report['cpus']} CPUs, {report['nginx']}, loader"
          f" {loader_name}, {args.connections} connections, {args.workers} worker(s) per replica\n")
    print("| requests | response cache | 1 replica req/s | 3 replicas req/s | 3 ÷ 1 | p99 ms (1 / 3) |")
    print("|---|---|---:|---:|---:|---:|")
    for label, phase in t.items():
        a, b = phase["x1"], phase["x3"]
        mix, mode = label.split(", ")
        print(f"| {mix} | {'on' if mode == 'cached' else 'off'} | {a['rps']:,} | {b['rps']:,} | {phase['ratio']} |"
              f" {a['p99_ms']:.1f} / {b['p99_ms']:.1f} |")
    ro = report["rollout"]
    print(f"\nrollout of B during {args.rollout_seconds} s of load: {ro['requests']:,} requests, {ro['failed']} failed,"
          f" {ro['rps']:,} req/s, pulls {ro['pull_seconds']} s, {ro['replicas_serving_b']}/3 replicas serve B,"
          f" {ro['nginx_upstream_errors']} upstream errors logged by nginx")
    for i, m in enumerate(report["memory_mb"]):
        workers = ", ".join(f"RSS {w.get('VmRSS')} (anon {w.get('RssAnon')}, file {w.get('RssFile')}, Pss {w.get('Pss')})"
                            for w in m["workers"])
        print(f"replica {i + 1} memory MB: main RSS {m['main'].get('VmRSS')}; workers: {workers}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    ok = (ro["failed"] == 0 and ro["replicas_serving_b"] == 3 and ro["nginx_upstream_errors"] == 0
          and not any(phase[n]["failed"] for phase in t.values() for n in ("x1", "x3")))
    print("\nPASS" if ok else "\nFAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
