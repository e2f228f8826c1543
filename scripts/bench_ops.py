#!/usr/bin/env python3
"""Each operation in process: µs per call (median of many) and every answer, for two versions side by side.

    .venv/bin/python scripts/bench_ops.py --db /tmp/x.db                      # this version
    .venv/bin/python scripts/bench_ops.py --db /tmp/x.db --baseline /tmp/base --baseline-db /tmp/base.db
    .venv/bin/python scripts/bench_ops.py --db /tmp/x.db --baseline /tmp/base --baseline-db /tmp/base.db \\
        --answers-only                  # only the answers compared (no timing)

The requests are scripts/bench.py's sets (sampled from the store) and, for the operations that set
leaves out, more sampled the same way: CodeSystem/$validate-code, codes that fail validation (wrong
display, not in the value set), $subsumes, small expansions (the Composer's path), an ad-hoc value set
with an is-a filter (POST), $batch-validate-code, a FHIR batch of translations, and a share of each on
the R4 endpoint. Each version runs in its own worker process (the baseline with the interpreter of
its checkout's .venv, as scripts/bench_compare.py does) calling the WSGI application as the server
would, with the response cache off; the driver alternates: baseline, current, baseline, current, for
each workload, so that drift on a shared machine shows as a spread between the rounds.

The answers: each worker answers every request once; the driver compares them (status and body byte for
byte, the expansion's identifier and timestamp aside, which differ by design) and prints how many differ
(`--diff-out FILE` writes the differing pairs). A refactoring that must not change what the server
says shows 0.

The time of a workload: each request is called `--rounds` times and its fastest call kept (what the machine
adds - another process, a page fault - only ever adds time), and the median over the requests is the
figure; `--pairs` such figures per version, alternating. `--clock cpu` counts the worker's CPU time
instead of the wall clock: on a machine other processes share, the time spent waiting for a core is
left out (the figures of two versions stay comparable under load).
"""
import argparse
import io
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

try:
    import orjson
except ImportError:   # pragma: no cover (termsvc depends on it)
    raise SystemExit("bench_ops: run it with the .venv's python") from None


# -- request sets ---------------------------------------------------------------------------------

def _q(**kw) -> str:
    return urllib.parse.urlencode(kw, quote_via=urllib.parse.quote)


def _get(path: str) -> dict:
    p, _, query = path.partition("?")
    return {"method": "GET", "path": p, "query": query}


def _request(line: str) -> dict:
    """A request of the driver from a line of bench.py's sets."""
    import bench
    method, path, body = bench.split_line(line)
    return _get(path) if body is None else _post(path, orjson.loads(body))


def _post(path: str, body: dict) -> dict:
    return {"method": "POST", "path": path, "query": "", "body": body}


def _parameters(*pairs) -> dict:
    return {"resourceType": "Parameters", "parameter": [{"name": n, k: v} for n, k, v in pairs]}


