"""The admin API under /admin: present only when the setting admin_token is set (else /admin/... is a
404 like any unknown path). Every call carries `Authorization: Bearer <token>`: without one 401, with a
wrong one 403 (compared in constant time).

    POST /admin/reload          rebuild from the configured sources in the background: 202, Location of the job
    GET  /admin/jobs            the last jobs (?limit=, default 50), newest first: id, kind, state, times, url
    GET  /admin/jobs/{id}       the job: queued | running | succeeded (sha256, counts) | failed (error), log tail
    POST /admin/mappings        multipart: `table` (NAME.csv|.tsv|.xlsx) and `metadata` (NAME.toml; optional
                                for an XLSX with a metadata sheet): checked against the served build; with
                                errors 422 and the check report (an OperationOutcome: one issue per problem,
                                `file:row: kind [column]: message`), nothing changed; else the table goes into the
                                first folder of the setting `mappings` (replacing the table of that name) and a
                                rebuild starts: 202, the report and the job
    A rebuild while one runs: 409 naming the running job.

The server keeps reading its database read-only; the rebuild is a separate process that swaps the new
build in (termsvc/api/jobs.py).
"""
import hmac
import os
import shutil
import tempfile

import orjson
from flask import Blueprint, Response, request

from termsvc import content
from termsvc.api import jobs
from termsvc.api.dispatch import FHIR_JSON
from termsvc.api.errors import error_outcome
from termsvc.fhir.outcome import OpError, issue, outcome
from termsvc.mappings.lint import check
from termsvc.mappings.table import DATA_SUFFIXES, TABLE_NAME, find_tables

MAX_UPLOAD = 50 * 1024 * 1024
DEFAULT_JOBS, MAX_JOBS = 50, 1000


def _json(body, status: int = 200, headers=None) -> Response:
    return Response(orjson.dumps(body), status=status, content_type="application/json", headers=headers or {})


def _refusal(status: int, code: str, text: str, headers=None) -> Response:
    status, body = error_outcome(OpError(text, status=status, code=code))
    return Response(orjson.dumps(body), status=status, content_type=FHIR_JSON, headers=headers or {})


def make_blueprint(store, settings) -> Blueprint:
    token = settings.admin_token.encode()
    bp = Blueprint("admin", __name__)
    if settings.mappings:   # the upload folder: the build loads it, so it exists even before the first upload
        os.makedirs(settings.mappings[0], exist_ok=True)

    @bp.before_request
    def authorize():
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return _refusal(401, "login", "The admin API needs Authorization: Bearer <token>",
                            {"WWW-Authenticate": 'Bearer realm="termsvc admin"'})
        if not hmac.compare_digest(given.strip().encode(), token):
            return _refusal(403, "forbidden", "Wrong admin token")
        return None

    def accepted(job: dict, extra: dict | None = None) -> Response:
        url = f"{request.script_root}/admin/jobs/{job['id']}"
        return _json({**(extra or {}), "job": {**job, "url": url}}, 202, {"Location": url})

    def busy(e: jobs.Busy) -> Response:
        return _refusal(409, "conflict", f"A rebuild is running: {request.script_root}/admin/jobs/{e.job.get('id')};"
                                         " try again when it has ended")

    @bp.post("/reload")
    def reload():
        try:
            return accepted(jobs.start(store.path, "reload", settings))
        except jobs.Busy as e:
            return busy(e)

    @bp.get("/jobs")
    def job_list():
        try:
            limit = int(request.args.get("limit", DEFAULT_JOBS))
        except ValueError:
            limit = -1
        if not 1 <= limit <= MAX_JOBS:
            return _refusal(400, "invalid", f"limit is a number of jobs from 1 to {MAX_JOBS}")
        listed = jobs.list_jobs(store.path, limit)
        return _json({"jobs": [{**job, "url": f"{request.script_root}/admin/jobs/{job['id']}"} for job in listed]})

    @bp.get("/jobs/<job_id>")
    def job(job_id):
        state = jobs.status(store.path, job_id)
        if state is None:
            return _refusal(404, "not-found", f"No job {job_id}")
        return _json(state)

    @bp.post("/mappings")
    def upload_mappings():
        if (request.content_length or 0) > MAX_UPLOAD:
            return _refusal(413, "too-costly", f"An upload is at most {MAX_UPLOAD // 2**20} MB")
        if not settings.mappings:
            return _refusal(409, "not-supported", "No folder for uploaded mapping tables: set the setting mappings"
                                                  " (TERMSVC_MAPPINGS) to the folder(s) the build loads")
        try:
            name, files = _uploaded_table(request.files)
        except OpError as e:
            return _refusal(e.status, e.code, str(e))
        folder = settings.mappings[0]
        clash = _table_elsewhere(name, settings.mappings[1:])
        if clash:
            return _refusal(409, "duplicate", f"A table {name} is also in {clash}: give the upload another name")
        os.makedirs(folder, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".upload-", dir=folder)   # same file system: moved in by rename
        try:
            for filename, data in files.items():
                with open(os.path.join(staging, filename), "wb") as f:
                    f.write(data)
            store.refresh()
            with store.time_limit(max(store.time_limit_ms, 60_000)):
                checked = check([staging], store, strict_displays=settings.strict_displays)
            if checked.exit_code != 0:
                return _report_refusal(checked)
            report = checked.as_dict()
            for table in report["tables"]:
                table["path"] = os.path.join(folder, os.path.basename(table["path"]))
            return accepted(jobs.start(store.path, "mappings", settings, {"table": name},
                                       prepare=lambda: _move_in(staging, folder, name)), {"report": report})
        except jobs.Busy as e:
            return busy(e)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    return bp


