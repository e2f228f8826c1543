"""Requests that could hold a worker: regular expressions (RE2, linear time), one deadline over all
of a request's work (SQLite and Python loops), and a prompt stop on SIGTERM.

The costly requests carry their own code systems (tx-resource), so an empty build serves them.
"""
import concurrent.futures
import json
import os
import signal
import statistics
import time

import pytest

from conftest import QUIET, Pending, as_parameters, eventually, issue_texts, param
from termsvc import deadline
from termsvc.build import build
from termsvc.fhir.outcome import OpError
from termsvc.fhir.params import Params
from termsvc.ops.context import Context
from termsvc.ops.expand import expand
from termsvc.ops.validate import validate_vs

CS_URL = "http://example.org/cs/limits"
VS_URL = "http://example.org/vs/limits"


def code_system(codes, parents=None):
    """A CodeSystem; parents maps a code to its parent code (a hierarchy by `concept` nesting is not
    needed: the parent property gives the same tree)."""
    concepts = []
    for c in codes:
        concept = {"code": c, "display": f"Display {c}"}
        if parents and parents.get(c):
            concept["property"] = [{"code": "parent", "valueCode": parents[c]}]
        concepts.append(concept)
    return {"resourceType": "CodeSystem", "url": CS_URL, "version": "1", "status": "active",
            "content": "complete", "caseSensitive": True, "hierarchyMeaning": "is-a",
            "property": [{"code": "parent", "uri": "http://hl7.org/fhir/concept-properties#parent",
                          "type": "code"}],
            "concept": concepts}


def value_set(*filters):
    return {"resourceType": "ValueSet", "url": VS_URL, "version": "1", "status": "active",
            "compose": {"include": [{"system": CS_URL, "filter": list(filters)}]}}


def regex_filter(pattern, prop="code"):
    return {"property": prop, "op": "regex", "value": pattern}


CATASTROPHIC = "((a+)+)+"
EVIL_CODES = ["a" * 59, "a" * 59 + "!", "a" * 59 + "$", "b" * 40 + "!"]


def deep_chain(n):
    """n codes, each the child of the one before: walking up from the last visits every code."""
    codes = [f"c{i}" for i in range(n)]
    return code_system(codes, {codes[i]: codes[i - 1] for i in range(1, n)})


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("limits") / "empty.db")
    build(path, [], QUIET)
    return path


def ctx_for(*resources):
    return Context(None, list(resources))


# -- regular expressions -----------------------------------------------------------------

def test_catastrophic_regex_expands_at_once_and_correctly():
    ctx = ctx_for(code_system(EVIL_CODES), value_set(regex_filter(CATASTROPHIC)))
    started = time.monotonic()
    vs = expand(ctx, Params.from_query([("url", VS_URL)]))
    assert time.monotonic() - started < 1.0
    assert [c.code for c in vs.contains] == ["a" * 59]


@pytest.mark.parametrize("code,member", [("a" * 59, True), ("a" * 59 + "!", False)])
def test_catastrophic_regex_validates_at_once_and_correctly(code, member):
    ctx = ctx_for(code_system(EVIL_CODES), value_set(regex_filter(CATASTROPHIC)))
    started = time.monotonic()
    out = validate_vs(ctx, Params.from_query([("url", VS_URL), ("system", CS_URL), ("code", code)]))
    assert time.monotonic() - started < 1.0
    assert out.result is member


def test_regex_over_property_values():
    cs = code_system(["x1", "x2", "x3"])
    cs["property"].append({"code": "colour", "type": "string"})
    for c, colour in zip(cs["concept"], ["red", "reddish", "blue"]):
        c.setdefault("property", []).append({"code": "colour", "valueString": colour})
    ctx = ctx_for(cs, value_set(regex_filter("red.*", prop="colour")))
    vs = expand(ctx, Params.from_query([("url", VS_URL)]))
    assert [c.code for c in vs.contains] == ["x1", "x2"]


@pytest.mark.parametrize("pattern", [r"(a)\1", "(?=a)a", "(unclosed"])
def test_a_pattern_re2_cannot_run_is_a_400_naming_the_filter(pattern):
    ctx = ctx_for(code_system(EVIL_CODES), value_set(regex_filter(pattern)))
    for call in (lambda: expand(ctx, Params.from_query([("url", VS_URL)])),
                 lambda: validate_vs(ctx, Params.from_query([("url", VS_URL), ("system", CS_URL),
                                                              ("code", "a")]))):
        with pytest.raises(OpError) as e:
            call()
        assert e.value.status == 400
        assert pattern in e.value.text and "regex" in e.value.text


# -- one deadline for all the work --------------------------------------------------------

