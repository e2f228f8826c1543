#!/usr/bin/env python3
"""Repeatable benchmark of the termsvc hot paths.

    .venv/bin/python scripts/bench.py                       # start servers on the default build, both modes
    .venv/bin/python scripts/bench.py --db /tmp/x.db --json bench.json
    .venv/bin/python scripts/bench.py --url http://127.0.0.1:8080 --db /tmp/x.db   # a running server
    .venv/bin/python scripts/bench.py --quick               # shorter runs (about a minute)
    .venv/bin/python scripts/bench.py --batch-only          # only the batch workload (about 10 s)

Request sets are sampled FROM THE STORE (fixed seed, hundreds of distinct requests):
  validate-code   codes against the value sets that contain them (DICOM CIDs, IG value sets, core value sets)
  validate-large  the same in the value sets of 1,000 codes or more
  lookup          codes of DCM, THO and FHIR core code systems
  translate       source codes of the accepted rows of mappings_csv/*.csv, and of core ConceptMaps
  expand-small    $expand of the value sets of at most 100 codes
  page            pages (count=100 and count=1000) of the largest pre-expanded value sets, deep offsets
  text-filter     `filter=` words from the displays of the largest value sets / code systems
  expand-isa      POST $expand of an ad-hoc value set: all codes under a concept (an is-a filter)
  search          search by url: ValueSet?url=, CodeSystem?url=&version=, ConceptMap?url=
and driven by wrk with scripts/bench_cycle.lua (which cycles through the list), at 1 connection
(p50, p99) and 16 connections (req/s), against a server with the response cache ("cached") and one
with TERMSVC_CACHE_SIZE=0 ("uncached"); /health is the ceiling. Every figure is also given as a
ratio to the FHIRsmith reference (HL7's reference server, same machine type) and to /health in the
same run: the machine may be shared and noisy, so ratios within one run are what to compare.

Batch workload, per server mode: 10,000 $translate (the translate set, cycled) sent one by one over
one keep-alive connection, then as one FHIR batch (POST /fhir), after one warm-up batch: both times
and their ratio (goals: the batch >= 5x faster, <= 1 s).

Without wrk, a Python loader (threads + keep-alive http.client) is used: it is much slower than wrk
(the loader itself becomes the bottleneck), so its req/s are a lower bound; install wrk
(apt-get install wrk) for real figures.
"""
import argparse
import contextlib
import csv
import glob
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
LUA = os.path.join(HERE, "bench_cycle.lua")

# FHIRsmith (tx.fhir.org's server), measured side by side on this machine type (2 cores, 24 GiB), 16
# connections, the same FHIR packages (issue 18, 2026-12-05)
REFERENCE_RPS = {"validate-code": 2776, "validate-large": 1979, "lookup": 5163, "translate": 8792,
                 "expand-small": 2327, "page": 157, "text-filter": 685, "expand-isa": 2212, "search": 1758}
SETS = ("health", "validate-code", "validate-large", "lookup", "translate", "expand-small", "page", "text-filter",
        "expand-isa", "search")
DCM = "http://dicom.nema.org/resources/ontology/DCM"


# -- request sets, sampled from the store -----------------------------------------------------

def q(**kw) -> str:
    return urllib.parse.urlencode(kw, quote_via=urllib.parse.quote)


def post_line(path: str, body: dict) -> str:
    """A POST in a request set (one line of its file): 'POST path body', the body as one line of JSON."""
    return f"POST {path} {json.dumps(body, separators=(',', ':'))}"


def split_line(line: str) -> tuple[str, str, bytes | None]:
    """(method, path, body) of a line of a request set: a path (GET), or a post_line()."""
    if line.startswith("POST "):
        _, path, body = line.split(" ", 2)
        return "POST", path, body.encode()
    return "GET", line, None


