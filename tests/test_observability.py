"""What an operator sees: /metrics (every worker counted), /health and /ready, the JSON access log with
request ids, the XML refusal, and the request deadline over read, search and metadata."""
import json
import os
import re
import time
import urllib.parse
import urllib.request

import pytest

from conftest import DCM, QUIET, eventually, issue_texts
from termsvc.api.app import create_app
from termsvc.api.observe import operation_of
from termsvc.build import SourceSpec, build
from termsvc.store.digest import file_sha256

LOOKUP = "/fhir/CodeSystem/$lookup?" + urllib.parse.urlencode({"system": DCM, "code": "CT"})


def samples(text: str) -> dict:
    """{'name{labels}': value} of a Prometheus exposition."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def metric(text: str, name: str, **labels) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for key, value in samples(text).items():
        base, _, rest = key.partition("{")
        found = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if base == name and all(found.get(k) == v for k, v in labels.items()):
            total += value
    return total


@pytest.fixture(scope="module")
def small_db(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("obs") / "termsvc.db")
    build(path, [], QUIET)
    return path


# -- /metrics in one process ---------------------------------------------------------------

def test_metrics_count_requests_cache_and_time_limits(db_path):
    # a limit the costly request meets and a fresh app's first lookup (its per-build caches cold) does not, even on a
    # loaded machine (at 300 ms it did, once)
    limit_s = 3
    app = create_app(db_path, {"access_log": "off", "time_limit_ms": str(limit_s * 1000)})
    c = app.test_client()
    before = c.get("/metrics").get_data(as_text=True)
    for _ in range(3):
        assert c.get(LOOKUP).status_code == 200
    assert c.get("/fhir/ValueSet/$expand?url=http://example.org/none").status_code == 404
    from test_limits import costly_expand   # a request that needs minutes without the deadline
    r = c.post("/fhir/ValueSet/$expand", data=json.dumps(costly_expand()), content_type="application/fhir+json")
    assert r.status_code == 422
    r = c.get("/metrics")
    assert r.status_code == 200 and r.content_type.startswith("text/plain")
    after = r.get_data(as_text=True)

    def grew(name, **labels):
        return metric(after, name, **labels) - metric(before, name, **labels)
    assert grew("termsvc_requests_total", operation="CodeSystem/$lookup", status="200") == 3
    assert grew("termsvc_request_duration_seconds_count", operation="CodeSystem/$lookup", status="200") == 3
    assert grew("termsvc_request_duration_seconds_bucket", operation="CodeSystem/$lookup", status="200",
                le="+Inf") == 3
    assert grew("termsvc_requests_total", operation="ValueSet/$expand", status="404") == 1
    assert grew("termsvc_requests_total", operation="ValueSet/$expand", status="422") == 1
    assert grew("termsvc_response_cache_total", result="hit") >= 2      # the same GET three times
    assert grew("termsvc_response_cache_total", result="miss") >= 1
    assert grew("termsvc_time_limit_hits_total") == 1
    # the slow request is in a slow bucket, the cached lookups in fast ones
    assert grew("termsvc_request_duration_seconds_bucket", operation="ValueSet/$expand", status="422", le="0.1") == 0
    assert grew("termsvc_request_duration_seconds_sum", operation="ValueSet/$expand", status="422") >= limit_s
    # a histogram as Prometheus reads it: cumulative buckets ending with +Inf = _count, nothing else of it shown
    from prometheus_client.parser import text_string_to_metric_families
    families = {f.name: f for f in text_string_to_metric_families(after)}
    latency = families["termsvc_request_duration_seconds"]
    assert latency.type == "histogram"
    assert not [name for name in families if name.startswith("termsvc_request_duration") and name != latency.name]
    key = {"operation": "CodeSystem/$lookup", "status": "200"}
    buckets = [s for s in latency.samples if s.name.endswith("_bucket") and s.labels.items() >= key.items()]
    assert [s.value for s in buckets] == sorted(s.value for s in buckets) and buckets[-1].labels["le"] == "+Inf"
    assert buckets[-1].value == metric(after, "termsvc_request_duration_seconds_count", **key) >= 3
    sha = file_sha256(db_path)
    assert metric(after, "termsvc_build_info", sha256=sha) == 1
    assert metric(after, "termsvc_build_generation") >= 1
    assert time.time() - metric(after, "termsvc_build_loaded_timestamp_seconds") < 3600


def test_operation_labels_are_a_small_fixed_set():
    assert operation_of("GET", "/fhir/metadata") == "metadata"
    assert operation_of("GET", "/r4/fhir/ValueSet") == "ValueSet/search"
    assert operation_of("GET", "/fhir/CodeSystem/abc") == "CodeSystem/read"
    assert operation_of("POST", "/fhir") == "batch"
    assert operation_of("GET", "/admin/jobs/1") == "admin"
    for junk in ("/fhir/Patient/1/x/y", "/nothing", "/fhir/" + "x" * 500, "/%00"):
        assert operation_of("GET", junk) == "other"


# -- /metrics, logs and ids over a real server of 2 workers -------------------------------------

def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def metrics_dir_of(server_pid: int) -> str:
    """The run's PROMETHEUS_MULTIPROC_DIR: where the workers map their metric files."""
    for pid in children(server_pid):
        with open(f"/proc/{pid}/maps") as f:
            for line in f:
                if "termsvc-metrics-" in line:
                    return os.path.dirname(line.split()[-1])
    raise AssertionError("no worker maps a metrics file")