def _report_refusal(report) -> Response:
    """422: the check report as an OperationOutcome, one issue per problem, as `termsvc mappings check`
    writes it (`file:row: kind [column]: message (source code 'X' 'display')`)."""
    issues = [issue(p.level, "invalid" if p.level == "error" else "informational",
                    f"{p.where()}: {p.kind}{' [' + p.column + ']' if p.column else ''}: {p.message}{p.source_text()}")
              for t in report.tables for p in t.problems]
    issues += [issue("error", "invalid", f"note: {n}") for n in report.notes]
    if not report.tables:
        text = "No table could be read"
    elif report.unusable:   # (the issue below says why, once)
        text = "The table cannot be used: nothing was changed"
    else:
        text = f"The table has {report.errors} error(s) and {report.warnings} warning(s): nothing was changed"
    summary = issue("error", "business-rule", text)
    return Response(orjson.dumps(outcome([summary, *issues])), status=422, content_type=FHIR_JSON)


def _uploaded_table(uploads) -> tuple[str, dict]:
    """(table name, {file name: bytes}) of a multipart upload: `table` and an optional `metadata`."""
    table = uploads.get("table")
    if table is None or not table.filename:
        raise OpError("Upload the table as the multipart field `table` (NAME.csv, NAME.tsv or NAME.xlsx) and its"
                      " NAME.toml as `metadata`", code="required")
    base, ext = os.path.splitext(os.path.basename(table.filename.replace("\\", "/")))
    if ext.lower() not in DATA_SUFFIXES or not TABLE_NAME.fullmatch(base):
        raise OpError(f"'{table.filename}': a table file is NAME.csv, NAME.tsv or NAME.xlsx (NAME: letters, digits,"
                      " '.', '_', '-')", code="invalid")
    files = {base + ext.lower(): table.read()}
    metadata = uploads.get("metadata")
    if metadata is not None and metadata.filename:
        files[base + ".toml"] = metadata.read()
    elif ext.lower() != ".xlsx":
        raise OpError(f"{table.filename} needs its metadata: upload {base}.toml as the field `metadata`",
                      code="required")
    return base, files


def _table_elsewhere(name: str, folders) -> str | None:
    """The folder (or the shipped tables) that already holds a table of that name, if any."""
    with content.folder(content.MAPPINGS) as shipped:
        for folder in [shipped, *(f for f in folders if os.path.isdir(f))]:
            if any(os.path.basename(base) == name for base in find_tables([folder])):
                return "the tables shipped with termsvc" if folder == shipped else folder
    return None


def _move_in(staging: str, folder: str, name: str) -> None:
    """The checked table replaces the one of that name (every suffix) in the folder."""
    for suffix in DATA_SUFFIXES + (".toml",):
        old = os.path.join(folder, name + suffix)
        if os.path.exists(old) and not os.path.exists(os.path.join(staging, name + suffix)):
            os.remove(old)
    for filename in os.listdir(staging):
        os.replace(os.path.join(staging, filename), os.path.join(folder, filename))


def openapi_paths(spec, errors: dict) -> None:
    """The admin API in /openapi.json (when it is on)."""
    spec.components.security_scheme("adminToken", {"type": "http", "scheme": "bearer"})
    secured = {"security": [{"adminToken": []}], "tags": ["admin"]}
    job = {"type": "object", "required": ["id", "state"],
           "properties": {"id": {"type": "string"}, "state": {"type": "string",
                                                              "enum": ["queued", "running", "succeeded", "failed"]}}}
    started = {"description": "The rebuild started", "headers": {"Location": {"schema": {"type": "string"}}},
               "content": {"application/json": {"schema": {"type": "object", "required": ["job"],
                                                           "properties": {"job": job}}}}}
    spec.path(path="/admin/reload", operations={"post": {
        **secured, "operationId": "post_admin_reload", "summary": "Rebuild from the configured sources",
        "responses": {"202": started, **errors}}})
    spec.path(path="/admin/jobs", operations={"get": {
        **secured, "operationId": "get_admin_jobs", "summary": "The last rebuild jobs, newest first",
        "parameters": [{"in": "query", "name": "limit", "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_JOBS, "default": DEFAULT_JOBS}}],
        "responses": {"200": {"description": "The jobs", "content": {"application/json": {"schema": {
            "type": "object", "required": ["jobs"], "properties": {"jobs": {"type": "array", "items": job}}}}}},
                      **errors}}})
    spec.path(path="/admin/jobs/{id}", operations={"get": {
        **secured, "operationId": "get_admin_job", "summary": "A rebuild job",
        "parameters": [{"in": "path", "name": "id", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "The job", "content": {"application/json": {"schema": job}}},
                      **errors}}})
    spec.path(path="/admin/mappings", operations={"post": {
        **secured, "operationId": "post_admin_mappings",
        "summary": "Upload a mapping table: checked, then (no errors) stored and rebuilt",
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["table"],
            "properties": {"table": {"type": "string", "format": "binary"},
                           "metadata": {"type": "string", "format": "binary"}}}}}},
        "responses": {"202": started, **errors}}})
