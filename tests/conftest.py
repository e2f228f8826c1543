"""Shared fixtures for the HTTP tests: one built database of the default content per
test run (shared by the xdist workers), a Flask test client over it, a helper to POST Parameters,
and a real `termsvc serve` process for the tests that need real HTTP.

The default content needs the FHIR packages (hl7.fhir.r5.core#5.0.0, hl7.terminology.r5#7.0.1,
hl7.fhir.uv.ips#2.0.0) in the FHIR package cache; `scripts/test.sh` fetches them. When they
are missing, the tests that need them are skipped with the reason - except under CI
(`CI=true`), where a missing package fails them: a CI run that skipped them would report green.
"""
import concurrent.futures
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from termsvc import settings
from termsvc.build import DEFAULT_PACKAGES, Progress, SourceSpec, build, default_sources

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLD_DIR = os.path.join(PROJECT_DIR, "tests", "gold")


def gold_report(db_path: str, gold: str) -> dict:
    """`termsvc mappings eval` of the gold set `gold` (a file of tests/gold) on the build, as its JSON report."""
    import orjson
    from click.testing import CliRunner

    from termsvc.cli import cli
    r = CliRunner().invoke(cli, ["mappings", "eval", os.path.join(GOLD_DIR, gold), "--db", db_path,
                                 "--no-default-mappings", "--json"])
    assert r.exit_code == 0, r.output
    return orjson.loads(r.output)
TERMSVC_BIN = os.path.join(os.path.dirname(sys.executable), "termsvc")
QUIET = Progress(quiet=True)

FHIR_JSON = "application/fhir+json"

# canonical URLs used across the tests
IG_R5 = "http://hl7.eu/fhir/imaging-r5"
IG_R4 = "http://hl7.eu/fhir/imaging"
IG_BASES = (IG_R5, IG_R4)
CID33 = "http://dicom.nema.org/medical/dicom/current/output/chtml/part16/sect_CID_33.html"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
SCT = "http://snomed.info/sct"


def package_cache_dir() -> str:
    return settings.load().fhir_package_cache


def missing_packages() -> list[str]:
    cache = package_cache_dir()
    return [p for p in DEFAULT_PACKAGES if not os.path.isdir(os.path.join(cache, p, "package"))]


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def require_packages():
    missing = missing_packages()
    if missing:
        reason = (f"FHIR packages not in the package cache {package_cache_dir()}: {', '.join(missing)}"
                  " (run `termsvc packages fetch --defaults` or scripts/test.sh)")
        if under_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


# -- the default-content database ------------------------------------------------------