def send(conn: http.client.HTTPConnection, line: str) -> tuple[int, bytes]:
    """One request of a set over `conn`: (status, body)."""
    method, path, body = split_line(line)
    headers = {"Accept": "application/fhir+json"}
    if body is not None:
        headers["Content-Type"] = "application/fhir+json"
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    return r.status, r.read()


def _sample(rows, n, rnd):
    rows = list(rows)
    rnd.shuffle(rows)
    return rows[:n]


def validate_requests(db, rnd, n_per=150, where=("v.url LIKE 'http://dicom.nema.org/medical/dicom/%'",
                                                    "v.url LIKE 'http://hl7.eu/fhir/%'",
                                                    "v.url LIKE 'http://hl7.org/fhir/ValueSet/%'"), per_vs=5):
    """$validate-code of members of the value sets each condition in `where` selects (DICOM CIDs, IG
    value sets, core value sets): n_per codes of each, at most per_vs of one value set."""
    out = []
    for cond in where:
        rows = db.execute(
            "SELECT v.url, e.system, e.code, e.display FROM value_set v JOIN expansion e ON e.vs_id = v.id"
            f" WHERE v.expansion_state='done' AND e.concept_id IS NOT NULL AND {cond}").fetchall()
        counts = {}
        rnd.shuffle(rows)
        picked = []
        for r in rows:
            if counts.get(r[0], 0) < per_vs:
                counts[r[0]] = counts.get(r[0], 0) + 1
                picked.append(r)
            if len(picked) >= n_per:
                break
        for i, (url, system, code, display) in enumerate(picked):
            kw = {"url": url, "system": system, "code": code}
            if display and i % 2 == 0:   # half of them with the display to check, as validators send it
                kw["display"] = display
            out.append("/fhir/ValueSet/$validate-code?" + q(**kw))
    return out


LARGE = 1000   # codes in a "large" value set


def validate_large_requests(db, rnd, n=300):
    """$validate-code of members of the value sets of LARGE codes or more."""
    return validate_requests(db, rnd, n, (f"v.expansion_total >= {LARGE}",), per_vs=25)


def lookup_requests(db, rnd, n_per=150):
    out = []
    for cond in ("s.url = '%s'" % DCM, "s.url LIKE 'http://terminology.hl7.org/CodeSystem/%'",
                 "s.url LIKE 'http://hl7.org/fhir/%'"):
        rows = db.execute("SELECT s.url, c.code FROM code_system s JOIN concept c ON c.cs_id = s.id"
                          f" WHERE s.content='complete' AND {cond}").fetchall()
        for url, code in _sample(rows, n_per, rnd):
            out.append("/fhir/CodeSystem/$lookup?" + q(system=url, code=code))
    return out


def translate_requests(db, rnd, n_core=150):
    out = []
    for path in sorted(glob.glob(os.path.join(PROJECT, "mappings_csv", "*.csv"))):
        toml_path = path[:-4] + ".toml"
        if not os.path.exists(toml_path):
            continue
        with open(toml_path, "rb") as f:
            meta = tomllib.load(f)
        with open(path, encoding="utf-8-sig", newline="") as f:
            text = f.read()
        delim = ";" if text.split("\n", 1)[0].count(";") > text.split("\n", 1)[0].count(",") else ","
        codes = []
        for row in csv.DictReader(text.splitlines(), delimiter=delim):
            if (row.get("status") or "").strip() == "accepted" and row.get("source_code") \
                    and row["source_code"] not in codes:
                codes.append(row["source_code"])
        for i, code in enumerate(codes):
            kw = {"sourceSystem": meta["source_system"], "sourceCode": code}
            if i % 2 == 0:   # half name the map, half let the server find the maps that know the code
                kw = {"url": meta["url"], **kw}
            out.append("/fhir/ConceptMap/$translate?" + q(**kw))
    rows = db.execute("SELECT DISTINCT m.url, e.source_system, e.source_code FROM cm_entry e"
                      " JOIN concept_map m ON m.id = e.cm_id WHERE m.url LIKE 'http://hl7.org/fhir/ConceptMap/%'"
                      " AND e.source_code IS NOT NULL AND e.source_system IS NOT NULL AND e.target_idx >= 0"
                      " ORDER BY 1, 2, 3").fetchall()
    for i, (url, system, code) in enumerate(_sample(rows, n_core, rnd)):
        kw = {"sourceSystem": system, "sourceCode": code}
        if i % 2 == 0:
            kw = {"url": url, **kw}
        out.append("/fhir/ConceptMap/$translate?" + q(**kw))
    return out


