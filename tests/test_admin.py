"""The admin API: present only with a token, every call authorised, rebuilds in the background swapped in
without dropping a request, and mapping-table uploads that change nothing when they have errors."""
import io
import os
import shutil
import signal
import sqlite3
import urllib.parse
import uuid

import pytest
import requests

from conftest import PROJECT_DIR, eventually, param
from termsvc.api import admin
from termsvc.api.app import create_app
from termsvc.store.digest import file_sha256

TOKEN = "admin-" + uuid.uuid4().hex
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RIS_CS = "http://termsvc.example.eu/fhir/CodeSystem/ris-modality-eu"
MAPPINGS = os.path.join(PROJECT_DIR, "mappings_csv")


def own_table(name: str, csv_edit=lambda b: b) -> dict:
    """The shipped RIS table as a new table `name` (its own ConceptMap url) for an upload."""
    with open(os.path.join(MAPPINGS, "ris-modality-eu.csv"), "rb") as f:
        data = csv_edit(f.read())
    with open(os.path.join(MAPPINGS, "ris-modality-eu.toml"), "rb") as f:
        toml = f.read().replace(b"ConceptMap/ris-modality-eu", b"ConceptMap/" + name.encode())
    return {"table": (f"{name}.csv", data), "metadata": (f"{name}.toml", toml)}


@pytest.fixture
def admin_server(db_path, tmp_path, server_factory):
    """A server of 2 workers over a copy of the default build, with the admin API and an upload folder."""
    db = tmp_path / "served" / "termsvc.db"
    db.parent.mkdir()
    shutil.copyfile(db_path, db)
    folder = tmp_path / "tables"
    srv = server_factory(str(db), workers=2, env={"TERMSVC_ADMIN_TOKEN": TOKEN, "TERMSVC_MAPPINGS": str(folder),
                                                  "TERMSVC_ACCESS_LOG": "off"})
    srv.folder = folder
    return srv


