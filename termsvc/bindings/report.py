"""`termsvc ig-report`: for every binding of the IG, what the value set needs of its code systems,
what the build holds of each, and whether a code can be judged against it.

An include that enumerates codes is judged by its list, whatever the build holds of its code
system (a listed code is a member, another is not; only the code system's own checks - does the
code exist, is its display right - need the code system). An include that takes all of a code
system, or filters it, needs that code system complete: over a fragment (DICOM's SNOMED CT and
LOINC subsets) or with the code system missing, its codes cannot be judged.
"""
from dataclasses import asdict, dataclass, field

from termsvc.bindings import core
from termsvc.bindings.facts import BINDINGS, PROFILES, Binding, origin
from termsvc.ops.completeness import PARTIAL_CONTENT, describe_filters, how_to_load, missing_part
from termsvc.ops.compose import Composer
from termsvc.ops.context import Context

FULLY, PARTLY, NOT = "fully checkable", "partly checkable", "not checkable"


@dataclass(slots=True)
class Need:
    """One include or exclude: the code system it draws on, how, and what the build holds of it."""
    system: str
    role: str                 # include, exclude
    how: str                  # "all codes", "filter ...", "N listed code(s)"
    wanted: str | None        # the version the include asks for (None: any)
    held: str                 # complete, fragment, example, not-present, missing
    version: str | None       # the version held
    problem: str | None = None
    fix: str | None = None


@dataclass(slots=True)
class Row:
    binding: Binding
    found: bool = True                     # the value set is loaded
    needs: list = field(default_factory=list)
    verdict: str = FULLY
    problems: list = field(default_factory=list)
    fixes: list = field(default_factory=list)
    core: bool = False                     # a FHIR core binding (from the core StructureDefinitions)

    def as_dict(self) -> dict:
        d = asdict(self.binding)
        d.update(value_set_loaded=self.found, needs=[asdict(n) for n in self.needs], verdict=self.verdict,
                 cannot_judge=self.problems, to_load=self.fixes, core=self.core)
        return d


def report(store) -> list[Row]:
    """The IG's bindings (facts), then the FHIR core bindings of the resource types it profiles (from
    the core StructureDefinitions the build holds; R4 as bindings.core judges R4 resources)."""
    ctx = Context(store)
    rows = [_row(ctx, b) for b in BINDINGS]
    for edition in ("R4", "R5"):
        definitions, _ = core.load(store, edition)
        for rtype in sorted(set(PROFILES.values()) - {"Extension"}):
            for e in core.bindings_of(definitions, rtype):
                path = e.path.split(".", 1)[1]
                assert e.strength is not None   # (judged: a strength, and a value set or R4's codes)
                if e.codes:   # judged by R4's own list of codes
                    row = Row(Binding(edition, None, rtype, path, e.strength, f"{e.codes[0]} (the codes of FHIR R4)",
                                      "FHIR core"))
                else:
                    assert e.value_set is not None
                    row = _row(ctx, Binding(edition, None, rtype, path, e.strength, e.value_set, origin(e.value_set)))
                row.core = True
                rows.append(row)
    return rows


def required_checkable(rows: list[Row]) -> bool:
    """Is every required binding of the IG fully checkable? (FHIR core's are reported, not counted:
    Resource.language's all-languages, a grammar, is never checkable.)"""
    return all(r.verdict == FULLY for r in rows if r.binding.required and not r.core)


def exit_code(rows: list[Row]) -> int:
    """0 when every required binding of the IG is fully checkable, else 1."""
    return 0 if required_checkable(rows) else 1


def _row(ctx, b: Binding) -> Row:
    row = Row(b)
    vs = ctx.value_set(b.value_set)
    if vs is None:
        row.found, row.verdict = False, NOT
        row.problems.append(f"the value set {b.value_set} is not loaded")
        row.fixes.append(f"the {b.origin} package that publishes {b.value_set} (termsvc build --package NAME#VERSION)")
        return row
    composer = Composer(ctx)
    _walk(ctx, composer, vs, row, set())
    judged = [n for n in row.needs if n.problem is None and n.role == "include"]
    row.problems += [n.problem for n in row.needs if n.problem]
    row.fixes += [n.fix for n in row.needs if n.fix and n.fix not in row.fixes]
    if row.problems:
        row.verdict = PARTLY if judged else NOT
    return row


