"""One verdict on every surface: a coding drawn from the default build (valid, with a wrong, swapped or
case-varied display, a malformed SCTID or LOINC code, an unknown code of a complete code system, a code a
fragment does not hold, a code system not loaded, a version nobody has (with a malformed SCTID: still a
no), an inactive code) is judged the
same - valid, invalid or cannot-judge, with the same issues - by $validate-code over HTTP (R5 and R4), the
engine's Judge, the Python client over HTTP and in process, `check-resource` on a resource holding it,
`mappings check` on a table row mapping to it, and the DICOM header check of a code sequence item."""
import csv
import json
import sqlite3
import urllib.parse
import urllib.request

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from termsvc.bindings.resources import Checker
from termsvc.client import TerminologyClient
from termsvc.dicom_codes import ATTRIBUTES, Resolver
from termsvc.local_client import LocalClient
from termsvc.mappings.lint import check as check_tables
from termsvc.ops.identifiers import luhn_check_digit, verhoeff_ok
from termsvc.ops.judge import Judge
from termsvc.store.reader import Store

SCT, LOINC, DCM = "http://snomed.info/sct", "http://loinc.org", "http://dicom.nema.org/resources/ontology/DCM"
SCHEMES = {DCM: "DCM", SCT: "SCT", LOINC: "LN"}   # the standard schemes of a DICOM code sequence item
LATERALITY = "http://termsvc.example.eu/fhir/CodeSystem/dicom-laterality"   # a table row's source: R 'Right'
VALID, INVALID, CANNOT_JUDGE = "valid", "invalid", "cannot-judge"
SEQUENCE = next(a for a in ATTRIBUTES if a.keyword == "ProcedureCodeSequence")
JUDGED = ("error", "fatal", "warning")   # the severities a surface reports (information is not a finding)


class Build:
    """What the strategies draw from: the default build's concepts, by kind of code system."""

    def __init__(self, db: str):
        con = sqlite3.connect(db)
        rows = con.execute("SELECT s.url, s.content, c.code, c.display, c.inactive FROM concept c"
                           " JOIN code_system s ON s.id = c.cs_id WHERE s.supplements IS NULL AND c.display != ''"
                           " AND s.url IN (SELECT url FROM code_system GROUP BY url HAVING count(*) = 1)").fetchall()
        self.codes = {(url, code) for url, _, code, _, _ in rows}
        complete = [r for r in rows if r[1] == "complete"]
        self.active = [(u, c, d) for u, _, c, d, inactive in complete if not inactive]
        self.inactive = [(u, c, d) for u, _, c, d, inactive in complete if inactive]
        self.dcm = [x for x in self.active if x[0] == DCM]
        self.fragment = [(u, c, d) for u, content, c, d, _ in rows if content == "fragment" and u in (SCT, LOINC)]
        self.systems = sorted({u for u, _, _ in self.active})
        by_system: dict = {}
        for u, c, d in self.active:
            by_system.setdefault(u, []).append((c, d))
        # (system, a code, the display of the next code of its system, when that is another display)
        self.swaps = [(u, a[0], b[1]) for u, v in by_system.items() for a, b in zip(v, v[1:])
                      if a[1].lower() != b[1].lower()]


@pytest.fixture(scope="module")
def build_facts(db_path) -> Build:
    return Build(db_path)


def sctid(body: str, partition: str = "00") -> str:
    """The SCTID of `body` in this partition, with its Verhoeff check digit."""
    return next(body + partition + d for d in "0123456789" if verhoeff_ok(body + partition + d))


