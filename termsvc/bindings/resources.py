"""`termsvc check-resource`: the coded elements of FHIR resources that the IG binds, judged by the
engine against their value sets with the meaning of the binding's strength.

- Which bindings: the IG profiles a resource claims in meta.profile (its edition from the profile's
  base), else the profile of its resource type (DocumentReference: the key-image profile when a
  category says LOINC 55113-5, else the report's; Observation: by its code); the FHIR core
  bindings of every coded element (termsvc.bindings.core: from the core StructureDefinitions the
  build holds, example bindings aside); the IG's extensions wherever they appear.
- Each code is judged by CodeSystem/$validate-code too, with its verdict (ops.judge, the one
  the clients read): a no is an error (an unknown code, an identifier its system's syntax rules
  out, a display it rejects), the warnings of a yes are warnings (an inactive code, a display it
  only warns about: an error with `strict_displays`), saying the code system's display.
- A CodeableConcept is in a value set when one of its codings is (what $validate-code answers).
- Strength: required (and maximum) -> error when not in the value set; extensible -> warning when
  outside it (the code's own error says when it is no code at all); preferred, example ->
  information. What the build cannot judge (a fragment, a code system, version or value set not
  loaded) is said, as a warning for a required binding and information otherwise, never as an error.
- A slice that is not an extension (`category[diagnostic-service]`) holds the codings of the code
  systems its value set draws on: other codings belong to other slices and are not judged here.
"""
import re
from dataclasses import asdict, dataclass, field

from termsvc.bindings import core
from termsvc.bindings.inputs import Unreadable, read_inputs
from termsvc.bindings.facts import BASES, PROFILES, Binding, bindings_for, extension_bindings
from termsvc.ops.judge import (CANNOT_JUDGE, FOUND, INVALID, MEMBER, NOT_MEMBER, UNKNOWN_SYSTEM,
                               CodeVerdict, Judge)

ERROR, WARNING, INFORMATION = "error", "warning", "information"
KEY_IMAGES = ("http://loinc.org", "55113-5")
OBSERVATION_PROFILES = {("http://loinc.org", "73569-6"): "ObservationRadiationDoseEuImaging",
                        ("http://snomed.info/sct", "598151000005105"): "ObservationGestationalAgeEuImaging"}
DEFAULT_PROFILES = {"DiagnosticReport": "DiagnosticReportEuImaging", "Composition": "CompositionEuImaging",
                    "ImagingStudy": "ImagingStudyEuImaging", "Procedure": "ProcedureEuImaging",
                    "ServiceRequest": "ServiceRequestOrderEuImaging", "Device": "DeviceEuImaging"}
# elements only one edition has, to tell an R4 resource without meta.profile from an R5 one
R4_ONLY = {"ImagingStudy": ("procedureCode", "procedureReference"), "Procedure": ("performedDateTime",
           "performedPeriod"), "DocumentReference": ("masterIdentifier",), "Device": ("deviceName",),
           "Composition": ("confidentiality",), "DiagnosticReport": ()}
CANNOT_BE_JUDGED = "cannot be judged"
DISPLAY_ISSUES = ("invalid-display", "display-comment")   # $validate-code's tx-issue-types of a display
STEP = re.compile(r"([A-Za-z]+)(?:\[([^\]]+)\])?")


@dataclass(slots=True)
class Finding:
    severity: str
    file: str
    resource: str          # Type/id
    location: str          # the element, FHIRPath-like: DiagnosticReport.category[1]
    profile: str | None
    edition: str
    strength: str
    value_set: str
    codes: list
    message: str
    issues: list = field(default_factory=list)   # [severity, issue code, tx-issue-type] of the $validate-code
                                                 # issues it reports (a code's own verdict)


def edition_of(res: dict, forced: str | None = None) -> str:
    if forced:
        return forced
    for p in (res.get("meta") or {}).get("profile") or []:
        for edition, base in sorted(BASES.items(), key=lambda x: -len(x[1])):
            if str(p).startswith(base + "/"):
                return edition
    return "R4" if any(k in res for k in R4_ONLY.get(res.get("resourceType", ""), ())) else "R5"


