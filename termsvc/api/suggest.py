"""POST /mappings/suggest: mapping suggestions over HTTP (termsvc.suggest), as JSON.

Not a FHIR operation: the answer is no FHIR resource but the rows of a mapping table with ranked
candidates (the shape of `termsvc mappings suggest --json`), an authoring aid beside the review
page of the tables. Errors are OperationOutcomes like every other error of the service (400 bad
body, 404 unknown table, 413 too many names, 415 not JSON, 422 past the time limit).

    {"table": "ris-modality-eu", "all": false, "top": 5}            a table of the build: its unmapped rows,
                                                                     then its catalogue's codes without a row
                                                                     ("row": null), as `mappings suggest` does
    {"target_scope": URL, "names": ["TC craneo", "MRT Knie re."]}    any names, in a value set
    {"target_system": URL, "rows": [{"source_code": "0012", "source_display": "Rx tórax", "language": "es"}]}

Optional: "top" (1-100, default 5), "language" (of every name without its own), "all" (a table's
every row). The candidates of a scope, the lexicon (shipped, plus the `lexicon/` folders of the
setting `mappings`) and the evidence of the build's tables are made once per build and worker.
"""
from __future__ import annotations

import orjson
from flask import Blueprint, Response, current_app, request

from termsvc.fhir.outcome import NotFound, OpError
from termsvc.mappings.from_fhir import stored_table, table_from_concept_map
from termsvc.ops.context import build_cached
from termsvc.suggest.evidence import Evidence
from termsvc.suggest.lexicon import Lexicon, LexiconError
from termsvc.suggest.service import DEFAULT_TOP, Suggester, catalogue_not_listed, suggestions_json, to_suggest
from termsvc.suggest.text import LANGUAGES

MAX_NAMES = 1000
MAX_NAME_LENGTH = 500
MAX_BODY = 2 * 2**20
KEYS = {"table", "target_scope", "target_system", "names", "rows", "top", "language", "all"}


def _bad(text: str, status: int = 400) -> OpError:
    return OpError(text, status=status, code="invalid" if status == 400 else "too-costly")


def build_suggester(store, settings) -> Suggester:
    """The build's Suggester (made once per build and worker): the shipped lexicon with the departments',
    the evidence of the build's tables. The review page's suggestions use it too."""
    def make():
        try:
            lexicon = Lexicon.load(tuple(settings.mappings))
        except LexiconError as e:
            raise OpError(f"the department lexicon cannot be read: {e}", status=500, code="exception") from None
        tables = [stored[1] for rep in store.mapping_reports() if (stored := stored_table(store, rep))]
        return Suggester(store, lexicon, Evidence(tables), settings.max_expansion)
    return build_cached(store, ("suggest", "suggester"), make)