def test_metrics_count_every_worker_and_the_folder_goes_with_the_server(db_path, server_factory):
    srv = server_factory(db_path, workers=2)
    n = 120
    for i in range(n):   # a connection per request: the kernel spreads them over both workers
        status, _, _ = srv.get(f"/fhir/CodeSystem/$lookup?system={DCM}&code=CT&n={i}")
        assert status == 200

    def counted():   # each worker moves its counts into the shared files once a second
        text = srv.get("/metrics")[2].decode()
        return text if metric(text, "termsvc_requests_total", operation="CodeSystem/$lookup", status="200") >= n \
            else None
    text = eventually(counted, what="every lookup in /metrics")
    folder = metrics_dir_of(srv.proc.pid)
    assert metric(text, "termsvc_requests_total", operation="CodeSystem/$lookup", status="200") == n
    assert metric(text, "termsvc_response_cache_total", result="miss") == n   # every query differs
    pids = {m.group(1) for f in os.listdir(folder) if (m := re.search(r"_(\d+)\.db$", f))}
    assert len(pids - {str(srv.proc.pid)}) >= 2, os.listdir(folder)   # both workers wrote their counts
    assert metric(text, "termsvc_build_info", sha256=file_sha256(db_path)) == 1
    srv.stop()
    assert not os.path.exists(folder)


def access_lines(srv) -> list[dict]:
    """The access-log lines the server wrote so far (its own messages are JSON lines too, without request_id)."""
    lines = []
    for line in srv.log().splitlines():
        if line.startswith('{"time"'):
            entry = json.loads(line)
            if "request_id" in entry:
                lines.append(entry)
    return lines


def logged(srv, count: int) -> list[dict]:
    """The access lines, once there are `count` of them: a worker writes its lines every 0.2 s."""
    return eventually(lambda: lines if len(lines := access_lines(srv)) >= count else None,
                      what=f"{count} access-log lines")