def job_state(srv, job_url: str) -> dict:
    r = requests.get(srv.base + job_url, headers=AUTH, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def ended(state: dict) -> dict | None:
    return state if state["state"] in ("succeeded", "failed") else None


def wait_for(srv, job_url: str, timeout: float = 240) -> dict:
    """The job's state once it has ended."""
    return eventually(lambda: ended(job_state(srv, job_url)), timeout, interval=0.3, what=f"the end of {job_url}")


def reload_when_free(srv, timeout: float = 30) -> dict:
    """Start a rebuild as soon as the last one's process has ended (it holds the lock until it exits)."""
    def started():
        r = requests.post(srv.base + "/admin/reload", headers=AUTH, timeout=10)
        return r if r.status_code != 409 else None
    r = eventually(started, timeout, interval=0.1, what="a free rebuild lock")
    assert r.status_code == 202, r.text
    return r.json()["job"]


# -- presence and authorisation ------------------------------------------------------------------

def test_no_admin_api_without_a_token(client):
    for method, path in (("post", "/admin/reload"), ("get", "/admin/jobs"), ("get", "/admin/jobs/x"),
                         ("post", "/admin/mappings")):
        r = getattr(client, method)(path, headers=AUTH)
        assert r.status_code == 404 and r.get_json()["resourceType"] == "OperationOutcome"


def test_every_call_needs_the_token(db_path, monkeypatch):
    compared = []
    real = admin.hmac.compare_digest
    monkeypatch.setattr(admin.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    c = create_app(db_path, {"access_log": "off", "admin_token": TOKEN}).test_client()
    for method, path in (("post", "/admin/reload"), ("get", "/admin/jobs/x"), ("post", "/admin/mappings")):
        call = getattr(c, method)
        for headers in ({}, {"Authorization": ""}, {"Authorization": "Bearer"}, {"Authorization": f"Basic {TOKEN}"}):
            r = call(path, headers=headers)
            assert r.status_code == 401, (path, headers)
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
            assert r.get_json()["issue"][0]["code"] == "login"
        for wrong in (TOKEN[:-1], TOKEN + "x", "x", TOKEN.upper()):
            r = call(path, headers={"Authorization": f"Bearer {wrong}"})
            assert r.status_code == 403 and r.get_json()["issue"][0]["code"] == "forbidden"
    assert compared and all(b == TOKEN.encode() for _, b in compared)   # the constant-time comparison
    assert c.get("/admin/jobs/nope", headers=AUTH).status_code == 404


def test_uploads_need_a_folder_and_a_proper_table(db_path, tmp_path):
    no_folder = create_app(db_path, {"access_log": "off", "admin_token": TOKEN}).test_client()
    r = no_folder.post("/admin/mappings", headers=AUTH, data=_files(own_table("x")))
    assert r.status_code == 409 and "mappings" in r.get_json()["issue"][0]["details"]["text"]
    c = create_app(db_path, {"access_log": "off", "admin_token": TOKEN,
                             "mappings": str(tmp_path / "t")}).test_client()
    table = own_table("good-name")
    for data, status in (({}, 400), ({"table": table["table"]}, 400),            # no metadata for a CSV
                         # only the file's own name is used: checked as passwd.csv (no columns: 422)
                         ({"table": ("../../etc/passwd.csv", b"x"), "metadata": table["metadata"]}, 422),
                         ({"table": ("notes.txt", b"x"), "metadata": table["metadata"]}, 400),
                         (own_table("ris-modality-eu"), 409)):                   # a shipped table's name
        r = c.post("/admin/mappings", headers=AUTH, data=_files(data))
        assert r.status_code == status, (data.keys(), r.get_data(as_text=True))
        assert r.get_json()["resourceType"] == "OperationOutcome"
    assert os.listdir(tmp_path / "t") == []


def test_an_unreadable_upload_says_unreadable_once(db_path, tmp_path):
    c = create_app(db_path, {"access_log": "off", "admin_token": TOKEN, "mappings": str(tmp_path / "t")}).test_client()
    for table in ({"table": ("x.xlsx", b"not a workbook")},
                  {"table": ("y.csv", b""), "metadata": ("y.toml", b'url = "http://ex.test/cm/y"')}):
        r = c.post("/admin/mappings", headers=AUTH, data=_files(table))
        assert r.status_code == 422
        issues = [i["details"]["text"] for i in r.get_json()["issue"]]
        assert issues[0] == "The table cannot be used: nothing was changed"
        assert " ".join(issues).count("unreadable") == 1, issues
    assert [i["details"]["text"] for i in r.get_json()["issue"]][1] == "y.csv: unreadable: the file is empty"
    assert os.listdir(tmp_path / "t") == []


def _files(table: dict) -> dict:
    return {field: (io.BytesIO(data), name) for field, (name, data) in table.items()}


def test_the_served_database_is_opened_read_only(db_path):
    store = create_app(db_path, {"access_log": "off", "admin_token": TOKEN}).extensions["termsvc.store"]
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        store.conn().execute("CREATE TABLE intruder (x)")


# -- over HTTP: reload, uploads ----------------------------------------------------------------------

def test_reload_rebuilds_in_the_background_and_swaps_without_dropping_requests(admin_server):
    srv = admin_server
    db = srv.db
    inode = os.stat(db).st_ino
    r = requests.post(srv.base + "/admin/reload", headers=AUTH, timeout=10)
    assert r.status_code == 202, r.text
    job = r.json()["job"]
    assert r.headers["Location"] == job["url"] and job["state"] in ("queued", "running")
    again = requests.post(srv.base + "/admin/reload", headers=AUTH, timeout=10)
    assert again.status_code == 409 and job["id"] in again.json()["issue"][0]["details"]["text"]

    def answered_until_the_end():   # the workers keep answering while the rebuild runs
        status, body, _ = srv.get(f"/fhir/CodeSystem/$lookup?system={urllib.parse.quote(RIS_CS)}&code=TAC")
        assert status == 200 and param(body, "display"), body
        return ended(job_state(srv, job["url"]))
    state = eventually(answered_until_the_end, 240, interval=0.2, what="the rebuild")
    assert state["state"] == "succeeded", state
    assert state["sha256"] == file_sha256(db) and os.stat(db).st_ino != inode
    assert state["summary"]["value_sets"] > 1000 and state["log_tail"]
    # each worker looks at the build it serves when it moves its counts to the shared files (once a second)
    eventually(lambda: f'sha256="{state["sha256"]}"' in requests.get(srv.base + "/metrics", timeout=10).text,
               what="the new build in /metrics")
    assert requests.post(srv.base + "/admin/reload", headers=AUTH, timeout=10).status_code == 202   # free again


def test_an_upload_with_errors_changes_nothing(admin_server):
    srv = admin_server
    before = (os.stat(srv.db).st_ino, file_sha256(srv.db))
    bad = own_table("dept-ris", lambda b: b.replace(b",CT,Computed Tomography,", b",CTX,Computed Tomography,", 1))
    r = requests.post(srv.base + "/admin/mappings", headers=AUTH, files=bad, timeout=60)
    assert r.status_code == 422, r.text
    oo = r.json()
    assert oo["resourceType"] == "OperationOutcome" and oo["issue"][0]["code"] == "business-rule"
    texts = [i["details"]["text"] for i in oo["issue"]]
    assert any(t.startswith("dept-ris.csv:4: unknown-target-code [target_code]") and "CTX" in t for t in texts), texts
    assert (os.stat(srv.db).st_ino, file_sha256(srv.db)) == before
    assert os.listdir(srv.folder) == []
    assert not (srv.folder.parent / "served" / ".termsvc-admin").exists()   # no job started


def test_an_upload_without_errors_is_served_after_the_rebuild(admin_server):
    srv = admin_server
    r = requests.post(srv.base + "/admin/mappings", headers=AUTH, files=own_table("dept-ris"), timeout=60)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["report"]["errors"] == 0 and body["report"]["tables"][0]["name"] == "dept-ris"
    assert sorted(os.listdir(srv.folder)) == ["dept-ris.csv", "dept-ris.toml"]
    state = wait_for(srv, body["job"]["url"])
    assert state["state"] == "succeeded", state
    url = "http://termsvc.example.eu/fhir/ConceptMap/dept-ris"
    query = urllib.parse.urlencode({"url": url, "system": RIS_CS, "sourceCode": "TAC"})
    eventually(lambda: param(srv.get("/fhir/ConceptMap/$translate?" + query)[1], "result") is True,
               what="the uploaded table served")   # once each worker has noticed the new build


def test_the_jobs_are_listed_newest_first(admin_server):
    srv = admin_server
    r = requests.get(srv.base + "/admin/jobs", headers=AUTH, timeout=10)
    assert r.status_code == 200 and r.json() == {"jobs": []}
    first = requests.post(srv.base + "/admin/reload", headers=AUTH, timeout=10).json()["job"]
    assert wait_for(srv, first["url"])["state"] == "succeeded"
    second = reload_when_free(srv)
    listed = requests.get(srv.base + "/admin/jobs", headers=AUTH, timeout=10).json()["jobs"]
    assert [j["id"] for j in listed] == [second["id"], first["id"]]
    assert listed[1]["state"] == "succeeded" and listed[1]["kind"] == "reload" and listed[1]["url"] == first["url"]
    assert listed[0]["state"] in ("queued", "running", "succeeded")
    assert not {"settings", "log_tail"} & set(listed[0])        # the job's own url has them
    assert wait_for(srv, second["url"])["state"] == "succeeded"
    one = requests.get(srv.base + "/admin/jobs?limit=1", headers=AUTH, timeout=10).json()["jobs"]
    assert [j["id"] for j in one] == [second["id"]]
    for bad in ("0", "x", "100000"):
        r = requests.get(srv.base + f"/admin/jobs?limit={bad}", headers=AUTH, timeout=10)
        assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
    assert requests.get(srv.base + "/admin/jobs", timeout=10).status_code == 401


def test_a_job_whose_process_died_is_reported_failed(admin_server):
    srv = admin_server
    job = requests.post(srv.base + "/admin/reload", headers=AUTH, timeout=10).json()["job"]
    os.kill(job["pid"], signal.SIGKILL)
    state = wait_for(srv, job["url"], timeout=30)
    assert state["state"] == "failed" and "ended without finishing" in state["error"]
    r = requests.post(srv.base + "/admin/reload", headers=AUTH, timeout=10)   # the lock went with it
    assert r.status_code == 202, r.text
    assert wait_for(srv, r.json()["job"]["url"])["state"] == "succeeded"


def test_the_token_is_never_shown(monkeypatch):
    from click.testing import CliRunner

    from termsvc.cli import cli
    monkeypatch.setenv("TERMSVC_ADMIN_TOKEN", TOKEN)
    for args in (["settings"], ["settings", "--json"]):
        r = CliRunner().invoke(cli, args)
        assert r.exit_code == 0 and TOKEN not in r.output and "(set)" in r.output