def small_expand_requests(db, rnd, n=200):
    """$expand of value sets of at most 100 codes (what a form or a validator's UI asks for)."""
    urls = [u for (u,) in db.execute("SELECT DISTINCT url FROM value_set WHERE expansion_state='done'"
                                     " AND expansion_total BETWEEN 1 AND 100 ORDER BY url")]
    return ["/fhir/ValueSet/$expand?" + q(url=u) for u in _sample(urls, n, rnd)]


def isa_expand_requests(db, rnd, n=100):
    """POST $expand of an ad-hoc value set (in the body) holding the concepts under one concept: concepts
    with 5 to 500 descendants."""
    parents = db.execute("SELECT s.url, a.code, count(*) n FROM closure x JOIN concept a ON a.id = x.ancestor_id"
                         " JOIN code_system s ON s.id = a.cs_id GROUP BY a.id HAVING n BETWEEN 5 AND 500"
                         " ORDER BY s.url, a.code").fetchall()
    return [post_line("/fhir/ValueSet/$expand", {"resourceType": "Parameters", "parameter": [
        {"name": "valueSet", "resource": {"resourceType": "ValueSet", "status": "active", "compose": {"include": [
            {"system": system, "filter": [{"property": "concept", "op": "is-a", "value": code}]}]}}}]})
        for system, code, _ in _sample(parents, n, rnd)]


def search_requests(db, rnd, n_per=100):
    """Search by canonical URL: ValueSet?url=, CodeSystem?url=&version=, ConceptMap?url=."""
    out = []
    for rtype, with_version in (("ValueSet", False), ("CodeSystem", True), ("ConceptMap", False)):
        rows = db.execute("SELECT DISTINCT url, version FROM resource WHERE type = ? AND url IS NOT NULL"
                          " AND (endpoint IS NULL OR endpoint = 'R5') ORDER BY url, version", (rtype,)).fetchall()
        for url, version in _sample(rows, n_per, rnd):
            kw = {"url": url, "version": version} if with_version and version else {"url": url}
            out.append(f"/fhir/{rtype}?" + q(**kw))
    return out


def largest_value_sets(db, n=3):
    return db.execute("SELECT url, max(expansion_total) t FROM value_set WHERE expansion_state='done'"
                      " GROUP BY url ORDER BY t DESC LIMIT ?", (n,)).fetchall()


