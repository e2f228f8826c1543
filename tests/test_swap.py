"""The atomic swap, against a real `termsvc serve` process: a build written to the served path
while requests stream in drops no request and is picked up without a restart; a failed build
leaves the served file byte-identical and served."""
import json
import os
import subprocess
import threading
import time
import urllib.parse

import pytest

from conftest import TERMSVC_BIN, codes_of, eventually, param

CS_A = "http://example.org/fhir/CodeSystem/swap-a"
VS_A = "http://example.org/fhir/ValueSet/swap-a"
CS_B = "http://example.org/fhir/CodeSystem/swap-b"
N_B = 60_000  # big enough that building B takes a few seconds while the requests stream in

THREADS = 4
PAUSE_S = 0.06           # between two requests of one thread: a few hundred requests in all
MAX_PER_THREAD = 400     # bounded in count ...
DEADLINE_S = 120         # ... and in time; each thread stops once it has asked for B twice after the
AFTER_BUILD_ASKS = 2     #     server's next look for a new build (it looks every BUILD_CHECK_MS at most)
BUILD_CHECK_MS = 100


def q(v):
    return urllib.parse.quote(v, safe="")


def _write(path, resource):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(resource), encoding="utf-8")


@pytest.fixture
def content(tmp_path):
    """Folders: a (CodeSystem A + a ValueSet over it), b (a large CodeSystem B), broken (bad JSON)."""
    a, b, broken = tmp_path / "a", tmp_path / "b", tmp_path / "broken"
    _write(a / "cs-a.json", {"resourceType": "CodeSystem", "id": "swap-a", "url": CS_A, "version": "1",
                             "status": "active", "content": "complete",
                             "concept": [{"code": f"a{i}", "display": f"Alpha {i}"} for i in range(50)]})
    _write(a / "vs-a.json", {"resourceType": "ValueSet", "id": "swap-a", "url": VS_A, "status": "active",
                             "compose": {"include": [{"system": CS_A}]}})
    _write(b / "cs-b.json", {"resourceType": "CodeSystem", "id": "swap-b", "url": CS_B, "version": "1",
                             "status": "active", "content": "complete",
                             "concept": [{"code": f"b{i}", "display": f"Beta number {i}"} for i in range(N_B)]})
    broken.mkdir()
    (broken / "broken.json").write_text('{"resourceType": "CodeSystem", "url": ', encoding="utf-8")
    return {"a": str(a), "b": str(b), "broken": str(broken)}


def termsvc_build(db, *folders):
    args = [TERMSVC_BIN, "build", "--db", db, "--no-defaults", "--quiet"]
    for f in folders:
        args += ["--fhir", f]
    return subprocess.run(args, capture_output=True, text=True, timeout=300)


REQUESTS = [
    ("expand A", f"/fhir/ValueSet/$expand?url={q(VS_A)}"),
    ("validate A", f"/fhir/CodeSystem/$validate-code?url={q(CS_A)}&code=a7"),
    ("read A", "/fhir/CodeSystem/swap-a"),
    ("search A", f"/fhir/ValueSet?url={q(VS_A)}"),
    ("lookup A r4", f"/r4/fhir/CodeSystem/$lookup?system={q(CS_A)}&code=a3"),
    ("metadata", "/fhir/metadata"),
    ("validate B", f"/fhir/CodeSystem/$validate-code?url={q(CS_B)}&code=b59999"),
]


def _check(name, body):
    """The answer is right for both builds (B only adds a code system)."""
    if name == "expand A":
        return sorted(codes_of(body)) == sorted(f"a{i}" for i in range(50))
    if name == "validate A":
        return param(body, "result") is True
    if name == "read A":
        return body.get("url") == CS_A
    if name == "search A":
        return body.get("total") == 1
    if name == "lookup A r4":
        return param(body, "display") == "Alpha 3"
    if name == "metadata":
        return body.get("resourceType") == "CapabilityStatement"
    if name == "validate B":
        return param(body, "result") in (True, False)
    return False