def test_access_log_lines_and_request_ids(small_db, server_factory):
    srv = server_factory(small_db)
    req = urllib.request.Request(srv.base + "/fhir/metadata", headers={"X-Request-Id": "conv-42.a"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.headers["X-Request-Id"] == "conv-42.a"
    made = set()
    for path in ("/health", "/fhir/CodeSystem/nope"):
        req = urllib.request.Request(srv.base + path, headers={"X-Request-Id": "bad id\twith spaces"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                made.add(r.headers["X-Request-Id"])
        except urllib.error.HTTPError as e:
            assert e.code == 404
            made.add(e.headers["X-Request-Id"])
    assert len(made) == 2 and all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]+", m) for m in made), made
    lines = logged(srv, 3)
    by_id = {line["request_id"]: line for line in lines}
    first = by_id["conv-42.a"]
    assert first["method"] == "GET" and first["path"] == "/fhir/metadata" and first["operation"] == "metadata"
    assert first["status"] == 200 and first["level"] == "info" and first["duration_ms"] >= 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])
    missing = next(line for line in lines if line["path"] == "/fhir/CodeSystem/nope")
    assert missing["status"] == 404 and missing["level"] == "warning" and missing["request_id"] in made
    assert missing["operation"] == "CodeSystem/read"


def test_log_level_and_access_log_off(small_db, server_factory):
    quiet = server_factory(small_db, args=("--setting", "log_level", "warning"))
    assert quiet.get("/health")[0] == 200 and quiet.get("/fhir/ValueSet/none")[0] == 404
    off = server_factory(small_db, args=("--setting", "access_log", "off"))
    assert off.get("/health")[0] == 200 and off.get("/fhir/ValueSet/none")[0] == 404
    assert quiet.get("/fhir/ValueSet/none2")[0] == 404   # one worker writes its lines in order: when this
    assert [line["status"] for line in logged(quiet, 2)] == [404, 404]   # one is there, the /health would be
    off.stop()
    assert access_lines(off) == []   # the server wrote its pending lines when it stopped


def test_health_and_ready(live_server):
    assert live_server.get("/health")[:2] == (200, {"status": "ok"})
    assert live_server.get("/ready")[:2] == (200, {"status": "ready"})


def build_infos(text: str) -> list[dict]:
    """Every series of termsvc_build_info (each must be 1)."""
    infos = [(dict(re.findall(r'(\w+)="([^"]*)"', key)), value) for key, value in samples(text).items()
             if key.startswith("termsvc_build_info{")]
    assert all(value == 1 for _, value in infos), infos
    return [labels for labels, _ in infos]


def test_build_info_is_only_the_build_served(tmp_path, server_factory):
    def build_number(n: int, path) -> str:
        marker = tmp_path / f"marker-{n}.json"
        marker.write_text(json.dumps({"resourceType": "CodeSystem", "url": "http://example.org/cs/marker",
                                      "status": "active", "content": "complete", "concept": [{"code": str(n)}]}))
        build(str(path), [SourceSpec("fhir", str(marker))], QUIET)
        return file_sha256(str(path))

    db = tmp_path / "served.db"
    shas = [build_number(0, db)]
    srv = server_factory(str(db), workers=2)
    assert [b["sha256"] for b in build_infos(srv.get("/metrics")[2].decode())] == shas
    for n in (1, 2):   # new builds swapped in: a scrape reports the one served then, and no other
        shas.append(build_number(n, tmp_path / "next.db"))
        os.replace(tmp_path / "next.db", db)
        seen = []

        def reported(seen=seen):   # four scrapes in a row (whichever worker answers) report the new build
            seen.append([b["sha256"] for b in build_infos(srv.get("/metrics")[2].decode())])
            return seen[-4:] == [[shas[-1]]] * 4
        eventually(reported, interval=0, what="the new build reported")
        # a worker looks for a new build at most every 0.2 s: till then it serves, and reports, the one it has
        assert all(len(s) == 1 and s[0] in shas for s in seen), seen
    assert len(set(shas)) == 3


def test_every_line_the_server_writes_is_json(small_db, tmp_path):
    """stdout: the access log; stderr: the server's own messages and granian's (start, workers, stop)."""
    import subprocess
    from conftest import TERMSVC_BIN, free_port
    port = free_port()
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen([TERMSVC_BIN, "serve", "--db", small_db, "--host", "127.0.0.1", "--port", str(port),
                                 "--workers", "2"], stdout=o, stderr=e, start_new_session=True)

    def answered() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/fhir/CodeSystem/nope", timeout=2):
                return False
        except urllib.error.HTTPError:   # the 404 answered: the server is up
            return True
        except OSError:
            return False
    try:
        eventually(answered, 60, what="the server's answer")
        eventually(lambda: b"request_id" in out.read_bytes(), what="the access-log line")
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
    stdout, stderr = out.read_text().splitlines(), err.read_text().splitlines()
    assert stdout and all(json.loads(line)["request_id"] for line in stdout), stdout
    messages = [json.loads(line) for line in stderr]   # fails on any line that is not JSON
    said = " | ".join(m["message"] for m in messages)
    assert "Starting granian" in said and "Spawning worker-2" in said and "shutdown completed" in said, said
    assert {m["level"] for m in messages} <= {"info", "warning"}

# -- formats ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/fhir/metadata", "/r4/fhir/metadata", LOOKUP, "/fhir/ValueSet?_count=1",
                                  "/fhir/CodeSystem/x"])