def extra_sets(db_path: str, rnd: random.Random) -> dict[str, list[dict]]:
    db = sqlite3.connect(f"file:{db_path}?mode=ro&immutable=1", uri=True)
    out: dict[str, list[dict]] = {}
    concepts = db.execute("SELECT s.url, c.code, c.display FROM code_system s JOIN concept c ON c.cs_id = s.id"
                          " WHERE s.content='complete' AND c.display IS NOT NULL").fetchall()
    rnd.shuffle(concepts)
    out["cs-validate-code"] = [_get("/fhir/CodeSystem/$validate-code?" + _q(url=u, code=c, **(
        {"display": d} if i % 2 else {}))) for i, (u, c, d) in enumerate(concepts[:300])]
    members = db.execute("SELECT v.url, e.system, e.code, e.display FROM value_set v JOIN expansion e ON e.vs_id = v.id"
                         " WHERE v.expansion_state='done' AND e.concept_id IS NOT NULL").fetchall()
    rnd.shuffle(members)
    vs_urls = sorted({m[0] for m in members})
    invalid = []
    for i, (url, system, code, display) in enumerate(members[:300]):
        if i % 3 == 0:     # a wrong display
            invalid.append(_get("/fhir/ValueSet/$validate-code?" + _q(url=url, system=system, code=code,
                                                                         display=(display or "") + " (wrong)")))
        elif i % 3 == 1:   # another value set's code
            other = vs_urls[rnd.randrange(len(vs_urls))]
            invalid.append(_get("/fhir/ValueSet/$validate-code?" + _q(url=other, system=system, code=code)))
        else:              # no such code
            invalid.append(_get("/fhir/ValueSet/$validate-code?" + _q(url=url, system=system, code=code + "-x")))
    out["validate-code-invalid"] = invalid
    out["validate-codeable-concept"] = [_post("/fhir/ValueSet/$validate-code", _parameters(
        ("url", "valueUri", url), ("codeableConcept", "valueCodeableConcept", {"coding": [
            *([{"system": "http://example.org/unknown", "code": "x"}] if i % 2 else []),
            {"system": system, "code": code, "display": display}]})))
        for i, (url, system, code, display) in enumerate(members[300:400])]
    pairs = db.execute("SELECT s.url, a.code, d.code FROM closure x JOIN concept a ON a.id = x.ancestor_id"
                       " JOIN concept d ON d.id = x.descendant_id JOIN code_system s ON s.id = a.cs_id"
                       " WHERE a.id != d.id LIMIT 20000").fetchall()
    rnd.shuffle(pairs)
    out["subsumes"] = [_get("/fhir/CodeSystem/$subsumes?" + _q(system=s, codeA=a, codeB=d) if i % 2 else
                            "/fhir/CodeSystem/$subsumes?" + _q(system=s, codeA=d, codeB=a))
                       for i, (s, a, d) in enumerate(pairs[:200])]
    small = db.execute("SELECT url FROM value_set WHERE expansion_state='done' AND expansion_total BETWEEN 2 AND 200"
                       " ORDER BY url").fetchall()
    small = [u for (u,) in small]
    rnd.shuffle(small)
    variants = ("&includeDesignations=true", "&displayLanguage=de",
                "&property=definition&property=status&property=inactive&includeDefinition=true", "")
    out["expand-small-options"] = [_get("/fhir/ValueSet/$expand?" + _q(url=u) + variants[i % len(variants)])
                                   for i, u in enumerate(small[:200])]
    out["batch-validate"] = [_post("/fhir/ValueSet/$batch-validate-code", {"resourceType": "Parameters", "parameter": [
        {"name": "validation", "resource": _parameters(("url", "valueUri", url), ("system", "valueUri", system),
                                                        ("code", "valueCode", code))}
        for url, system, code, _ in members[400 + 10 * k:410 + 10 * k]]}) for k in range(30)]
    url, system, code, _ = members[0]
    out["errors"] = [_get(p) for p in (
        "/fhir/ValueSet/$validate-code?" + _q(url=url + "-unknown", system=system, code=code),
        "/fhir/ValueSet/$validate-code?" + _q(url=url, system=system),
        "/fhir/ValueSet/$validate-code?" + _q(url=url, system=system, code=code, activeOnly="maybe"),
        "/fhir/ValueSet/$expand?" + _q(url=url, count="-1"),
        "/fhir/CodeSystem/$lookup?" + _q(system=system + "-unknown", code=code),
        "/fhir/CodeSystem/$lookup?" + _q(system=system, code=code + "-unknown"),
        "/fhir/CodeSystem/$subsumes?" + _q(system=system, codeA=code, codeB=code + "-unknown"),
        "/fhir/ConceptMap/$translate?" + _q(url="http://example.org/no-such-map", sourceCode=code, system=system),
        "/fhir/ValueSet/no-such-id/$validate-code?" + _q(system=system, code=code),
        "/fhir/CodeSystem/no-such-id/$lookup?" + _q(code=code))]
    db.close()
    return out