class Stream:
    """Threads issuing requests until each has asked for B AFTER_BUILD_ASKS times since the server's first look
    for a new build after the build ended (so each sees the result of the build), bounded."""

    def __init__(self, srv):
        self.srv = srv
        self.build_done = threading.Event()
        self.done_at = None
        self.results = []   # (thread, seq, name, status, ok, b_found, t)
        self.lock = threading.Lock()
        self.deadline = time.monotonic() + DEADLINE_S

    def worker(self, n):
        asked_after = 0   # requests for B sent after the server has looked for a new build since the build
        for i in range(MAX_PER_THREAD):
            if time.monotonic() > self.deadline or asked_after >= AFTER_BUILD_ASKS:
                break
            if i:
                time.sleep(PAUSE_S)   # pacing: a stream, not a flood
            name, path = REQUESTS[(i + n) % len(REQUESTS)]
            if name == "validate B" and self.build_done.is_set() \
                    and time.monotonic() > self.done_at + BUILD_CHECK_MS / 1000:
                asked_after += 1
            try:
                status, body, raw = self.srv.get(path, timeout=30)
                good = status == 200 and body is not None and _check(name, body)
                b_found = param(body, "result") if name == "validate B" and body else None
            except Exception as e:  # a dropped connection is a failure too
                status, good, b_found = f"{type(e).__name__}: {e}", False, None
            with self.lock:
                self.results.append((n, i, name, status, good, b_found, time.monotonic()))

    def run(self, during):
        threads = [threading.Thread(target=self.worker, args=(n,), daemon=True) for n in range(THREADS)]
        for t in threads:
            t.start()
        eventually(lambda: len(self.results) >= THREADS, what="the stream flowing")   # before the build starts
        try:
            out = during()
        finally:
            self.done_at = time.monotonic()
            self.build_done.set()
            for t in threads:
                t.join(timeout=DEADLINE_S + 30)
        assert not any(t.is_alive() for t in threads)
        return out

    def failures(self):
        return [r for r in self.results if r[3] != 200 or not r[4]]


def test_swap_under_load(tmp_path, content, server_factory):
    db = str(tmp_path / "served" / "termsvc.db")
    r = termsvc_build(db, content["a"])
    assert r.returncode == 0, r.stderr
    inode_a = os.stat(db).st_ino
    srv = server_factory(db, env={"TERMSVC_BUILD_CHECK_MS": str(BUILD_CHECK_MS)})
    status, body, _ = srv.get(f"/fhir/CodeSystem?url={q(CS_B)}")
    assert status == 200 and body["total"] == 0

    stream = Stream(srv)
    t_build = {}

    def build_b():
        t_build["start"] = time.monotonic()
        res = termsvc_build(db, content["a"], content["b"])
        t_build["end"] = time.monotonic()
        return res
    r = stream.run(build_b)
    assert r.returncode == 0, r.stderr
    assert os.stat(db).st_ino != inode_a

    results = stream.results
    assert 100 <= len(results) <= THREADS * MAX_PER_THREAD
    during = [x for x in results if t_build["start"] <= x[6] <= t_build["end"]]
    assert len(during) >= 10, "the requests did not overlap the build"
    assert not stream.failures(), stream.failures()[:10]

    # the server moved to B without a restart: before the build, B was unknown; every thread
    # ends up seeing B's code system and, once it has, never goes back to A (one worker)
    assert all(x[5] is False for x in results if x[2] == "validate B" and x[6] < t_build["start"])
    for n in range(THREADS):
        seen = [x[5] for x in sorted(results, key=lambda x: x[1]) if x[0] == n and x[2] == "validate B"]
        assert seen and seen[-1] is True, (n, seen)
        first = seen.index(True)
        assert all(seen[first:]), (n, seen)

    status, body, _ = srv.get(f"/fhir/CodeSystem?url={q(CS_B)}")
    assert status == 200 and body["total"] == 1
    status, body, _ = srv.get(f"/fhir/CodeSystem/$lookup?system={q(CS_B)}&code=b12345")
    assert status == 200 and param(body, "display") == "Beta number 12345"
    status, body, _ = srv.get(f"/fhir/ValueSet/$expand?url={q(VS_A)}")
    assert status == 200 and len(codes_of(body)) == 50
    assert srv.proc.poll() is None


def test_failed_build_leaves_served_file(tmp_path, content, server_factory):
    db = str(tmp_path / "served" / "termsvc.db")
    r = termsvc_build(db, content["a"])
    assert r.returncode == 0, r.stderr
    with open(db, "rb") as f:
        before = f.read()
    st = os.stat(db)
    srv = server_factory(db, env={"TERMSVC_BUILD_CHECK_MS": str(BUILD_CHECK_MS)})
    status, body, _ = srv.get(f"/fhir/ValueSet/$expand?url={q(VS_A)}")
    assert status == 200 and len(codes_of(body)) == 50

    stream = Stream(srv)
    r = stream.run(lambda: termsvc_build(db, content["a"], content["b"], content["broken"]))
    assert r.returncode == 1
    assert "broken.json" in r.stderr

    with open(db, "rb") as f:
        assert f.read() == before
    st2 = os.stat(db)
    assert (st2.st_ino, st2.st_size, st2.st_mtime_ns) == (st.st_ino, st.st_size, st.st_mtime_ns)
    assert not [f for f in os.listdir(os.path.dirname(db)) if ".building-" in f]

    assert not stream.failures(), stream.failures()[:10]
    assert all(x[5] is False for x in stream.results if x[2] == "validate B")
    status, body, _ = srv.get(f"/fhir/CodeSystem?url={q(CS_B)}")
    assert status == 200 and body["total"] == 0
    status, body, _ = srv.get(f"/fhir/CodeSystem/$validate-code?url={q(CS_A)}&code=a49")
    assert status == 200 and param(body, "result") is True