def _walk(ctx, composer, vs: dict, row: Row, seen: set):
    key = vs.get("url") or id(vs)
    if key in seen:
        return
    seen.add(key)
    compose = vs.get("compose") or {}
    for role, incs in (("include", compose.get("include") or []), ("exclude", compose.get("exclude") or [])):
        for inc in incs:
            if inc.get("system"):
                row.needs.append(_need(composer, vs, inc, role))
            for canonical in inc.get("valueSet") or []:
                sub = ctx.value_set(canonical)
                if sub is None:
                    row.problems.append(f"the value set {canonical} it imports is not loaded")
                    row.fixes.append(f"a package that publishes {canonical}")
                else:
                    _walk(ctx, composer, sub, row, seen)


def _need(composer, vs: dict, inc: dict, role: str) -> Need:
    iv = composer.include_version(inc, vs)
    filters = inc.get("filter") or []
    if inc.get("concept"):
        how = f"{len(inc['concept'])} listed code(s)"
    elif filters:
        how = f"filter {describe_filters(filters)}"
    else:
        how = "all codes"
    cs = iv.cs
    need = Need(iv.system, role, how, iv.wanted, cs.content if cs is not None else "missing",
                cs.version if cs is not None else None)
    named = f"{iv.system}|{iv.wanted}" if iv.wanted else iv.system
    if inc.get("concept"):
        return need   # an enumeration decides membership by itself
    if cs is None:
        need.problem = f"codes of {named} ({how}): the code system is not loaded"
    elif cs.content in PARTIAL_CONTENT:
        what = missing_part(filters) if filters else "its other codes"
        need.problem = (f"codes of {iv.system} ({how}): only a {cs.content} of it is loaded (version '{cs.version}'),"
                        f" without {what}")
    else:
        roots = [f.get("value") for f in filters if f.get("property") in ("concept", "code")
                 and f.get("op") in ("is-a", "descendent-of", "child-of", "descendent-leaf")]
        absent = [v for v in roots if v and cs.locate(v) is None]
        if absent:
            need.problem = f"codes of {iv.system} ({how}): {', '.join(absent)} is not in {cs.vurl()}"
            need.fix = f"a release of {iv.system} that has {', '.join(absent)}"
            return need
    if need.problem:
        need.fix = how_to_load(iv.system)
    return need


# -- output -----------------------------------------------------------------------------------

def as_text(rows: list[Row]) -> str:
    out = []
    for r in rows:
        b = r.binding
        where = f"{b.profile or 'FHIR core'} ({b.resource_type}).{b.path}"
        out.append(f"{b.edition}  {where}  [{b.strength}]  {b.value_set}")
        for n in r.needs:
            version = f" {n.version}" if n.version else ""
            out.append(f"      needs {n.system} ({n.role} {n.how}): holds {n.held}{version}")
        out.append(f"    -> {r.verdict}")
        for p in r.problems:
            out.append(f"       cannot judge: {p}")
        for f in r.fixes:
            out.append(f"       to load: {f}")
    counts = {v: sum(1 for r in rows if r.verdict == v) for v in (FULLY, PARTLY, NOT)}
    required = [r for r in rows if r.binding.required and not r.core]
    core_required = [r for r in rows if r.binding.required and r.core]
    out.append(f"{len(rows)} bindings: {counts[FULLY]} {FULLY}, {counts[PARTLY]} {PARTLY}, {counts[NOT]} {NOT};"
               f" required bindings checkable: {sum(1 for r in required if r.verdict == FULLY)}/{len(required)}"
               f" (FHIR core: {sum(1 for r in core_required if r.verdict == FULLY)}/{len(core_required)})")
    return "\n".join(out)


def summary(rows: list[Row]) -> dict:
    return {"bindings": [r.as_dict() for r in rows],
            "counts": {v: sum(1 for r in rows if r.verdict == v) for v in (FULLY, PARTLY, NOT)},
            "required_checkable": required_checkable(rows)}