def all_sets(db_path: str, seed: int = 20260520) -> dict[str, list[dict]]:
    import bench
    sets, _, _ = bench.build_sets(db_path, seed)
    out = {name: [_request(line) for line in lines] for name, lines in sets.items() if name != "health"}
    out.update(extra_sets(db_path, random.Random(seed + 7)))
    translate_gets = out["translate"][:100]
    out["batch-bundle"] = [_post("/fhir", {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": r["path"][len("/fhir/"):] + "?" + r["query"]}}
        for r in translate_gets[k:k + 20]]}) for k in range(0, len(translate_gets), 20)]
    r4 = {}
    for name in ("validate-code", "validate-code-invalid", "cs-validate-code", "lookup", "translate", "page",
                 "expand-small", "expand-small-options", "subsumes", "expand-isa", "batch-validate",
                 "validate-codeable-concept", "errors"):
        r4[name + "-r4"] = [dict(r, path="/r4" + r["path"]) for r in (out[name][::3] if len(out[name]) > 30 else out[name])]
    out.update(r4)
    return out


# -- the worker: one version's application, in process ----------------------------------------------

def _environ(req: dict) -> dict:
    body = orjson.dumps(req["body"]) if "body" in req else b""
    env = {"REQUEST_METHOD": req["method"], "PATH_INFO": req["path"], "QUERY_STRING": req["query"],
           "SCRIPT_NAME": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8080", "HTTP_HOST": "127.0.0.1:8080",
           "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
           "wsgi.errors": sys.stderr, "HTTP_ACCEPT": "application/fhir+json"}
    if body:
        env["CONTENT_TYPE"] = "application/fhir+json"
        env["CONTENT_LENGTH"] = str(len(body))
    return env


VARIES = re.compile(rb'("identifier":"urn:uuid:)[0-9a-f-]{36}"|("timestamp":")[0-9T:-]{19}Z"')


def _scrubbed(body: bytes) -> str:
    """The answer as sent, byte for byte, but for what differs by design from call to call: an expansion's
    identifier (a UUID) and timestamp."""
    return VARIES.sub(lambda m: (m.group(1) or m.group(2)) + b'(varies)"', body).decode("utf-8", "replace")


def worker(db_path: str, sets_file: str) -> None:
    from termsvc.api.app import create_app
    app = create_app(db_path, config={"cache_size": 0, "access_log": False, "log_level": "error"}).wsgi_app
    with open(sets_file, "rb") as f:
        sets = orjson.loads(f.read())
    status = []

    def start_response(s, headers, exc_info=None):
        status.append(s)

    def call(req) -> tuple[str, bytes]:
        status.clear()
        body = b"".join(app(_environ(req), start_response))
        return status[0], body

    for line in sys.stdin:
        cmd = orjson.loads(line)
        if cmd["do"] == "answers":
            out = [[cmd["set"], i, *call(r)] for i, r in enumerate(sets[cmd["set"]])]
            reply = [[name, i, s, _scrubbed(b)] for name, i, s, b in out]
        else:   # "time": every request of the set `rounds` times: each one's fastest call, µs
            reqs = sets[cmd["set"]]
            for r in reqs:   # warm-up: the per-build caches filled, as on a server that has run a while
                call(r)
            clock = time.thread_time_ns if cmd["clock"] == "cpu" else time.perf_counter_ns
            best = [float("inf")] * len(reqs)
            for _ in range(cmd["rounds"]):
                for i, r in enumerate(reqs):
                    t0 = clock()
                    call(r)
                    best[i] = min(best[i], (clock() - t0) / 1000)
            reply = best
        sys.stdout.buffer.write(orjson.dumps(reply) + b"\n")
        sys.stdout.flush()