@pytest.mark.parametrize("how", [{"query": "_format=xml"}, {"query": "_format=application/fhir%2Bxml"},
                                 {"accept": "application/fhir+xml"}, {"accept": "application/xml, text/xml;q=0.5"},
                                 {"accept": "application/fhir+json;q=0, application/fhir+xml"}])
def test_xml_asked_for_is_a_406_in_json(client, path, how):
    url = path + ("&" if "?" in path else "?") + how["query"] if "query" in how else path
    r = client.get(url, headers={"Accept": how.get("accept", "application/fhir+json")})
    assert r.status_code == 406
    assert r.content_type.startswith("application/fhir+json")
    body = r.get_json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["code"] == "not-supported"
    assert "JSON" in issue_texts(body)[0]


def test_xml_refused_for_posts_and_batches_too(client):
    r = client.post("/fhir?_format=xml", data=json.dumps({"resourceType": "Bundle", "type": "batch"}),
                    content_type="application/fhir+json")
    assert r.status_code == 406
    r = client.post("/fhir/CodeSystem/$lookup", data=json.dumps({"resourceType": "Parameters"}),
                    content_type="application/fhir+json", headers={"Accept": "application/fhir+xml"})
    assert r.status_code == 406


@pytest.mark.parametrize("accept", ["application/fhir+json", "application/json", "*/*", "text/html",
                                    "application/fhir+xml;q=0.9, application/fhir+json", "application/xml, */*;q=0.1",
                                    "", "garbage;;q=x"])
def test_json_served_when_the_accept_allows_it(client, accept):
    r = client.get("/fhir/metadata?_format=json", headers={"Accept": accept})
    assert r.status_code == 200 and r.get_json()["resourceType"] == "CapabilityStatement"


# -- the deadline over read, search and metadata ---------------------------------------------------

ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


@pytest.mark.parametrize("path, method", [
    ("/fhir/metadata?mode=terminology", "code_system_versions"),
    ("/r4/fhir/metadata?mode=terminology", "code_system_versions"),
    ("/fhir/ValueSet?_count=5", "search_resources"),
    ("/fhir/CodeSystem?_summary=count", "search_resources"),
    ("/fhir/ValueSet/anything", "resource_by_fhir_id"),
])
def test_read_search_and_metadata_stop_at_the_time_limit(small_db, monkeypatch, path, method):
    """The store method the endpoint calls runs a query that never ends: the request's deadline stops it."""
    app = create_app(small_db, {"access_log": "off", "time_limit_ms": "300"})
    store = app.extensions["termsvc.store"]
    monkeypatch.setattr(store, method, lambda *a, **k: store.one(ENDLESS))
    started = time.monotonic()
    r = app.test_client().get(path)
    assert time.monotonic() - started < 5
    assert r.status_code == 422, r.get_data(as_text=True)
    body = r.get_json()
    assert body["issue"][0]["code"] == "too-costly" and "300 ms" in issue_texts(body)[0]


def test_search_loop_stops_at_the_time_limit(small_db, monkeypatch):
    """Python work per entry (rendering each resource) is bounded by the same deadline."""
    app = create_app(small_db, {"access_log": "off", "time_limit_ms": "200"})
    store = app.extensions["termsvc.store"]
    monkeypatch.setattr(store, "search_resources", lambda *a, **k: (10_000, [(i, f"id{i}") for i in range(10_000)]))

    def slow_render(*_args):
        time.sleep(0.01)
        return {"resourceType": "ValueSet"}
    monkeypatch.setattr(store, "resource_json", slow_render)
    started = time.monotonic()
    r = app.test_client().get("/fhir/ValueSet?_count=1000&_summary=true")
    assert r.status_code == 422 and time.monotonic() - started < 3