def page_requests(db, rnd, n=200):
    out = []
    big = largest_value_sets(db)
    for i in range(n):
        url, total = big[i % len(big)]
        count = 1000 if i % 4 == 3 else 100
        offset = rnd.randrange(total // 2, max(total // 2 + 1, total - count))
        out.append("/fhir/ValueSet/$expand?" + q(url=url, offset=offset, count=count))
    return out


_WORD = re.compile(r"[^\W\d_]{4,}", re.UNICODE)


def filter_words(db, vs_urls, rnd, n):
    words = {}
    for url in vs_urls:
        for (display,) in db.execute("SELECT e.display FROM expansion e JOIN value_set v ON v.id = e.vs_id"
                                     " WHERE v.url = ? AND e.display IS NOT NULL", (url,)):
            for w in _WORD.findall(display):
                words.setdefault(w.lower(), url)
    items = sorted(words.items())
    return _sample(items, n, rnd)


def filter_requests(db, rnd, n=300):
    big = [u for u, _ in largest_value_sets(db)]
    out = []
    for i, (word, url) in enumerate(filter_words(db, big, rnd, n)):
        # a type-ahead: a word, or its first letters
        text = word if i % 2 == 0 else word[:max(4, len(word) // 2)]
        out.append("/fhir/ValueSet/$expand?" + q(url=url, filter=text, count=50))
    return out


def build_sets(db_path, seed=20260520):
    db = sqlite3.connect(f"file:{db_path}?mode=ro&immutable=1", uri=True)
    rnd = random.Random(seed)
    sets = {"health": ["/health"],
            "validate-code": validate_requests(db, rnd),
            "lookup": lookup_requests(db, rnd),
            "translate": translate_requests(db, rnd),
            "page": page_requests(db, rnd),
            "text-filter": filter_requests(db, rnd)}
    # the workloads added later draw from their own generator: the sets above stay as they were
    rnd = random.Random(seed + 2)
    sets.update({"validate-large": validate_large_requests(db, rnd),
                 "expand-small": small_expand_requests(db, rnd),
                 "expand-isa": isa_expand_requests(db, rnd),
                 "search": search_requests(db, rnd)})
    # the two medians of the operations issue: a text filter over all loaded content (the largest
    # value set: every word a different request) and a page at a deep offset of the largest value set
    (url, total), = largest_value_sets(db, 1)
    median_sets = {
        "text-filter-largest": ["/fhir/ValueSet/$expand?" + q(url=url, filter=w, count=50)
                                for w, _ in filter_words(db, [url], random.Random(seed + 1), 100)],
        "deep-offset-page": ["/fhir/ValueSet/$expand?" + q(url=url, offset=total - 100 - i * 7, count=100)
                             for i in range(100)],
    }
    largest = {"url": url, "total": total}
    db.close()
    return sets, median_sets, largest


# -- server -----------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`termsvc serve` on the build at db_path, started and answering /health; `settings`: more
    settings (name -> value) for it."""

    def __init__(self, db_path, port, workers, cache_size, settings=None):
        exe = os.path.join(os.path.dirname(sys.executable), "termsvc")
        cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "termsvc.cli"]
        env = dict(os.environ, TERMSVC_DB=db_path)
        if cache_size is not None:
            env["TERMSVC_CACHE_SIZE"] = str(cache_size)
        cmd += ["serve", "--port", str(port), "--workers", str(workers)]
        for name, value in (settings or {}).items():
            cmd += ["--setting", name, str(value)]
        self.log = tempfile.NamedTemporaryFile(prefix="termsvc-bench-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"bench: the server exited (see {self.log.name})")
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    c.close()
                    time.sleep(0.5)  # let every worker come up
                    return
            except OSError:
                time.sleep(0.2)
        self.stop(keep_log=True)
        raise SystemExit(f"bench: the server did not answer /health within 60 s (see {self.log.name})")

    def stop(self, keep_log: bool = False):
        """Stop the server; its log (the access log: a line per request, gigabytes in a long run) is
        removed unless `keep_log`."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        if not keep_log:
            with contextlib.suppress(OSError):
                os.unlink(self.log.name)


# -- load generation --------------------------------------------------------------------------

def run_wrk(base, path_file, connections, seconds):
    threads = 1 if connections == 1 else 2
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", LUA, base,
           "--", path_file]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    m = re.search(r"^BENCH_JSON (.*)$", out, re.M)
    if not m:
        raise SystemExit(f"bench: unexpected wrk output:\n{out}")
    r = json.loads(m.group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non_2xx"] = int(non2xx.group(1)) if non2xx else 0
    return r


def run_python(base, path_file, connections, seconds):
    """The fallback loader: one thread per connection, keep-alive http.client."""
    with open(path_file) as f:
        paths = [line.strip() for line in f if line.strip()]
    host, port = urllib.parse.urlsplit(base).hostname, urllib.parse.urlsplit(base).port
    lat, errors, non2xx, nbytes = [], [0], [0], [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def worker(k):
        conn = http.client.HTTPConnection(host, port, timeout=10)
        i = k * 7919
        mine = []
        while time.perf_counter() < stop_at:
            i += 1
            t0 = time.perf_counter()
            try:
                status, body = send(conn, paths[i % len(paths)])
            except OSError:
                errors[0] += 1
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=10)
                continue
            mine.append(time.perf_counter() - t0)
            with lock:
                nbytes[0] += len(body)
                if status >= 300:
                    non2xx[0] += 1
        with lock:
            lat.extend(mine)

    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(connections)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dur = time.perf_counter() - t0
    lat.sort()

    def pct(p):
        return int(lat[min(len(lat) - 1, int(len(lat) * p / 100))] * 1e6) if lat else 0
    return {"requests": len(lat), "duration_us": int(dur * 1e6), "bytes": nbytes[0], "read_errors": errors[0],
            "status_errors": non2xx[0], "non_2xx": non2xx[0], "timeouts": 0, "connect_errors": 0,
            "write_errors": 0, "p50_us": pct(50), "p90_us": pct(90), "p99_us": pct(99),
            "mean_us": statistics.fmean(lat) * 1e6 if lat else 0, "max_us": pct(100)}


def check_requests(base, paths, name):
    """One pass over the set: every request must answer 200 (this also warms the per-build caches)."""
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    bad = []
    for p in paths:
        status, _ = send(conn, p)
        if status != 200:
            bad.append((status, p[:300]))
    conn.close()
    if bad:
        print(f"bench: warning: {len(bad)}/{len(paths)} {name} requests did not answer 200, e.g. {bad[0]}",
              file=sys.stderr)
    return len(bad)


def medians(base, median_sets):
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    out = {}
    for name, paths in median_sets.items():
        times = []
        for p in paths:
            t0 = time.perf_counter()
            conn.request("GET", p, headers={"Accept": "application/fhir+json"})
            r = conn.getresponse()
            r.read()
            times.append(time.perf_counter() - t0)
            if r.status != 200:
                print(f"bench: warning: {p} answered {r.status}", file=sys.stderr)
        out[name] = {"n": len(times), "median_ms": round(statistics.median(times) * 1000, 3),
                     "p90_ms": round(sorted(times)[int(len(times) * 0.9)] * 1000, 3)}
    conn.close()
    return out


def measure(base, sets, files, loader, seconds_c1, seconds_c16, label, names=SETS):
    results = {}
    for name in names:
        check_requests(base, sets[name], name)
        loader(base, files[name], 16, 1)                   # warm-up (and fill the response cache)
        c1 = loader(base, files[name], 1, seconds_c1)
        c16 = loader(base, files[name], 16, seconds_c16)
        rps = c16["requests"] / (c16["duration_us"] / 1e6)
        errs = sum(c16[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts")) + c16["non_2xx"]
        results[name] = {"rps_c16": round(rps, 1), "p50_ms_c1": c1["p50_us"] / 1000, "p99_ms_c1": c1["p99_us"] / 1000,
                         "p50_ms_c16": c16["p50_us"] / 1000, "p99_ms_c16": c16["p99_us"] / 1000,
                         "errors": errs, "distinct_requests": len(sets[name])}
        print(f"  [{label}] {name:14s} {rps:9.0f} req/s @16   p50 {c1['p50_us'] / 1000:7.3f} ms"
              f"  p99 {c1['p99_us'] / 1000:7.3f} ms @1" + (f"  ({errs} errors)" if errs else ""),
              file=sys.stderr, flush=True)
    health = results["health"]
    for name, r in results.items():
        r["x_health_rps"] = round(r["rps_c16"] / health["rps_c16"], 3)
        r["x_health_p50"] = round(r["p50_ms_c1"] / health["p50_ms_c1"], 2) if health["p50_ms_c1"] else None
        if name in REFERENCE_RPS:
            r["x_reference_rps"] = round(r["rps_c16"] / REFERENCE_RPS[name], 2)
            r["reference_rps"] = REFERENCE_RPS[name]
    return results


def table(report) -> str:
    lines = ["| operation | mode | req/s @16 | × FHIRsmith | × /health | p50 @1 (ms) | p99 @1 (ms) | p50 ÷ /health p50 |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for mode, results in report["modes"].items():
        for name, r in results.items():
            ref = f"{r['x_reference_rps']:.2f} (ref {r['reference_rps']:,})" if "x_reference_rps" in r else "—"
            lines.append(f"| {name} | {mode} | {r['rps_c16']:,.0f} | {ref} | {r['x_health_rps']:.2f} |"
                         f" {r['p50_ms_c1']:.3f} | {r['p99_ms_c1']:.3f} | {r['x_health_p50']:.1f} |")
    out = "\n".join(lines)
    if report.get("medians"):
        out += "\n\nMedian of 100 sequential requests (uncached server, every request different):\n"
        for name, m in report["medians"].items():
            out += f"- {name}: median {m['median_ms']:.2f} ms (p90 {m['p90_ms']:.2f} ms)\n"
    return out


# -- batch vs single requests -------------------------------------------------------------------

BATCH_ENTRIES = 10_000


def batch_vs_single(base, translate_paths, n=BATCH_ENTRIES):
    """The same n $translate requests (cycling through the translate set) sent one by one over one
    keep-alive connection, then as one FHIR batch (POST /fhir): the times and their ratio."""
    paths = [translate_paths[i % len(translate_paths)] for i in range(n)]
    u = urllib.parse.urlsplit(base)
    bundle = json.dumps({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": p[len("/fhir/"):]}} for p in paths]}).encode()

    def send_batch(conn):
        conn.request("POST", "/fhir", body=bundle, headers={"Content-Type": "application/fhir+json"})
        r = conn.getresponse()
        answer = json.loads(r.read())
        bad = [e["response"]["status"] for e in answer.get("entry", []) if not e["response"]["status"].startswith("200")]
        if r.status != 200 or len(answer.get("entry", [])) != n or bad:
            raise SystemExit(f"bench: the batch failed: HTTP {r.status}, {len(answer.get('entry', []))} entries,"
                             f" {len(bad)} not 200 ({bad[:3]})")

    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    send_batch(conn)                                   # warm-up: both runs below see the same caches
    t0 = time.perf_counter()
    for p in paths:
        conn.request("GET", p)
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            raise SystemExit(f"bench: {p}: HTTP {r.status}")
    singles = time.perf_counter() - t0
    t0 = time.perf_counter()
    send_batch(conn)
    batched = time.perf_counter() - t0
    conn.close()
    return {"entries": n, "singles_s": round(singles, 3), "batch_s": round(batched, 3),
            "ratio": round(singles / batched, 2)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", help="the build to sample requests from (and to serve): default $TERMSVC_DB, else"
                                 " the project's default build")
    ap.add_argument("--url", help="benchmark a running server (base URL, without /fhir) instead of starting"
                                  " servers; it is measured in one mode, labelled 'target'")
    ap.add_argument("--workers", type=int, default=None, help="server workers (default: termsvc's default)")
    ap.add_argument("--modes", default="cached,uncached", help="cached,uncached (default: both)")
    ap.add_argument("--seconds", type=float, default=5, help="seconds per 16-connection run (default 5)")
    ap.add_argument("--seconds-c1", type=float, default=3, help="seconds per 1-connection run (default 3)")
    ap.add_argument("--quick", action="store_true", help="2 s / 1 s runs")
    ap.add_argument("--sets", default=",".join(SETS), help="comma-separated workloads (default: all; health is"
                                                             " always measured)")
    ap.add_argument("--python-loader", action="store_true", help="use the Python loader even if wrk is installed")
    ap.add_argument("--batch-only", action="store_true",
                    help=f"only the batch workload ({BATCH_ENTRIES:,} $translate in one batch vs one by one)")
    ap.add_argument("--json", nargs="?", const="-", metavar="FILE", help="write the report as JSON (to FILE, or"
                                                                         " stdout)")
    args = ap.parse_args(argv)
    if args.quick:
        args.seconds, args.seconds_c1 = 2, 1
    if args.db:
        db_path = os.path.abspath(args.db)
    else:
        sys.path.insert(0, PROJECT)
        from termsvc import settings
        db_path = settings.load().db
    if not os.path.exists(db_path):
        raise SystemExit(f"bench: {db_path}: no build (run `termsvc build`, or give --db)")
    if args.python_loader or shutil.which("wrk") is None:
        if not args.python_loader:
            print("bench: wrk is not installed (apt-get install wrk / brew install wrk): using the Python loader,"
                  " which saturates before the server does - its req/s are lower bounds", file=sys.stderr)
        loader, loader_name = run_python, "python"
    else:
        loader, loader_name = run_wrk, "wrk"
    seconds_c16 = max(1, int(round(args.seconds)))
    seconds_c1 = max(1, int(round(args.seconds_c1)))

    names = ["health"] + [n for n in SETS if n != "health" and n in args.sets.split(",")]
    t_start = time.time()
    sets, median_sets, largest = build_sets(db_path)
    tmp = tempfile.mkdtemp(prefix="termsvc-bench-")
    files = {}
    for name, paths in sets.items():
        files[name] = os.path.join(tmp, name + ".txt")
        with open(files[name], "w") as f:
            f.write("\n".join(paths) + "\n")
    print(f"bench: {db_path}; requests: " + ", ".join(f"{k} {len(v)}" for k, v in sets.items()),
          file=sys.stderr, flush=True)

    report = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "db": db_path, "loader": loader_name,
              "machine": {"cpus": os.cpu_count(), "platform": sys.platform,
                          "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30, 1)},
              "seconds": {"c1": seconds_c1, "c16": seconds_c16}, "reference": REFERENCE_RPS,
              "largest_value_set": largest, "modes": {}, "medians": None, "batch": {}}

    def run_mode(base, mode):
        if not args.batch_only:
            report["modes"][mode] = measure(base, sets, files, loader, seconds_c1, seconds_c16, mode, names)
            if mode in ("uncached", "target") or report["medians"] is None:
                report["medians"] = medians(base, median_sets)
        report["batch"][mode] = batch_vs_single(base, sets["translate"])
        print(f"bench: {mode} batch: {report['batch'][mode]}", file=sys.stderr, flush=True)
    if args.url:
        run_mode(args.url.rstrip("/"), "target")
    else:
        from_env = args.workers
        for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
            if mode not in ("cached", "uncached"):
                raise SystemExit(f"bench: unknown mode {mode!r}")
            server = Server(db_path, free_port(), from_env or os.cpu_count() or 1, None if mode == "cached" else 0)
            try:
                run_mode(server.base, mode)
            finally:
                server.stop()
        report["workers"] = from_env or os.cpu_count()
    report["elapsed_s"] = round(time.time() - t_start, 1)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"\ntermsvc benchmark, {report['date']}, {report['machine']['cpus']} CPUs,"
          f" {report['machine']['mem_gib']} GiB, loader {loader_name}, {report['elapsed_s']} s\n")
    if report["modes"]:
        print(table(report))
    for mode, b in report["batch"].items():
        print(f"batch ({mode}): {b['entries']:,} $translate in one batch {b['batch_s']:.3f} s;"
              f" one by one over keep-alive {b['singles_s']:.3f} s; ratio {b['ratio']:.1f}x")
    if args.json:
        data = json.dumps(report, indent=2)
        if args.json == "-":
            print(data)
        else:
            with open(args.json, "w") as f:
                f.write(data + "\n")
    return report


if __name__ == "__main__":
    main()
