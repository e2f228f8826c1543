#!/usr/bin/env python3
"""Property-based requests from the server's own /openapi.json (schemathesis), and what must hold for
every answer: no 5xx, every 4xx an OperationOutcome (FHIR JSON), and status, content type and body as
the description says.

    .venv/bin/python scripts/fuzz_openapi.py                       # build-free: a server on --db (default
                                                                   # setting db), ~20,000+ requests
    .venv/bin/python scripts/fuzz_openapi.py --url http://127.0.0.1:8080 --examples 50
    .venv/bin/python scripts/fuzz_openapi.py --json fuzz.json

Each operation of the description (GET and POST shapes of every FHIR operation on both bases, read,
search, metadata, batch, the probes, ...) gets up to --examples valid requests and as many invalid
ones (schemathesis' positive and negative modes), each answer judged by the checks of CONFORMANCE. Then
schemathesis' own runner (`st run`, --cli-examples per operation) goes through all its phases - examples,
coverage (the edges of each value, the methods a path does not serve), fuzzing, stateful (answers fed
into further requests) - with every check but those CLI_EXCLUDED says why. Exit status 0 when no answer
broke a rule. tests/test_openapi.py runs the same `run()` in process with a few examples per operation.
"""
import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time

import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis import GenerationMode
from schemathesis.checks import allow_header_conformance, ensure_resource_availability, missing_required_header, \
    negative_data_rejection, not_a_server_error, response_headers_conformance, unsupported_method, use_after_free
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, \
    status_code_conformance

# every check of schemathesis but positive_data_acceptance (and the two about authorization, which need
# users): a request the description calls valid may still be a 400 - a FHIR operation's parameters depend on
# each other (code needs system; valueSet or url), a parameter may be given once (OpenAPI 3.0 cannot count
# array items by name), and a language tag must be in the IANA registry, none of which OpenAPI 3.0 can say
CONFORMANCE = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
               response_headers_conformance, negative_data_rejection, missing_required_header, unsupported_method,
               allow_header_conformance, use_after_free, ensure_resource_availability)
CLI_EXCLUDED = ("positive_data_acceptance", "ignored_auth", "object_level_authorization")


def problems_of(case, response) -> list[str]:
    """What is wrong with one answer (empty: nothing)."""
    found = []
    if response.status_code >= 500:
        found.append(f"server error {response.status_code}")
    elif response.status_code >= 400 and case.path != "/metrics":
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        if not (isinstance(body, dict) and body.get("resourceType") == "OperationOutcome" and body.get("issue")):
            found.append(f"{response.status_code} without an OperationOutcome: {response.content[:200]!r}")
        elif "json" not in (response.headers.get("content-type") or [""])[0]:
            found.append(f"{response.status_code} OperationOutcome not in JSON")
    try:
        case.validate_response(response, checks=CONFORMANCE)
    except (AssertionError, BaseExceptionGroup) as e:   # schemathesis' Failure / FailureGroup
        found.append(" ".join(str(e).split())[:300])
    return found


class Tally:
    def __init__(self):
        self.requests = 0
        self.by_status = collections.Counter()
        self.failures = []      # (operation, mode, problem, request)
        self.operations = 0

    def as_dict(self) -> dict:
        return {"requests": self.requests, "operations": self.operations,
                "server_errors": sum(n for s, n in self.by_status.items() if s >= 500),
                "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
                "failures": len(self.failures), "first_failures": self.failures[:20]}


def run(schema, examples: int, call, tally: Tally | None = None, first_seed: int = 1, progress=None) -> Tally:
    """Every operation of `schema`, positive then negative examples; `call(case)` sends a request."""
    tally = tally or Tally()
    for result in schema.get_all_operations():
        op = result.ok()
        tally.operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                strategy = op.as_strategy(generation_mode=mode)
            except Exception as e:   # nothing to make invalid (no parameters): nothing to send
                if progress:
                    progress(f"  {op.label} {mode.value}: skipped ({type(e).__name__})")
                continue

            @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
                      suppress_health_check=list(HealthCheck), phases=[Phase.generate])
            @given(case=strategy)
            def send(case):   # run within this iteration (below): the loop's op and mode are this one's
                response = call(case)
                tally.requests += 1
                tally.by_status[response.status_code] += 1
                for problem in problems_of(case, response):
                    tally.failures.append({"operation": op.label, "mode": mode.value, "problem": problem,  # noqa: B023
                                           "request": f"{case.method} {case.formatted_path} query={case.query}"})

            try:
                seed(first_seed + tally.operations * 2 + (mode is GenerationMode.NEGATIVE))(send)()
            except Exception as e:  # generation gave up (e.g. unsatisfiable negative data): noted
                if progress:
                    progress(f"  {op.label} {mode.value}: generation stopped: {type(e).__name__}: {e}"[:200])
        if progress:
            progress(f"{op.label}: {tally.requests} requests so far, {len(tally.failures)} failures")
    return tally