def test_python_loops_stop_at_the_deadline():
    # `generalizes` walks up from every concept: quadratic in Python over a deep chain (about a minute of work
    # at this depth: stopping within 20 s, under any load, is stopping at the deadline, not at the end)
    ctx = ctx_for(deep_chain(20_000),
                  value_set({"property": "concept", "op": "generalizes", "value": "c19999"}))
    started = time.monotonic()
    with pytest.raises(deadline.TimeLimitExceeded, match="time limit of 50 ms"):
        with deadline.within(50):
            expand(ctx, Params.from_query([("url", VS_URL), ("count", "10")]))
    assert time.monotonic() - started < 20.0
    deadline.check()  # the deadline ended with the block


def test_nested_deadlines_keep_the_earlier_one():
    with deadline.within(30):
        with deadline.within(60_000):
            eventually(deadline.expired, timeout=5, interval=0.005)
            with pytest.raises(deadline.TimeLimitExceeded):
                deadline.check()


# -- over HTTP: costly requests cannot take the service down --------------------------------

def costly_expand(depth=20_000):
    """Walks up a deep chain from every concept: quadratic in the depth, about a minute of Python
    without a deadline at the default depth (over a second at 3,000)."""
    return as_parameters([("url", VS_URL), ("count", 10),
                          ("tx-resource", deep_chain(depth)),
                          ("tx-resource", value_set({"property": "concept", "op": "generalizes",
                                                     "value": f"c{depth - 1}"}))])


def regex_validate(code):
    return as_parameters([("url", VS_URL), ("system", CS_URL), ("code", code),
                          ("tx-resource", code_system(EVIL_CODES)),
                          ("tx-resource", value_set(regex_filter(CATASTROPHIC)))])


def test_costly_requests_get_422_and_normal_traffic_keeps_being_answered(empty_db, server_factory):
    limit_s = 0.4
    srv = server_factory(empty_db, workers=2, env={"TERMSVC_TIME_LIMIT_MS": str(int(limit_s * 1000)),
                                                   "TERMSVC_CACHE_SIZE": "0"})
    normal = regex_validate("a" * 59)

    def normal_request() -> float:
        """Ask a normal question: the seconds its answer took."""
        t0 = time.monotonic()
        status, body, _ = srv.post_raw("/fhir/ValueSet/$validate-code", normal, timeout=120)
        assert status == 200 and param(body, "result") is True, body
        return time.monotonic() - t0
    alone = statistics.median(normal_request() for _ in range(3))   # what this machine takes now, unhindered
    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        costly = [pool.submit(srv.post_raw, "/fhir/ValueSet/$expand", costly_expand(), timeout=120)
                  for _ in range(6)]
        evil = [pool.submit(srv.post_raw, "/fhir/ValueSet/$validate-code", regex_validate("a" * 59 + "!"),
                            timeout=120) for _ in range(4)]
        waits = []
        started = time.monotonic()
        # normal requests all along, until every costly one has its answer (and a few of them at least)
        while time.monotonic() - started < 2.0 or len(waits) < 5 or not all(f.done() for f in costly + evil):
            waits.append(normal_request())
        for f in costly:
            status, body, _ = f.result()
            assert status == 422, body
            assert body["resourceType"] == "OperationOutcome"
            assert body["issue"][0]["code"] == "too-costly"
            assert f"time limit of {int(limit_s * 1000)} ms" in issue_texts(body)[0]
        for f in evil:
            status, body, _ = f.result()
            assert status == 200 and param(body, "result") is False, body
    # without the deadline the six costly requests hold both workers for minutes; with it a normal request
    # waits at most for what is queued ahead of it on its worker - each costly request its time limit, a
    # catastrophic pattern no more than a normal request (RE2) - plus its own time, on this machine as it is
    bound = len(costly) * limit_s + (len(evil) + 1) * alone
    assert max(waits) < 2 * bound + 1.0, (waits, alone)


def test_sigterm_during_costly_requests_exits_within_10_s(empty_db, server_factory):
    srv = server_factory(empty_db, workers=2, env={"TERMSVC_TIME_LIMIT_MS": "3000", "TERMSVC_CACHE_SIZE": "0"})
    # 3 s each, four on two workers: more work than the shutdown grace (6 s) on a worker that has two or more
    body = json.dumps(costly_expand()).encode()   # made first: all four sent at once
    inflight = [Pending(srv, "/fhir/ValueSet/$expand", body) for _ in range(4)]
    eventually(lambda: all(p.accepted() for p in inflight), what="the requests accepted by the workers")
    started = time.monotonic()
    os.killpg(srv.proc.pid, signal.SIGTERM)
    srv.proc.wait(timeout=30)
    assert time.monotonic() - started < 10
    for p in inflight:  # each got its answer (the time limit) or saw the connection close
        try:
            status, body = p.answer(timeout=15)
        except OSError:
            continue
        assert status in (200, 422), body