def test_log_settings_are_checked_at_start():
    from termsvc import settings
    assert settings.load({"access_log": "off"}).access_log is False
    assert settings.load({"access_log": "Yes"}).access_log is True
    assert settings.load({"log_level": "WARNING"}).log_level == "warning"
    for name, value in (("access_log", "maybe"), ("log_level", "loud")):
        with pytest.raises(settings.SettingsError, match=name):
            settings.load({name: value})


def test_access_lines_are_written_whole_in_writes_of_at_most_4_kb(monkeypatch):
    from termsvc.api import observe
    read_fd, write_fd = os.pipe()
    writer = observe.LineWriter(write_fd)
    real_write = os.write
    writes = []
    monkeypatch.setattr(observe.os, "write", lambda fd, data: writes.append(bytes(data)) or real_write(fd, data))
    lines = [json.dumps({"n": i, "pad": "x" * (i % 300)}).encode() + b"\n" for i in range(300)]   # < 64 KB
    lines.insert(150, json.dumps({"long": "y" * 5000}).encode() + b"\n")   # longer than a write: alone
    for line in lines:
        writer.write(line)
    writer.flush()
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        assert f.read() == b"".join(lines)
    assert all(w.endswith(b"\n") for w in writes) and lines[150] in writes
    assert max(len(w) for w in writes if w != lines[150]) <= 4096 and 1 < len(writes) < len(lines) / 5


# -- the management port ------------------------------------------------------------------------

def status_of(url: str, headers=None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_the_management_port_serves_metrics_and_admin_and_the_api_port_does_not(small_db, server_factory):
    from conftest import free_port
    port = free_port()
    srv = server_factory(small_db, workers=2, env={"TERMSVC_ADMIN_TOKEN": "s3cret"},
                         args=("--management-port", str(port)))
    management = f"http://127.0.0.1:{port}"
    bearer = {"Authorization": "Bearer s3cret"}
    # the API port: the API, the probes; not /metrics nor /admin (nor in its description)
    assert srv.get("/fhir/metadata")[0] == 200 and srv.get("/ready")[0] == 200
    status, body, _ = srv.get("/metrics")
    assert status == 404 and body["resourceType"] == "OperationOutcome"
    assert status_of(srv.base + "/admin/jobs/1", bearer) == 404 and status_of(srv.base + "/admin/jobs/1") == 404
    paths = srv.get("/openapi.json")[1]["paths"]
    assert "/metrics" not in paths and not any(p.startswith("/admin") for p in paths) and "/health" in paths
    # the management port: /metrics counting the API's workers, the admin API (token checked), the probes
    def counted():   # each worker moves its counts into the shared files once a second
        with urllib.request.urlopen(management + "/metrics", timeout=10) as r:
            text = r.read().decode()
        return text if metric(text, "termsvc_requests_total", operation="metadata", status="200") >= 1 else None
    text = eventually(counted, what="the metadata request in /metrics")
    assert metric(text, "termsvc_requests_total", operation="metadata", status="200") == 1
    assert [b["sha256"] for b in build_infos(text)] == [file_sha256(small_db)]
    assert status_of(management + "/admin/jobs/1") == 401 and status_of(management + "/admin/jobs/1", bearer) == 404
    assert status_of(management + "/ready") == 200 and status_of(management + "/health") == 200
    for path in ("/fhir/metadata", LOOKUP, "/openapi.json", "/mappings"):
        assert status_of(management + path) == 404, path
    srv.stop()
    with pytest.raises(OSError):   # the management process went with the server
        urllib.request.urlopen(management + "/health", timeout=5)


def test_a_management_port_in_use_stops_the_server_at_start(small_db, tmp_path):
    import socket
    import subprocess
    from conftest import TERMSVC_BIN, free_port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        p = subprocess.run([TERMSVC_BIN, "serve", "--db", small_db, "--host", "127.0.0.1", "--port", str(free_port()),
                            "--management-port", str(taken.getsockname()[1])], capture_output=True, text=True,
                           timeout=60)
    assert p.returncode != 0 and "Address already in use" in p.stderr, p.stderr[-2000:]