@pytest.fixture(scope="session")
def db_path(tmp_path_factory, worker_id) -> str:
    """A build of the default content (IG, the three packages, DICOM, mappings_csv).

    Built once per test run: under pytest-xdist the workers share one build in the run's base
    temp folder (the first worker builds it; the others wait for it). Tests only read it."""
    require_packages()
    if worker_id == "master":
        path = str(tmp_path_factory.mktemp("db") / "termsvc.db")
        build(path, default_sources(), QUIET)
        return path
    root = tmp_path_factory.getbasetemp().parent
    path = str(root / "termsvc-default.db")
    failed = root / "termsvc-default.failed"
    try:
        fd = os.open(str(root / "termsvc-default.lock"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        def built() -> bool:
            if failed.exists():
                pytest.fail(f"building the shared test database failed: {failed.read_text()}")
            return os.path.exists(path)
        eventually(built, 600, interval=0.2, what="the shared test database (another worker builds it)")
        return path
    os.close(fd)
    try:
        build(path, default_sources(), QUIET)  # written beside `path`, renamed into place when complete
    except BaseException as e:
        failed.write_text(f"{type(e).__name__}: {e}")
        raise
    return path


@pytest.fixture(scope="session")
def worker_id(request) -> str:
    """The pytest-xdist worker id ("master" without xdist); xdist's own fixture wins when present."""
    return getattr(request.config, "workerinput", {}).get("workerid", "master")


@pytest.fixture(scope="session")
def app(db_path):
    from termsvc.api.app import create_app
    a = create_app(db_path)
    a.testing = True
    return a


@pytest.fixture(scope="session")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def default_suggester(db_path):
    """A suggester over the default build with the shipped lexicon and no evidence."""
    from termsvc.store.reader import Store
    from termsvc.suggest.lexicon import Lexicon
    from termsvc.suggest.service import Suggester
    s = Suggester(Store(db_path), Lexicon.load())
    yield s
    s.close()


def store_of(folder, resources: list[dict]):
    """A Store over a build of these FHIR resources alone (written as files into `folder`)."""
    from termsvc.store.reader import Store
    for i, r in enumerate(resources):
        (folder / f"r{i}.json").write_text(json.dumps(r))
    db = str(folder / "resources.db")
    build(db, [SourceSpec("fhir", str(folder))], QUIET)
    return Store(db)


def as_parameters(params) -> dict:
    """A Parameters resource from a dict/list of (name, value) pairs.

    Values: dict with resourceType -> resource; dict with system/code -> valueCoding;
    dict with coding -> valueCodeableConcept; bool -> valueBoolean; int -> valueInteger;
    str -> valueString (or a ('valueX', value) tuple to choose the type)."""
    items = params.items() if isinstance(params, dict) else params
    out = []
    for name, value in items:
        for v in (value if isinstance(value, list) else [value]):
            p = {"name": name}
            if isinstance(v, tuple):
                p[v[0]] = v[1]
            elif isinstance(v, dict) and "resourceType" in v:
                p["resource"] = v
            elif isinstance(v, dict) and "coding" in v:
                p["valueCodeableConcept"] = v
            elif isinstance(v, dict):
                p["valueCoding"] = v
            elif isinstance(v, bool):
                p["valueBoolean"] = v
            elif isinstance(v, int):
                p["valueInteger"] = v
            else:
                p["valueString"] = v
            out.append(p)
    return {"resourceType": "Parameters", "parameter": out}


def post_params(client, path, params, headers=None):
    """POST a Parameters resource (built by as_parameters) to `path` with the test client."""
    return client.post(path, data=json.dumps(as_parameters(params)), content_type=FHIR_JSON,
                       headers=headers or {})


@pytest.fixture
def post(client):
    def _post(path, params, headers=None):
        return post_params(client, path, params, headers)
    return _post


def param(body: dict, name: str, default=None):
    """The value of the first top-level parameter `name` of a Parameters answer."""
    for p in body.get("parameter", []):
        if p["name"] == name:
            for k, v in p.items():
                if k.startswith("value") or k == "resource":
                    return v
            return p.get("part")
    return default


def params_named(body: dict, name: str) -> list[dict]:
    return [p for p in body.get("parameter", []) if p["name"] == name]


def codes_of(expansion: dict) -> list[str]:
    """Every code of an expanded ValueSet (nested contains flattened)."""
    out = []

    def walk(items):
        for c in items or []:
            out.append(c["code"])
            walk(c.get("contains"))
    walk(expansion.get("expansion", {}).get("contains"))
    return out


def issue_texts(oo: dict) -> list[str]:
    return [i.get("details", {}).get("text", "") for i in oo.get("issue", [])]


def refused(r, name: str) -> str:
    """The text of a test client's 400 OperationOutcome that names the parameter `name`."""
    assert r.status_code == 400, (r.status_code, r.get_data(as_text=True)[:300])
    body = r.get_json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["severity"] == "error"
    text = issue_texts(body)[0]
    assert f"'{name}'" in text, text
    return text


def eventually(check, timeout: float = 30.0, interval: float = 0.05, what: str | None = None):
    """Poll `check()` until it returns something true (returned) or `timeout` seconds pass (AssertionError
    with its last answer): the way a test waits for another process or thread, never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what or getattr(check, '__name__', 'the condition')} not within {timeout} s"
                                 f" (last: {value!r})")
        time.sleep(interval)


# -- a real server process -------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`termsvc serve --db DB --port PORT --workers 1` as a subprocess."""

    def __init__(self, db: str, log_path: str, workers: int = 1, timeout: float = 60.0, env: dict | None = None,
                 port: int | None = None, args: tuple = ()):
        self.db = db
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")
        env = {**{k: v for k, v in os.environ.items() if k != "TERMSVC_DB"}, **(env or {})}
        self.proc = subprocess.Popen(
            [TERMSVC_BIN, "serve", "--db", db, "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", str(workers), *args],
            stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=PROJECT_DIR, start_new_session=True)
        self._wait_healthy(timeout)

    def _wait_healthy(self, timeout):
        def healthy() -> bool:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"termsvc serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=2) as r:
                    return r.status == 200
            except (urllib.error.URLError, ConnectionError, OSError):
                return False
        try:
            eventually(healthy, timeout, interval=0.1)
        except AssertionError:
            self.stop()
            raise RuntimeError(f"termsvc serve did not answer /health within {timeout} s:\n{self.log()}") from None

    def log(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    def request(self, method: str, path: str, body=None, headers=None, timeout: float = 30.0):
        """(status, parsed JSON body or None, raw bytes)."""
        data = None
        hdrs = {"Accept": FHIR_JSON}
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            hdrs["Content-Type"] = FHIR_JSON
        hdrs.update(headers or {})
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return status, parsed, raw

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, params, **kw):
        return self.request("POST", path, body=as_parameters(params), **kw)

    def post_raw(self, path, resource: dict, **kw):
        """POST a resource as it is (a Parameters built by the test)."""
        return self.request("POST", path, body=resource, **kw)

    def stop(self):
        """Terminate the server (its own process group: granian forks workers), then kill."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        if not self._log.closed:
            self._log.close()


def accepted_by_server(server_port: int, client_port: int) -> bool:
    """Whether a process has accepted the connection from `client_port` to `server_port` (127.0.0.1): the
    kernel gives the server's end of a connection an inode (/proc/net/tcp) only when accept() takes it from
    the listening socket's queue."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == server_port and int(fields[2].split(":")[1], 16) == client_port:
                return fields[9] != "0"
    return False


class Pending:
    """A POST on a connection of its own, sent and answered in a thread; `accepted()` says whether the server
    has taken the connection (from then on the request is the server's: in flight, or answered), `answer()`
    is (status, parsed body) or raises the OSError of a connection that closed without an answer."""

    def __init__(self, srv: ServerProcess, path: str, resource: dict | bytes, timeout: float = 60):
        self.server_port = srv.port
        self.conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=timeout)
        self.conn.connect()
        self.client_port = self.conn.sock.getsockname()[1]
        self.answered_at = None
        self._accepted = False
        self._answer = concurrent.futures.Future()
        body = resource if isinstance(resource, bytes) else json.dumps(resource).encode()
        threading.Thread(target=self._exchange, args=(path, body), daemon=True).start()

    def _exchange(self, path: str, body: bytes):
        try:
            self.conn.request("POST", path, body, {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON})
            r = self.conn.getresponse()
            raw = r.read()
            self.answered_at = time.monotonic()
            self._answer.set_result((r.status, json.loads(raw) if raw else None))
        except Exception as e:
            self._answer.set_exception(e)
        finally:
            self.conn.close()

    def accepted(self) -> bool:
        self._accepted = self._accepted or self.done() or accepted_by_server(self.server_port, self.client_port)
        return self._accepted

    def done(self) -> bool:
        return self._answer.done()

    def answer(self, timeout: float = 60):
        return self._answer.result(timeout)


def start_server(db: str, log_path: str, **kw) -> ServerProcess:
    if not os.path.exists(TERMSVC_BIN):
        reason = f"the termsvc command is not installed next to {sys.executable}"
        if under_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return ServerProcess(db, log_path, **kw)


@pytest.fixture(scope="session")
def live_server(db_path, tmp_path_factory):
    """A real `termsvc serve` process over the session database (shared, read-only use)."""
    srv = start_server(db_path, str(tmp_path_factory.mktemp("server") / "serve.log"))
    yield srv
    srv.stop()


@pytest.fixture
def server_factory(tmp_path):
    """Starts real servers over databases of the test's choosing; all stopped at teardown."""
    started = []

    def _start(db, **kw):
        srv = start_server(db, str(tmp_path / f"serve-{len(started)}.log"), **kw)
        started.append(srv)
        return srv
    yield _start
    for srv in started:
        srv.stop()



@pytest.fixture(autouse=True)
def fresh_settings():
    """Each test reads the settings afresh (tests change the environment with monkeypatch)."""
    settings.use(None)
    yield
    settings.use(None)