def codings(b: Build):
    """(kind, system, code, display, version) of every kind of coding the surfaces must agree on."""
    def pick(items):
        return st.sampled_from(items)
    valid = pick(b.active + b.dcm).map(lambda x: ("valid", x[0], x[1], x[2], None))
    no_display = pick(b.active).map(lambda x: ("no display", x[0], x[1], None, None))
    wrong = st.tuples(pick(b.dcm + b.fragment), st.text("qxzjkw", min_size=3, max_size=8)).map(
        lambda x: ("wrong display", x[0][0], x[0][1], f"{x[1]} {x[0][2]}", None))
    swapped = pick(b.swaps).map(lambda x: ("swapped", *x, None))
    case = pick(b.dcm + b.fragment).map(lambda x: ("case variant", x[0], x[1], x[2].swapcase(), None))
    bad_check = st.integers(100000, 10 ** 12).map(lambda n: sctid(str(n))).map(
        lambda s: s[:-1] + str((int(s[-1]) + 1) % 10)).map(lambda s: ("bad SCTID check digit", SCT, s, None, None))
    bad_partition = st.tuples(st.integers(100000, 10 ** 9), st.sampled_from(["01", "02", "03", "19", "55"])).map(
        lambda x: ("bad SCTID partition", SCT, sctid(str(x[0]), x[1]), None, None))
    bad_loinc = st.integers(1, 99999).map(lambda n: f"{n}-{(luhn_check_digit(str(n)) + 1) % 10}").map(
        lambda c: ("bad LOINC check digit", LOINC, c, None, None))
    unknown = st.tuples(pick(b.systems), st.text("QXZJ", min_size=4, max_size=8)).map(
        lambda x: ("unknown code", x[0], "zz" + x[1], None, None))
    not_held = st.one_of(
        st.integers(10 ** 7, 10 ** 12).map(lambda n: (SCT, sctid(str(n)))),
        st.integers(1, 9999999).map(lambda n: (LOINC, f"{n}-{luhn_check_digit(str(n))}")),
    ).filter(lambda x: x not in b.codes).map(lambda x: ("not in the fragment", x[0], x[1], None, None))
    not_loaded = st.text("abcdefgh", min_size=3, max_size=10).map(
        lambda s: ("system not loaded", f"http://example.org/not-loaded/{s}", "A1", None, None))
    version = st.tuples(pick(b.dcm + b.active), st.text("0123456789.", min_size=1, max_size=6)).map(
        lambda x: ("version nobody has", x[0][0], x[0][1], None, "0.0-none-" + x[1]))
    bad_in_version = st.tuples(bad_check, st.sampled_from(["0.0-none", "http://snomed.info/sct/0/version/0"])).map(
        lambda x: ("bad SCTID, version nobody has", SCT, x[0][2], None, x[1]))
    inactive = pick(b.inactive).map(lambda x: ("inactive", x[0], x[1], x[2], None))
    return st.one_of(valid, no_display, wrong, swapped, case, bad_check, bad_partition, bad_loinc, unknown, not_held,
                     not_loaded, version, bad_in_version, inactive)


# what each kind must be (None: it depends on the code system: a fragment's displays are only warned of)
EXPECTED = {"valid": VALID, "no display": VALID, "case variant": VALID, "bad SCTID check digit": INVALID,
            "bad SCTID partition": INVALID, "bad LOINC check digit": INVALID, "unknown code": INVALID,
            "not in the fragment": CANNOT_JUDGE, "system not loaded": CANNOT_JUDGE,
            "version nobody has": CANNOT_JUDGE, "bad SCTID, version nobody has": INVALID, "inactive": VALID, "wrong display": None, "swapped": None}


# -- each surface's verdict: (verdict, {(severity, issue code)} of its errors and warnings) -------------

def issue_set(issues) -> frozenset:
    return frozenset((sev, code) for sev, code in issues if sev in JUDGED)


def over_http(base: str, system, code, display, version) -> tuple:
    """$validate-code as a client of the server reads its Parameters, written out here: cannot be judged
    when it names what it lacks (x-unknown-system, x-caused-by-unknown-system) or warns that a code is not
    in the part it holds (a warning of tx-issue-type invalid-code), else its `result`."""
    query = {"url": system, "code": code, **({"display": display} if display else {}),
             **({"version": version} if version else {})}
    with urllib.request.urlopen(f"{base}/CodeSystem/$validate-code?{urllib.parse.urlencode(query)}") as r:
        body = json.loads(r.read())
    params = {p["name"]: p for p in body["parameter"]}
    issues = [(i["severity"], i["code"], next(c["code"] for c in i["details"]["coding"]
                                             if c["system"].endswith("tx-issue-type")))
              for i in params.get("issues", {}).get("resource", {}).get("issue", [])]
    lacking = "x-unknown-system" in params or "x-caused-by-unknown-system" in params
    doubt = any(sev == "warning" and tx == "invalid-code" for sev, _, tx in issues)
    verdict = CANNOT_JUDGE if lacking or doubt else VALID if params["result"]["valueBoolean"] else INVALID
    return verdict, issue_set((sev, code) for sev, code, _ in issues)


def of_client(r) -> tuple:
    return r.verdict, issue_set((i.severity, i.code) for i in r.issues)


def of_findings(findings) -> tuple:
    """check-resource: an error is a no, 'cannot be judged' says so, else a yes (with its warnings)."""
    if any(f.severity == "error" for f in findings):
        verdict = INVALID
    elif any(f.message.startswith("cannot be judged") for f in findings):
        verdict = CANNOT_JUDGE
    else:
        verdict = VALID
    return verdict, issue_set((sev, code) for f in findings for sev, code, _ in f.issues)


def of_table(problems) -> str:
    """mappings check of the target of an accepted row: an error is a no, a code it cannot verify says so."""
    if any(p.level == "error" for p in problems):
        return INVALID
    if any(p.kind in ("unverifiable", "system-not-loaded") for p in problems):
        return CANNOT_JUDGE
    return VALID


def of_dicom(entry: dict) -> tuple:
    verdict = {"invalid": INVALID, "unverified": CANNOT_JUDGE, "standard": VALID}[entry["status"]]
    return verdict, issue_set((sev, code) for sev, code, _ in entry["issues"])


