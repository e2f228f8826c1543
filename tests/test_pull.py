"""`termsvc pull`: a published build downloaded (http, file), verified by sha256 and swapped in as a local
build is; a wrong checksum, a truncated or failed download, or a file that is no termsvc build leaves the
served file byte-identical (same inode). `termsvc build` prints the sha256, `termsvc info` shows it."""
import functools
import hashlib
import http.server
import json
import os
import shutil
import sqlite3
import subprocess
import threading
import urllib.parse

import pytest

from conftest import TERMSVC_BIN, eventually, free_port, param

CS = "http://example.org/fhir/CodeSystem/pull-test"


def termsvc(*args, env=None):
    return subprocess.run([TERMSVC_BIN, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def sha256_of(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def make_build(tmp_path, name: str, codes: list[str]) -> tuple[str, str]:
    """A small build (one code system with `codes`) at tmp_path/name.db: (path, the sha256 build printed)."""
    src = tmp_path / f"{name}-src"
    src.mkdir()
    (src / "cs.json").write_text(json.dumps({
        "resourceType": "CodeSystem", "id": "pull-test", "url": CS, "version": name, "status": "active",
        "content": "complete", "concept": [{"code": c, "display": f"{c} of {name}"} for c in codes]}))
    db = str(tmp_path / "artifacts" / f"{name}.db")
    r = termsvc("build", "--db", db, "--no-defaults", "--fhir", str(src), "--quiet")
    assert r.returncode == 0, r.stderr
    line, = r.stdout.splitlines()  # --quiet: only the checksum line, in sha256sum's format
    sha, path = line.split("  ")
    assert path == db and sha == sha256_of(db)
    return db, sha


@pytest.fixture
def builds(tmp_path):
    a = make_build(tmp_path, "a", ["a1", "a2"])
    b = make_build(tmp_path, "b", ["a1", "b1"])
    return {"a": a, "b": b}


class Publisher:
    """Serves tmp_path/artifacts over HTTP; /truncated/NAME announces NAME's full length but sends half,
    /endless sends zeros until the client hangs up, /huge announces a petabyte."""

    def __init__(self, folder):
        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                if self.path.split("?")[0] in ("/endless", "/huge"):
                    self.send_response(200)
                    if self.path == "/huge":
                        self.send_header("Content-Length", str(10 ** 15))
                    self.end_headers()
                    self.close_connection = True
                    try:   # until the client hangs up
                        while True:
                            self.wfile.write(b"\0" * 65536)
                    except OSError:
                        return
                if self.path.startswith("/truncated/"):
                    data = open(os.path.join(folder, self.path.rsplit("/", 1)[1]), "rb").read()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                super().do_GET()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     functools.partial(Handler, directory=folder))
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def publisher(tmp_path, builds):
    p = Publisher(str(tmp_path / "artifacts"))
    yield p
    p.stop()


@pytest.fixture
def served(tmp_path, builds):
    """The served file: a copy of build A in its own folder (as a replica's volume holds it)."""
    db = tmp_path / "served" / "termsvc.db"
    db.parent.mkdir()
    shutil.copyfile(builds["a"][0], db)
    return str(db)


def snapshot(path):
    st = os.stat(path)
    return open(path, "rb").read(), (st.st_ino, st.st_size, st.st_mtime_ns)


def assert_unchanged(path, before):
    assert snapshot(path) == before
    assert not [f for f in os.listdir(os.path.dirname(path)) if ".pulling-" in f]


def lookup_display(srv, code):
    status, body, _ = srv.get(f"/fhir/CodeSystem/$lookup?system={urllib.parse.quote(CS, safe='')}&code={code}")
    return param(body, "display") if status == 200 else None


def test_build_prints_sha256_and_info_shows_it(builds):
    db, sha = builds["a"]
    r = termsvc("info", "--db", db, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["sha256"] == sha
    r = termsvc("info", "--db", db)
    assert f"sha256     {sha}" in r.stdout


def test_the_sha256_is_remembered_beside_the_build_while_the_file_is_the_same(builds, tmp_path):
    from termsvc.store.digest import build_sha256
    db = str(tmp_path / "copy.db")
    shutil.copyfile(builds["a"][0], db)
    note = db + ".sha256"
    assert not os.path.exists(note)
    assert build_sha256(db) == builds["a"][1]          # computed, then remembered
    assert json.loads(open(note).read())["sha256"] == builds["a"][1]
    # the note is trusted while it describes this file: a forged hash shows it is read, not recomputed
    forged = json.loads(open(note).read())
    forged["sha256"] = "f" * 64
    open(note, "w").write(json.dumps(forged))
    assert build_sha256(db) == "f" * 64
    # another file in its place (a new build: new inode) is hashed again
    shutil.copyfile(builds["b"][0], db + ".new")
    os.replace(db + ".new", db)
    assert build_sha256(db) == builds["b"][1]
    open(note, "w").write("not json")
    assert build_sha256(db) == builds["b"][1]


def test_pull_remembers_the_sha256_it_verified(builds, publisher, tmp_path):
    db = str(tmp_path / "volume" / "termsvc.db")
    r = termsvc("pull", f"{publisher.base}/b.db", "--sha256", builds["b"][1], "--db", db, "--quiet")
    assert r.returncode == 0, r.stderr
    note = json.loads(open(db + ".sha256").read())
    assert note["sha256"] == builds["b"][1] and note["file"][0] == os.stat(db).st_ino


def test_pull_swaps_in_and_a_live_server_answers_from_it(builds, publisher, served, server_factory):
    srv = server_factory(served)
    assert lookup_display(srv, "a2") == "a2 of a" and lookup_display(srv, "b1") is None
    inode_a = os.stat(served).st_ino

    r = termsvc("pull", f"{publisher.base}/b.db", "--sha256", builds["b"][1].upper(), "--db", served)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{builds['b'][1]}  {served}"
    assert os.stat(served).st_ino != inode_a and sha256_of(served) == builds["b"][1]
    assert not [f for f in os.listdir(os.path.dirname(served)) if ".pulling-" in f]
    eventually(lambda: lookup_display(srv, "b1") == "b1 of b")  # no restart: the server noticed the swap
    assert lookup_display(srv, "a2") is None and lookup_display(srv, "a1") == "a1 of b"

    # back to A from a file URL
    r = termsvc("pull", "file://" + builds["a"][0], "--sha256", builds["a"][1], "--db", served)
    assert r.returncode == 0, r.stderr
    eventually(lambda: lookup_display(srv, "a2") == "a2 of a")
    assert srv.proc.poll() is None


def test_pull_of_the_served_build_changes_nothing(builds, served):
    before = snapshot(served)
    r = termsvc("pull", builds["a"][0], "--sha256", builds["a"][1], "--db", served)  # a plain path is a file
    assert r.returncode == 0, r.stderr
    assert "nothing to do" in r.stderr
    assert_unchanged(served, before)


def test_pull_into_a_new_volume(builds, publisher, tmp_path):
    db = str(tmp_path / "empty-volume" / "sub" / "termsvc.db")
    r = termsvc("pull", f"{publisher.base}/a.db", "--sha256", builds["a"][1], "--db", db, "--quiet")
    assert r.returncode == 0, r.stderr
    assert r.stderr == "" and sha256_of(db) == builds["a"][1]


def test_wrong_checksum_leaves_the_served_file(builds, publisher, served, server_factory):
    srv = server_factory(served, env={"TERMSVC_BUILD_CHECK_MS": "0"})   # looks for a new build at every request
    before = snapshot(served)
    wrong = builds["b"][1][:-1] + ("0" if builds["b"][1][-1] != "0" else "1")
    r = termsvc("pull", f"{publisher.base}/b.db", "--sha256", wrong, "--db", served)
    assert r.returncode == 1
    assert f"sha256 {builds['b'][1]}, expected {wrong}" in r.stderr and "is unchanged" in r.stderr
    assert_unchanged(served, before)
    assert lookup_display(srv, "a2") == "a2 of a" and lookup_display(srv, "b1") is None


def test_truncated_download_leaves_the_served_file(builds, publisher, served):
    before = snapshot(served)
    size = os.path.getsize(builds["b"][0])
    r = termsvc("pull", f"{publisher.base}/truncated/b.db", "--sha256", builds["b"][1], "--db", served)
    assert r.returncode == 1
    assert f"truncated/b.db: incomplete download: the connection closed before the end of the {size} bytes" in r.stderr
    assert_unchanged(served, before)


def test_a_file_that_is_no_termsvc_build_is_refused(builds, tmp_path, served):
    before = snapshot(served)
    junk = tmp_path / "artifacts" / "junk.db"
    junk.write_bytes(b"not a database" * 1000)
    r = termsvc("pull", str(junk), "--sha256", sha256_of(junk), "--db", served)
    assert r.returncode == 1 and "not a termsvc database" in r.stderr
    assert_unchanged(served, before)

    other = tmp_path / "artifacts" / "other-schema.db"
    shutil.copyfile(builds["b"][0], other)
    with sqlite3.connect(other) as c:
        c.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    c.close()
    r = termsvc("pull", str(other), "--sha256", sha256_of(other), "--db", served)
    assert r.returncode == 1 and "schema version 999" in r.stderr
    assert_unchanged(served, before)


def test_a_pull_never_fills_the_disk(builds, publisher, served, monkeypatch):
    """An endless body stops while the setting pull_keep_free_bytes stays free (here: 5 MB from now), and what
    it wrote goes; a length that does not fit is refused before a byte is written."""
    from termsvc import pull, settings
    before = snapshot(served)
    folder = os.path.dirname(served)
    keep_free = pull.free_bytes(folder) - 5_000_000
    settings.use(settings.load({"pull_keep_free_bytes": keep_free}))
    for path, message in (("/endless", "would leave"), ("/huge", "1,000,000,000.0 MB more would leave")):
        with pytest.raises(pull.PullError, match=message):
            pull.pull(publisher.base + path, builds["b"][1], served)
        assert_unchanged(served, before)
    # the command says it the same way
    r = termsvc("pull", f"{publisher.base}/huge", "--sha256", builds["b"][1], "--db", served)
    assert r.returncode == 1 and "a pull leaves 1,074 MB free" in r.stderr and f"{served} is unchanged" in r.stderr
    # the reserve is a setting (here from the command line)
    r = termsvc("pull", f"{publisher.base}/huge", "--sha256", builds["b"][1], "--db", served,
                "--setting", "pull_keep_free_bytes", "5000000")
    assert r.returncode == 1 and "a pull leaves 5 MB free" in r.stderr, r.stderr


@pytest.mark.parametrize("url, sha, message", [
    ("{base}/missing.db", "{sha}", "HTTP 404"),
    ("http://127.0.0.1:{free}/b.db", "{sha}", "download failed"),
    ("ftp://example.org/b.db", "{sha}", "unsupported URL scheme 'ftp'"),
    ("file:///nonexistent/b.db", "{sha}", "No such file"),
    ("{base}/b.db", "abc123", "64 hexadecimal digits"),
])
def test_failed_pulls_exit_1_and_leave_the_served_file(builds, publisher, served, url, sha, message):
    before = snapshot(served)
    url = url.format(base=publisher.base, free=free_port())
    r = termsvc("pull", url, "--sha256", sha.format(sha=builds["b"][1]), "--db", served)
    assert r.returncode == 1
    error = r.stderr.splitlines()[-1]
    assert error.startswith("termsvc: error: ") and message in error and error.endswith(f"{served} is unchanged")
    assert_unchanged(served, before)


def test_a_package_download_that_does_not_end_is_refused(publisher, monkeypatch):
    """A FHIR package from the registry is read up to the setting max_package_bytes (here 1 MB), never held
    past it."""
    from termsvc import settings
    from termsvc.loaders import fhir_package
    from termsvc.loaders.protocol import BuildError
    settings.use(settings.current().with_values({"fhir_package_registry": publisher.base + "/registry",
                                                 "max_package_bytes": 1 << 20}))
    try:
        # (the publisher answers a path it does not have with a 404, and /endless?... forever)
        with pytest.raises(BuildError, match="HTTP 404"):
            fhir_package.registry_download("example.package", "1.0.0")
        settings.use(settings.current().with_values({"fhir_package_registry": publisher.base + "/endless?"}))
        with pytest.raises(BuildError, match="sends more than 1 MB"):
            fhir_package.registry_download("example.package", "1.0.0")
    finally:
        settings.use(None)