def _text(value, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _bad(f"{what} must be a string")
    if len(value) > MAX_NAME_LENGTH:
        raise _bad(f"{what} is longer than {MAX_NAME_LENGTH} characters")
    return value


def _rows(body: dict) -> list[tuple]:
    """(row, source_code, source_display, language) of the names or rows asked about."""
    if "names" in body and "rows" in body:
        raise _bad("give names or rows, not both")
    items = body.get("names", body.get("rows"))
    if not isinstance(items, list) or not items:
        raise _bad("names (a list of strings) or rows (a list of objects) is needed with a target_scope"
                   " or target_system")
    if len(items) > MAX_NAMES:
        raise _bad(f"at most {MAX_NAMES} names per request (got {len(items)}): split them", 413)
    out: list[tuple[int, str, str, str | None]] = []
    for i, item in enumerate(items, start=1):
        if "names" in body:
            out.append((i, "", _text(item, f"names[{i - 1}]"), None))
            continue
        if not isinstance(item, dict):
            raise _bad(f"rows[{i - 1}] must be an object with source_code and/or source_display")
        code = _text(item.get("source_code"), f"rows[{i - 1}].source_code")
        display = _text(item.get("source_display"), f"rows[{i - 1}].source_display")
        if not (code.strip() or display.strip()):
            raise _bad(f"rows[{i - 1}] has neither source_code nor source_display")
        row = item.get("row", i)
        if not isinstance(row, int) or isinstance(row, bool):
            raise _bad(f"rows[{i - 1}].row must be an integer (the row's number in its table)")
        out.append((row, code, display, _text(item.get("language"), f"rows[{i - 1}].language") or None))
    return out


def suggest() -> Response:
    if not (request.mimetype or "").endswith("json"):
        raise OpError("the body must be JSON (Content-Type: application/json)", status=415, code="not-supported")
    if (request.content_length or 0) > MAX_BODY:
        raise _bad(f"the body is larger than {MAX_BODY} bytes", 413)
    try:
        body = orjson.loads(request.get_data())
    except orjson.JSONDecodeError as e:
        raise _bad(f"the body is not JSON: {e}") from None
    if not isinstance(body, dict):
        raise _bad("the body must be a JSON object")
    unknown = sorted(set(body) - KEYS)
    if unknown:
        raise _bad(f"unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(KEYS))})")
    top = body.get("top", DEFAULT_TOP)
    if not isinstance(top, int) or isinstance(top, bool) or not 1 <= top <= 100:
        raise _bad("top must be an integer from 1 to 100")
    if not isinstance(body.get("all", False), bool):
        raise _bad("all must be true or false")
    language = _text(body.get("language"), "language") or None
    store = current_app.extensions["termsvc.store"]
    store.refresh()
    settings = current_app.extensions["termsvc.settings"]
    with store.time_limit():
        suggester = build_suggester(store, settings)
        if body.get("table") is not None:
            name = _text(body["table"], "table")
            if {"names", "rows", "target_scope", "target_system"} & set(body):
                raise _bad("a table gives its own rows and scope: no names, rows, target_scope or target_system")
            cm = store.mapping_table(name)
            if cm is None:
                raise NotFound(f"no mapping table '{name}' in this build", tx_type=None)
            name = next((rep["name"] for rep in store.mapping_reports()
                         if name in (rep.get("id"), rep.get("name"), rep.get("url"))), name)
            table = table_from_concept_map(cm, name)
            asked, why_not = to_suggest(table, store, all_rows=body.get("all") is True)
            result = suggester.table(table, asked, top=top, language=language)
            if why_not:
                result["message"] = catalogue_not_listed(table, why_not)
        else:
            scope = _text(body.get("target_scope"), "target_scope") or None
            system = _text(body.get("target_system"), "target_system") or None
            if not scope and not system:
                raise _bad("give a table, or a target_scope or target_system with names or rows")
            rows = _rows(body)
            ranker = suggester.ranker(scope, system)
            result = {"table": None, "rows": [suggester.row(ranker, n, code, display, lang or language, top)
                                              for n, code, display, lang in rows]}
    return Response(orjson.dumps(suggestions_json(result)), content_type="application/json")


def blueprint() -> Blueprint:
    bp = Blueprint("suggest", __name__)
    bp.add_url_rule("/suggest", "suggest", suggest, methods=["POST"])
    return bp


def openapi_paths(spec, errors: dict) -> None:
    """/mappings/suggest in /openapi.json."""
    coding = {"type": "object", "nullable": True, "properties": {k: {"type": "string"} for k in
                                                                 ("system", "code", "display")}}
    row = {"type": "object", "required": ["row", "source_code", "source_display", "candidates", "parts"],
           "properties": {
               "row": {"oneOf": [{"type": "integer"}, {"type": "string", "pattern": "!"}], "nullable": True,
                       "description": "the row's number in its table (`Sheet!row`, a string, in a workbook read"
                                      " across sheets); null: a code of the table's catalogue (its source scope)"
                                      " that no row names yet"},
               "source_code": {"type": "string"}, "source_display": {"type": "string"},
               "candidates": {"type": "array", "items": {"type": "object", "properties": {
                   "system": {"type": "string"}, "code": {"type": "string"}, "display": {"type": "string"},
                   "score": {"type": "number", "minimum": 0, "maximum": 1}, "why": {"type": "string"}}}},
               "parts": {"type": "object", "properties": {
                   "modality": coding, "region": coding, "laterality": coding,
                   "contrast": {"type": "string", "nullable": True, "enum": ["with", "without", None]}}},
               "message": {"type": "string", "description": "why the candidates are incomplete or missing"}}}
    request_schema = {"type": "object", "additionalProperties": False, "properties": {
        "table": {"type": "string", "description": "a mapping table of the build (its id, name or url)"},
        "all": {"type": "boolean", "description": "with table: every row, not only those without a target"},
        "target_scope": {"type": "string", "description": "the value set whose codes are the candidates"},
        "target_system": {"type": "string", "description": "else: every code of this code system"},
        "names": {"type": "array", "maxItems": MAX_NAMES, "items": {"type": "string", "maxLength": MAX_NAME_LENGTH}},
        "rows": {"type": "array", "maxItems": MAX_NAMES, "items": {"type": "object", "properties": {
            "row": {"type": "integer"}, "source_code": {"type": "string"}, "source_display": {"type": "string"},
            "language": {"type": "string"}}}},
        "top": {"type": "integer", "minimum": 1, "maximum": 100, "default": DEFAULT_TOP},
        "language": {"type": "string", "description": ", ".join(LANGUAGES[:-1]) + " (default: detected)"}}}
    spec.path(path="/mappings/suggest", operations={"post": {
        "summary": "Mapping suggestions: ranked candidate codes for local names or a table's unmapped rows",
        "tags": ["mappings"], "operationId": "post_mappings_suggest",
        "requestBody": {"required": True, "content": {"application/json": {"schema": request_schema}}},
        "responses": {"200": {"description": "The rows with their candidates and parsed parts", "content": {
            "application/json": {"schema": {"type": "object", "properties": {
                "table": {"type": "string", "nullable": True}, "rows": {"type": "array", "items": row},
                "message": {"type": "string", "description": "why the codes of the table's catalogue without a"
                                                            " row are missing (its source scope cannot be expanded)"}
            }}}}},
            **errors}}})