@pytest.fixture(scope="module")
def surfaces(db_path, live_server):
    store = Store(db_path)
    base = f"http://127.0.0.1:{live_server.port}"
    return {"store": store, "judge": Judge(store), "checker": Checker(store),
            "local": LocalClient(db_path), "http": TerminologyClient(base + "/fhir"),
            "http_r4": TerminologyClient(base + "/r4/fhir", fhir_version="R4"),
            "r5": base + "/fhir", "r4": base + "/r4/fhir", "dicom": Resolver(LocalClient(db_path))}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_every_surface_gives_validate_codes_verdict(data, surfaces, build_facts, tmp_path_factory):
    kind, system, code, display, version = data.draw(codings(build_facts), label="coding")
    event(kind)
    s = surfaces
    expected = over_http(s["r5"], system, code, display, version)
    if EXPECTED[kind] is not None:
        assert expected[0] == EXPECTED[kind], (kind, expected)
    if kind == "inactive":
        assert ("warning", "business-rule") in expected[1]   # it says so, the answer is a yes
    said = {"HTTP R4": over_http(s["r4"], system, code, display, version)}
    verdict = s["judge"].code(system, code, display, version)
    said["Judge"] = verdict.verdict, issue_set((i.severity, i.code) for i in verdict.issues)
    said["LocalClient"] = of_client(s["local"].validate_code(code, system, display=display, version=version))
    said["HTTP client"] = of_client(s["http"].validate_code(code, system, display=display, version=version))
    said["HTTP client R4"] = of_client(s["http_r4"].validate_code(code, system, display=display, version=version))
    coding = {"system": system, "code": code, **({"display": display} if display else {}),
              **({"version": version} if version else {})}
    observation = {"resourceType": "Observation", "id": "o", "status": "final", "code": {"coding": [coding]}}
    said["check-resource"] = of_findings([f for f in s["checker"].check("o.json", observation, "R5")
                                          if f.location == "Observation.code"])
    if system in SCHEMES:
        item = {"code": code, "scheme": SCHEMES[system], **({"meaning": display} if display else {}),
                **({"version": version} if version else {})}
        said["DICOM header check"] = of_dicom(s["dicom"].resolve(SEQUENCE, item))
    for surface, answer in said.items():
        assert answer == expected, (kind, surface, answer, "$validate-code:", expected)
    if version is None:   # (a table's row has no version)
        folder = tmp_path_factory.mktemp("table")
        (folder / "t.toml").write_text(f'url = "http://ex.test/cm/t"\nversion = "1"\nname = "T"\nstatus = "active"\n'
                                       f'source_system = "{LATERALITY}"\ntarget_system = "{system}"\n')
        with open(folder / "t.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["source_code", "source_display", "target_code", "target_display", "relationship", "status"])
            w.writerow(["R", "Right", code, display or "", "equivalent", "accepted"])
        (report,) = check_tables([str(folder)], s["store"]).tables
        assert of_table([p for p in report.problems if p.row == 2 or p.kind == "system-not-loaded"]) == expected[0], \
            (kind, "mappings check", report.problems, "$validate-code:", expected)


# -- membership: what check-resource asks of a binding's value set -----------------------------------

def includes_unloaded(db: str) -> tuple[str, str]:
    """A stored value set that takes all of a code system the build does not hold, and that system."""
    con = sqlite3.connect(db)
    known = {u for (u,) in con.execute("SELECT url FROM code_system")}
    for url, text in con.execute("SELECT url, json FROM resource WHERE type = 'ValueSet' ORDER BY url"):
        for inc in (json.loads(text).get("compose") or {}).get("include") or []:
            if inc.get("system") and inc["system"] not in known and not inc.get("filter") and not inc.get("concept"):
                return url, inc["system"]
    raise AssertionError("the default build has no value set of a code system it lacks")


MEMBERSHIP = {"member": VALID, "not-member": INVALID, "unverifiable": CANNOT_JUDGE}


@pytest.mark.parametrize("case", ["its unknown system", "another unknown system", "a loaded system"])
def test_membership_is_validate_codes_verdict(case, surfaces, db_path):
    """A code of a code system the build lacks, in a value set that takes that system: cannot be judged (the
    judge said member); of a system the value set does not take: not a member, whatever that system holds
    (the clients said cannot-judge)."""
    vs, unloaded = includes_unloaded(db_path)
    system, code, expected = {"its unknown system": (unloaded, "X1", CANNOT_JUDGE),
                              "another unknown system": ("http://example.org/not-loaded/x", "X1", INVALID),
                              "a loaded system": (DCM, "CT", INVALID)}[case]
    said = {"Judge.membership": MEMBERSHIP[surfaces["judge"].membership(vs, system, code).state],
            "Judge.membership_of_any": MEMBERSHIP[surfaces["judge"].membership_of_any(
                vs, [{"system": system, "code": code}]).state]}
    for name in ("local", "http", "http_r4"):
        said[name] = surfaces[name].validate_code(code, system, url=vs).verdict
    assert said == dict.fromkeys(said, expected), said