class Worker:
    def __init__(self, python: str, db_path: str, sets_file: str):
        self.proc = subprocess.Popen([python, os.path.abspath(__file__), "--worker", "--db", db_path,
                                      "--sets-file", sets_file], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def ask(self, **cmd):
        self.proc.stdin.write(orjson.dumps(cmd) + b"\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("bench_ops: a worker exited")
        return orjson.loads(line)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(30)


# -- the driver ------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True, help="a build made by this version (the requests are sampled from it)")
    ap.add_argument("--baseline", help="a checkout of the baseline version with its own .venv")
    ap.add_argument("--baseline-db", help="a build made by the baseline version (default: --db)")
    ap.add_argument("--rounds", type=int, default=3, help="calls of each request per measurement (default 3)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall: elapsed time; cpu: the worker's CPU time (for a machine under load)")
    ap.add_argument("--pairs", type=int, default=2, help="measurements of each version per workload (default 2)")
    ap.add_argument("--sets", default="", help="comma-separated workloads (default: all)")
    ap.add_argument("--answers-only", action="store_true", help="compare the answers, do not time")
    ap.add_argument("--diff-out", help="write the differing answers (JSON) here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--sets-file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.db, args.sets_file)

    sets = all_sets(args.db)
    names = [n for n in sets if not args.sets or n in args.sets.split(",")]
    sets_file = os.path.join(os.path.dirname(os.path.abspath(args.db)), f"bench-ops-sets-{os.getpid()}.json")
    with open(sets_file, "wb") as f:
        f.write(orjson.dumps(sets))
    workers = {"current": Worker(sys.executable, args.db, sets_file)}
    if args.baseline:
        workers["baseline"] = Worker(os.path.join(args.baseline, ".venv", "bin", "python"),
                                     args.baseline_db or args.db, sets_file)
    try:
        if "baseline" in workers:
            compare_answers(workers, names, args.diff_out)
        if not args.answers_only:
            timing(workers, names, sets, args.rounds, args.pairs, args.clock)
    finally:
        for w in workers.values():
            w.close()
        os.remove(sets_file)


def compare_answers(workers, names, diff_out):
    total, differing = 0, []
    for name in names:
        base, cur = workers["baseline"].ask(do="answers", set=name), workers["current"].ask(do="answers", set=name)
        for b, c in zip(base, cur):
            total += 1
            if b != c:
                differing.append({"set": name, "index": b[1], "baseline": b[2:], "current": c[2:]})
    print(f"answers: {total} compared, {len(differing)} differ", flush=True)
    if diff_out:
        with open(diff_out, "wb") as f:
            f.write(orjson.dumps(differing, option=orjson.OPT_INDENT_2))


def timing(workers, names, sets, rounds, pairs, clock):
    order = ["baseline", "current"] if "baseline" in workers else ["current"]
    print(f"\nµs per call ({'CPU' if clock == 'cpu' else 'wall-clock'} time: the median over the requests of each"
          f" one's fastest of {rounds} calls), in process, response cache off"
          + (f", baseline and current alternating ({pairs} measurements each)" if len(order) == 2 else "") + "\n")
    head = "| workload | requests | " + " | ".join(f"{w} µs" for w in order) + \
        (" | current ÷ baseline |" if len(order) == 2 else " |")
    print(head)
    print("|---|---:|" + "---:|" * (len(order) + (len(order) == 2)))
    for name in names:
        medians = {w: [] for w in order}
        for _ in range(pairs):
            for w in order:
                medians[w].append(statistics.median(workers[w].ask(do="time", set=name, rounds=rounds, clock=clock)))
        cells = [" / ".join(f"{m:,.0f}" for m in medians[w]) for w in order]
        line = f"| {name} | {len(sets[name])} | " + " | ".join(cells)
        if len(order) == 2:
            ratios = [c / b for b, c in zip(medians["baseline"], medians["current"])]
            line += f" | {statistics.mean(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f})"
        print(line + " |", flush=True)


if __name__ == "__main__":
    main()