def profiles_of(res: dict, edition: str) -> tuple[list[str], list[str]]:
    """(the IG profiles that apply, notes) by meta.profile, else by resource type."""
    rtype, notes = res.get("resourceType"), []
    claimed = []
    for p in (res.get("meta") or {}).get("profile") or []:
        name = str(p).split("|")[0].rstrip("/").rsplit("/", 1)[-1]
        match = next((k for k in PROFILES if _norm(k) == _norm(name) and PROFILES[k] == rtype), None)
        if match:
            claimed.append(match)
        elif str(p).startswith(BASES[edition] + "/"):
            notes.append(f"meta.profile {p} is not a profile this check knows")
    if claimed:
        return claimed, notes
    if rtype == "DocumentReference":
        key = any((c.get("system"), c.get("code")) == KEY_IMAGES for cc in res.get("category") or []
                  for c in cc.get("coding") or [])
        return ["DocumentReferenceKeyImageEuImaging" if key else "DocumentReferenceImagingReport"], notes
    if rtype == "Observation":
        codes = {(c.get("system"), c.get("code")) for c in (res.get("code") or {}).get("coding") or []}
        return [p for k, p in OBSERVATION_PROFILES.items() if k in codes], notes
    return ([DEFAULT_PROFILES[rtype]] if rtype in DEFAULT_PROFILES else []), notes


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _extension_matches(ext: dict, slice_name: str) -> bool:
    url = str(ext.get("url") or "")
    return url == slice_name or _norm(slice_name) in _norm(url.rsplit("/", 1)[-1])


def values_at(node, path: str, location: str):
    """(location, value) of every value at `path` below node."""
    if not path:
        yield location, node
        return
    step, _, rest = path.partition(".")
    match = STEP.fullmatch(step)
    assert match is not None, path   # (the paths are the IG's bindings': element names, maybe a slice)
    name, slice_name = match.groups()
    value = node.get(name) if isinstance(node, dict) else None
    if value is None:
        return
    items = value if isinstance(value, list) else [value]
    for i, item in enumerate(items):
        if name == "extension" and slice_name and not _extension_matches(item, slice_name):
            continue
        where = f"{location}.{name}[{i}]" if isinstance(value, list) else f"{location}.{name}"
        yield from values_at(item, rest, where)