def cli(base: str, examples: int, seed: int, report: str, progress=print) -> dict:
    """schemathesis' own runner (`st run`) on `base`: every phase (examples, coverage - which also sends the
    methods no path serves, and values at each edge of the description -, fuzzing, stateful) and every check
    but CLI_EXCLUDED. -> its JSON report's figures."""
    st = os.path.join(os.path.dirname(sys.executable), "st")
    command = [st, "run", base + "/openapi.json", "--checks", "all", "--exclude-checks", ",".join(CLI_EXCLUDED),
               "--phases", "examples,coverage,fuzzing,stateful", "-n", str(examples), "--seed", str(seed),
               "--workers", "2", "--no-color", "--generation-database", "none", "--request-timeout", "30",
               "--continue-on-failure", "--report", "json", "--report-json-path", report]
    progress(" ".join(command))
    done = subprocess.run(command, capture_output=True, text=True, cwd=os.path.dirname(report))   # (its cache there)
    with open(report) as f:
        figures = json.load(f)
    progress(done.stdout.rpartition(" SUMMARY ")[2].strip())   # its summary: phases, failures, test cases
    return {"exit_code": done.returncode, "test_cases": figures["test_cases"], "failures": figures["failures"],
            "phases": {name: phase["status"] for name, phase in figures["phases"].items()}}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running server (else one is started on --db)")
    ap.add_argument("--db", help="the build to serve (default: the setting db)")
    ap.add_argument("--port", type=int, default=None)
    ap.add_argument("--examples", type=int, default=150, help="examples per operation and mode (default 150)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--cli-examples", type=int, default=20,
                    help="examples per operation of schemathesis' own runner, every phase (0: not run; default 20)")
    args = ap.parse_args(argv)
    server = None
    if args.url:
        base = args.url.rstrip("/")
    else:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import bench   # the server launcher of the benchmark
        from termsvc import settings as termsvc_settings
        db = args.db or termsvc_settings.load().db
        server = bench.Server(db, args.port or bench.free_port(), workers=2, cache_size=None,
                              settings={"access_log": "off"})
        base = server.base
    started = time.monotonic()
    try:
        schema = schemathesis.openapi.from_url(base + "/openapi.json")
        schema.config.update(base_url=base)
        import requests
        session = requests.Session()
        tally = run(schema, args.examples, lambda case: case.call(session=session, timeout=30), first_seed=args.seed,
                    progress=lambda m: print(m, flush=True))
        runner = None
        if args.cli_examples:
            with tempfile.TemporaryDirectory() as tmp:
                runner = cli(base, args.cli_examples, args.seed, os.path.join(tmp, "st.json"),
                             progress=lambda m: print(m, flush=True))
    finally:
        if server is not None:
            server.stop()
    figures = {**tally.as_dict(), "seconds": round(time.monotonic() - started, 1), "examples": args.examples,
               "schemathesis_runner": runner}
    print(json.dumps({k: v for k, v in figures.items() if k != "first_failures"}, indent=1))
    for f in tally.failures[:20]:
        print("FAILURE", json.dumps(f))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=1)
    print(f"{tally.requests} requests, {figures['server_errors']} server errors, {len(tally.failures)} failures")
    if runner is not None:
        print(f"schemathesis runner: {runner['test_cases']['generated']} test cases,"
              f" {runner['test_cases']['unique_failures']} failures, exit {runner['exit_code']}")
    return 1 if tally.failures or (runner is not None and runner["exit_code"]) else 0


if __name__ == "__main__":
    sys.exit(main())