def codings_of(value) -> list[dict] | None:
    """The codings of a coded value: CodeableConcept, CodeableReference, Coding or Quantity."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("concept"), dict):
        value = value["concept"]
    if "coding" in value or "text" in value:
        return [c for c in value.get("coding") or [] if isinstance(c, dict) and c.get("code")]
    if value.get("code") is not None:
        return [{"system": value.get("system"), "code": str(value["code"]), "display": value.get("display")}]
    return None


class Checker:
    def __init__(self, store, strict_displays: bool = False):
        self.store = store
        self.judge = Judge(store)
        self.strict_displays = strict_displays
        self._systems: dict = {}
        self._core: dict = {}

    def core(self, edition: str) -> tuple[core.Definitions, str | None]:
        if edition not in self._core:
            self._core[edition] = core.load(self.store, edition)
        return self._core[edition]

    def check(self, file: str, res: dict, edition: str | None = None) -> list[Finding]:
        edition = edition_of(res, edition)
        rtype: str = res["resourceType"]   # (read_inputs lets only resources through)
        label = f"{rtype}/{res.get('id') or '(no id)'}"
        profiles, notes = profiles_of(res, edition)
        definitions, note = self.core(edition)
        if not definitions:
            note = f"no FHIR {edition} core StructureDefinitions in the build: the core bindings are not checked"
        notes += [note] if note else []
        out = [Finding(INFORMATION, file, label, rtype, None, edition, "", "", [], n) for n in notes]
        judged: set = set()   # locations whose codes and displays are judged already
        for b in bindings_for(edition, profiles, rtype):
            for location, value in values_at(res, b.path, rtype):
                out += self._judge(file, label, location, value, b, judged)
        for b in extension_bindings(edition):
            assert b.profile is not None   # (an extension's binding is its profile's)
            for location, ext in _extensions(res, rtype):
                if _extension_matches(ext, b.profile.removesuffix("Extension")):
                    for where, value in values_at(ext, b.path, location):
                        out += self._judge(file, label, where, value, b, judged)
        for location, element, value in core.coded_values(definitions, res):
            vs = element.value_set or (f"{element.codes[0]} (the codes of FHIR R4)" if element.codes else "")
            b = Binding(edition, None, element.path.split(".")[0], element.path, element.strength or "", vs, "FHIR core")
            out += self._judge(file, label, location, value, b, judged, element.codes, element.judged)
        return out

    def _judge(self, file, label, location, value, b: Binding, judged: set, r4_codes=None,
               membership: bool = True) -> list[Finding]:
        """The findings of a coded value under a binding: its membership of the value set (unless
        `membership` is False: an example binding, or none), and once per location its codes."""
        if isinstance(value, str):   # a code element: its system is the value set's
            codings: list[dict] | None = [{"code": value}]
        else:
            codings = codings_of(value)
        if not codings:
            return []
        sliced = "[" in b.path.split(".")[0] and not b.path.startswith("extension")
        if sliced:   # a slice of a repeating element: the codings of the systems its value set draws on
            drawn = self._drawn_on(b.value_set)
            codings = [c for c in codings if c.get("system") in drawn]
            if not codings:
                return []
        codes = [f"{c.get('system')}#{c.get('code')}" if c.get("system") else c["code"] for c in codings]

        def finding(severity, message, issues=()):
            return Finding(severity, file, label, location, b.profile, b.edition, b.strength, b.value_set, codes,
                           message, [[i.severity, i.code, i.tx_type] for i in issues])
        out = []
        if not membership:
            pass
        elif r4_codes is not None:
            system, allowed = r4_codes
            if codings[0]["code"] not in allowed:
                out.append(self._outside(finding, [{"system": system, **codings[0]}], b,
                                         f"'{codings[0]['code']}' is not a code of {system} in FHIR R4 (R4 has:"
                                         f" {', '.join(allowed)})"))
        elif not self.judge.has_value_set(b.value_set):
            out.append(finding(WARNING if b.required else INFORMATION,
                               f"not checked: the value set {b.value_set} is not loaded"))
        else:
            if isinstance(value, str):
                member = self.judge.membership_of_code(b.value_set, value)
            else:
                member = self.judge.membership_of_any(b.value_set, codings)
            if member.state == NOT_MEMBER:
                out.append(self._outside(finding, codings, b, member.message))
            elif member.state != MEMBER:
                out.append(finding(WARNING if b.required else INFORMATION, f"{CANNOT_BE_JUDGED}: {member.message}"))
        held = location.removesuffix(".concept")   # a CodeableReference's codes, whichever binding reaches them
        if held not in judged:
            judged.add(held)
            # (what the membership cannot judge, the code cannot either: said once)
            undecided = any(f.message.startswith(CANNOT_BE_JUDGED) for f in out)
            out += [f for f in self._codes(finding, codings, b.value_set if self.judge.has_value_set(b.value_set)
                                           else None, b.required)
                    if not (undecided and f"{CANNOT_BE_JUDGED}:" in f.message)]
        return out

    def _codes(self, finding, codings, value_set: str | None, required: bool) -> list[Finding]:
        """The codes themselves and their displays, with $validate-code's verdict: a no is an error, what
        it cannot judge a warning under a required binding (else information), the warnings of a yes
        warnings (a display it only warns about is an error with `strict_displays`). A display that
        is another code's in the binding's value set - Left shown as Right - says so."""
        out = []
        for c in codings:
            if not c.get("system"):
                continue
            which = f"{c['system']}#{c['code']}: " if len(codings) > 1 else ""
            verdict = self.judge.code(c["system"], c["code"], c.get("display"), c.get("version"))
            if verdict.verdict == CANNOT_JUDGE:
                out.append(finding(WARNING if required else INFORMATION, f"{which}{CANNOT_BE_JUDGED}: {verdict.message}",
                                   verdict.issues))
            elif verdict.verdict == INVALID and not (verdict.state == FOUND and verdict.display_rejected):
                out.append(finding(ERROR, which + verdict.message, [i for i in verdict.issues if i.is_error]))
            elif not verdict.display_ok:
                severity = ERROR if verdict.display_rejected or self.strict_displays else WARNING
                out.append(self._display_finding(finding, severity, which, c, verdict, value_set))
            if verdict.verdict != CANNOT_JUDGE:   # (the warnings of a yes, or of a no for its display)
                notes = [i for i in verdict.issues if i.severity == "warning" and i.tx_type not in DISPLAY_ISSUES]
                out += [finding(WARNING, which + i.text, [i]) for i in notes]
        return out

    def _display_finding(self, finding, severity: str, which: str, c: dict, verdict: CodeVerdict,
                         value_set: str | None) -> Finding:
        others = [o for o in self.judge.codes_displayed(value_set, c["system"], c.get("display") or "")
                  if o != c["code"]] if value_set else []
        swap = f"; '{c.get('display')}' is the display of {', '.join(others)}: a swapped code?" if others else ""
        return finding(severity, f"{which}the display '{c.get('display')}' is not one of its displays"
                                 f" ('{verdict.display}'): {verdict.display_message}{swap}",
                       [i for i in verdict.issues if i.tx_type in DISPLAY_ISSUES])

    def _outside(self, finding, codings, b: Binding, message: str) -> Finding:
        if b.strength in ("required", "maximum"):
            return finding(ERROR, message)
        if b.strength == "extensible":
            # (a code that is no code of its system is an error of its own: _codes)
            states = [self.judge.code(c.get("system") or "", c["code"]).state for c in codings if c.get("system")]
            if states and all(s == UNKNOWN_SYSTEM for s in states):
                return finding(INFORMATION, f"{message}; its code system is not loaded: the code cannot be verified")
            return finding(WARNING, f"{message} (extensible: a code outside the value set is allowed only when none"
                                    " of its codes fits)")
        return finding(INFORMATION, f"{message} ({b.strength} binding)")

    def _drawn_on(self, value_set: str) -> set:
        if value_set not in self._systems:
            self._systems[value_set] = self.judge.systems_named(value_set)
        return self._systems[value_set]


def _extensions(node, location: str):
    """(location, extension) of every extension anywhere in the resource."""
    if isinstance(node, dict):
        for k, v in node.items():
            items = v if isinstance(v, list) else [v]
            for i, item in enumerate(items):
                where = f"{location}.{k}[{i}]" if isinstance(v, list) else f"{location}.{k}"
                if k in ("extension", "modifierExtension") and isinstance(item, dict):
                    yield where, item
                yield from _extensions(item, where)


def check(store, paths, edition: str | None = None, strict_displays: bool = False
          ) -> tuple[list[tuple[str, str]], list[Finding], list[Unreadable]]:
    """([(file, resource)] checked, findings, [what could not be read or checked]): a file that cannot be
    read leaves the others checked. `strict_displays`: a display $validate-code only warns about is an error."""
    checker = Checker(store, strict_displays)
    checked, findings = [], []
    resources, unreadable = read_inputs(paths)
    for file, res in resources:
        label = f"{res.get('resourceType')}/{res.get('id') or '(no id)'}"
        try:
            findings += checker.check(file, res, edition)
        except RecursionError:   # (orjson reads 1024 levels; the walk of the elements may stop before)
            unreadable.append(Unreadable(file, f"{label}: nested too deep to check"))
            continue
        checked.append((file, label))
    return checked, findings, unreadable


def exit_code(findings: list[Finding], unreadable=()) -> int:
    """2 when some input could not be read (what could was checked all the same), else 1 for errors, else 0."""
    return 2 if unreadable else 1 if any(f.severity == ERROR for f in findings) else 0


def as_json(checked, findings, unreadable=()) -> dict:
    return {"resources": [{"file": f, "resource": r} for f, r in checked],
            "findings": [asdict(f) for f in findings],
            "unreadable": [{"file": u.file, "problem": u.problem} for u in unreadable],
            "counts": {s: sum(1 for f in findings if f.severity == s) for s in (ERROR, WARNING, INFORMATION)}}


# control characters (a NUL, an escape sequence in a code or a display) are shown escaped, never sent to
# the terminal
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def as_text(checked, findings, unreadable=()) -> str:
    by_resource: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        by_resource.setdefault((f.file, f.resource), []).append(f)
    out = []
    for file, label in checked:
        mine = by_resource.get((file, label), [])
        out.append(printable(f"{file}: {label}") + ("" if mine else ": no findings"))
        for f in mine:
            where = f"{f.location}" + (f" [{f.strength}] {f.value_set}" if f.value_set else "")
            out.append(printable(f"  {f.severity:<11} {where}"))
            out.append(printable(f"              {', '.join(f.codes)}: {f.message}" if f.codes
                                 else f"              {f.message}"))
    counts = as_json(checked, findings)["counts"]
    out.append(f"{len(checked)} resource(s): {counts[ERROR]} error(s), {counts[WARNING]} warning(s),"
               f" {counts[INFORMATION]} information" + (f"; {len(unreadable)} not read" if unreadable else ""))
    return "\n".join(out)
