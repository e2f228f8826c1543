"""ConceptMap/$translate, R5 and R4 flavours, forward and reverse.

Stored maps are found through the `cm_entry` index (source or target code ->
map, group, element, target); the answer is built from the map's JSON, which
is parsed once per build. Request maps (tx-resource) are searched directly.
"""
from termsvc import deadline
from termsvc.fhir.conceptmap_match import EXT_SOURCE_CASE_INSENSITIVE, case_insensitive, fold
from termsvc.fhir.convert import EXT_NOMAP_COMMENT, r4_equivalence, to_r5
from termsvc.fhir import messages
from termsvc.fhir.shape import check_codeable_concept, check_coding, check_resource
from termsvc.ops.context import build_cached, split_canonical, vurl
from termsvc.ops.identifiers import input_error
from termsvc.results import Match, Translation

MAX_CHAIN = 10


class TranslateRequest:
    """The concept to translate and the constraints, from R5 or R4 parameter names.

    Both endpoints accept both spellings (R5 sourceCode/sourceCoding/targetCode...,
    R4 code/coding/targetsystem...); only R4 takes `reverse`."""

    def __init__(self, params, r4: bool):
        self.r4 = r4
        v = {}
        for p in params.items:  # first value of each name (R5 and R4 spellings side by side)
            if p.name not in v:
                value = p.resource if p.resource is not None else p.value
                if value is not None and value != "":
                    v[p.name] = value
        if "reverse" in v and not r4:
            raise messages.error("translate-reverse-r5", issue_code="not-supported")
        coding = v.get("sourceCoding") or v.get("coding")
        cc = v.get("sourceCodeableConcept") or v.get("codeableConcept")
        code = _text(v.get("sourceCode") or v.get("code"))
        system = _text(v.get("sourceSystem") or v.get("system"))
        version = _text(v.get("sourceVersion") or v.get("version"))
        self.target_system = _text(v.get("targetSystem") or v.get("targetsystem"))
        self.source_scope = _text(v.get("sourceScope") or v.get("source"))
        self.target_scope = _text(v.get("targetScope") or v.get("target"))
        self.source_system_filter = None
        self.reverse = r4 and params.bool("reverse")
        tcoding = v.get("targetCoding")
        tcc = v.get("targetCodeableConcept")
        tcode = _text(v.get("targetCode"))
        if tcode is not None or isinstance(tcoding, dict) or isinstance(tcc, dict):
            self.reverse = True
            coding, cc, code = tcoding, tcc, tcode
            self.source_system_filter = system
            system = self.target_system if tcode is not None else None
        elif self.reverse:  # R4 reverse: the input concept is a target; targetsystem names the source side
            self.source_system_filter = self.target_system
        codings = []
        if cc is not None:
            codings = [c for c in check_codeable_concept(cc).get("coding", []) or [] if c.get("code")]
        elif coding is not None:
            codings = [coding] if check_coding(coding).get("code") else []
        elif code is not None:
            codings = [{"system": system, "code": code, **({"version": version} if version else {})}]
        if not codings:
            raise messages.error("translate-nothing", issue_code="required")
        self.codings = codings
        self.url = _text(v.get("url"))
        self.map_version = _text(v.get("conceptMapVersion"))
        self.concept_map = v.get("conceptMap")   # the map itself, sent with the request
        if self.concept_map is not None:
            self.concept_map = to_r5(check_resource(self.concept_map, "conceptMap"))


def _text(value):
    """A simple parameter value as text (a query string gives text; a Parameters body may not)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        raise messages.error("simple-value")
    return str(value).lower() if isinstance(value, bool) else str(value)


def _group_system(g, key):
    return split_canonical(g.get(key))[0] if g.get(key) else None


def _candidate_maps(ctx, req: TranslateRequest, coding) -> list[dict]:
    if req.concept_map is not None:
        return [req.concept_map]
    if req.url:
        cm = ctx.concept_map(req.url, req.map_version)
        if cm is None:
            raise messages.error("concept-map-not-found", status=404, issue_code="not-found", tx_type="not-found",
                                 url=req.url)
        return [cm]
    maps = list(ctx.request_concept_maps())
    if ctx.store is not None:
        seen = {vurl(m) for m in maps}
        code = coding["code"]
        codes = (code,)
        if not req.reverse and _has_folded_groups(ctx.store):   # groups ignoring case index their codes folded
            folded = fold(code)
            if folded != code:
                codes = (code, folded)
        for cm_id in dict.fromkeys(i for c in codes for i in stored_map_ids(ctx.store, req.reverse,
                                                                             coding.get("system"), c)):
            cm = ctx.stored_concept_map(cm_id)
            if vurl(cm) not in seen:
                maps.append(cm)
    out = []
    for cm in maps:
        if req.source_scope and not _scope_ok(cm.get("sourceScopeUri") or cm.get("sourceScopeCanonical"), req.source_scope):
            continue
        if req.target_scope and not _scope_ok(cm.get("targetScopeUri") or cm.get("targetScopeCanonical"), req.target_scope):
            continue
        out.append(cm)
    return out


# the maps that can answer for a code; stable for a build, so remembered per build
_FORWARD = ("SELECT cm_id FROM cm_entry WHERE source_code=?1 AND source_system=?2"
            " UNION SELECT cm_id FROM cm_entry WHERE source_system=?2 AND target_idx=-2")
_FORWARD_ANY = "SELECT DISTINCT cm_id FROM cm_entry WHERE source_code=?1"
_REVERSE = "SELECT DISTINCT cm_id FROM cm_entry WHERE target_code=?1 AND target_system=?2"
_REVERSE_ANY = "SELECT DISTINCT cm_id FROM cm_entry WHERE target_code=?1"


def stored_map_ids(store, reverse: bool, system: str | None, code: str) -> list[int]:
    def query():
        sql = (_REVERSE if system else _REVERSE_ANY) if reverse else (_FORWARD if system else _FORWARD_ANY)
        return [r[0] for r in store.all(sql, (code, system) if system else (code,))]
    return build_cached(store, ("cm-ids", reverse, system, code), query)


def _has_folded_groups(store) -> bool:
    """Does any stored ConceptMap have a group that matches source codes ignoring case? (Once per build.)"""
    return build_cached(store, ("folded-groups",), lambda: store.one(
        "SELECT 1 FROM resource WHERE type='ConceptMap' AND json LIKE ? LIMIT 1",
        (f"%{EXT_SOURCE_CASE_INSENSITIVE}%",)) is not None)


def _scope_ok(have, want):
    return have is not None and split_canonical(have)[0] == split_canonical(want)[0]


def _match(req, cm, target_coding, relationship, target, source_coding=None, equivalence=None) -> Match:
    """A translation to `target_coding` by the target element `target` of the map `cm` (on the R4 endpoint
    with its R4 equivalence: `equivalence`, else the author's word the map keeps, else the standard one)."""
    target = target or {}
    if req.r4:
        equivalence = equivalence or r4_equivalence(target or {"relationship": relationship})
    return Match(relationship, target_coding, vurl(cm), equivalence if req.r4 else None,
                 target.get("dependsOn") or [], target.get("product") or [], source_coding,
                 [target["comment"]] if target.get("comment") else [])


def _coding(system, code, display=None, version=None):
    c = {}
    if system:
        c["system"] = system
    if version:
        c["version"] = version
    c["code"] = code
    if display:
        c["display"] = display
    return c


def translate(ctx, params, r4: bool = False, instance_id: str | None = None) -> Translation:
    """ConceptMap/$translate (with the map whose id is `instance_id`, when given); `r4`: asked on the R4
    endpoint (its parameter names, `reverse`, and the R4 equivalence of each match)."""
    instance_url = ctx.instance_url("ConceptMap", instance_id)
    req = TranslateRequest(params, r4)
    if instance_url:
        req.url = instance_url
    matches = []
    notes = []
    for coding in req.codings:
        malformed = input_error(ctx, coding.get("system"), coding.get("code"))
        if malformed is not None:
            raise malformed
        for cm in deadline.bounded(_candidate_maps(ctx, req, coding)):
            if req.reverse:
                matches += _reverse(req, cm, coding)
            else:
                matches += _forward(ctx, req, cm, coding, [], notes)
    if any(m.positive for m in matches):
        return Translation(True, matches)
    c = req.codings[0]
    notes.insert(0, messages.text("no-translation", system=c.get("system", ""), code=c.get("code"),
                                  to=f" to {req.target_system}" if req.target_system else ""))
    return Translation(False, matches, "; ".join(notes))


def _forward(ctx, req, cm, coding, chain, notes) -> list:
    out = []
    system, code = coding.get("system"), coding.get("code")
    for g, gsrc, gtgt in _groups(cm, system, req.target_system, coding.get("version")):
        found = False
        index, folded = _source_index(g)
        for e in index.get(fold(code) if folded else code, ()):
            found = True
            if e.get("noMap"):
                comment = next((x.get("valueString") for x in e.get("extension", []) or []
                                if x.get("url") == EXT_NOMAP_COMMENT), None)
                if req.r4:
                    out.append(_match(req, cm, None, "not-related-to", {"comment": comment} if comment else None,
                                      equivalence="unmatched"))
                else:
                    notes.append(messages.text("not-mapped", system=system, code=code, map=vurl(cm),
                                               comment=f": {comment}" if comment else ""))
                continue
            for t in e.get("target", []) or []:
                target_coding = _coding(gtgt, t.get("code"), t.get("display"))
                m = _match(req, cm, target_coding, t.get("relationship", "related-to"), t)
                if e.get("comment"):
                    m.comments.append(e["comment"])
                out.append(m)
        if not found and g.get("unmapped") and (not system or gsrc == system):
            out += _unmapped(ctx, req, cm, g, coding, chain, notes)
    return out


def _groups(cm: dict, source_system: str | None, target_system: str | None, source_version: str | None = None):
    """(group, its source system, its target system) for the groups that can map between these systems
    (and from this version of the source system, when the group names one)."""
    for g in cm.get("group", []) or []:
        gsrc, gtgt = _group_system(g, "source"), _group_system(g, "target")
        if source_system and gsrc and gsrc != source_system:
            continue
        if target_system and gtgt and gtgt != target_system:
            continue
        if source_version and _group_version(g) not in (None, source_version):
            continue
        yield g, gsrc, gtgt


def _group_version(g: dict) -> str | None:
    """The version of its source system a group maps from: R5 `source` as canonical|version (R4
    sourceVersion, kept by the conversion to R5), or None."""
    return split_canonical(g.get("source"))[1] if g.get("source") else None


_INDEX: dict = {}   # (id(group.element list), side) -> (the list, index), see _source_index / _target_index


def _cached_index(g: dict, side: str, make):
    """Stored maps are parsed once per build, so a group's index is built once; the entry holds the
    element list, so the id it is keyed by stays unique."""
    elements = g.get("element", []) or []
    key = (id(elements), side)
    hit = _INDEX.get(key)
    if hit is None or hit[0] is not elements:
        if len(_INDEX) > 4000:
            _INDEX.clear()
        hit = _INDEX[key] = (elements, make(elements))
    return hit[1]


def _source_index(g: dict) -> tuple[dict, bool]:
    """A group's elements by source code (code -> [element], in document order), and whether the
    group matches codes ignoring case (then the keys are folded, and so must be the code asked for)."""
    def make(elements):
        folded = case_insensitive(g)
        index = {}
        for e in elements:
            code = e.get("code") or ""
            index.setdefault(fold(code) if folded else code, []).append(e)
        return index, folded
    return _cached_index(g, "source", make)


def _target_index(g: dict) -> dict:
    """A group's targets by target code (code -> [(element, target)])."""
    def make(elements):
        index = {}
        for e in elements:
            for t in e.get("target", []) or []:
                index.setdefault(t.get("code"), []).append((e, t))
        return index
    return _cached_index(g, "target", make)


def _unmapped(ctx, req, cm, g, coding, chain, notes) -> list:
    um = g["unmapped"]
    mode = um.get("mode")
    rel = um.get("relationship", "related-to" if mode != "use-source-code" else "equivalent")
    gtgt = _group_system(g, "target")
    if mode == "fixed":
        return [_match(req, cm, _coding(gtgt, um.get("code"), um.get("display")), rel, {"relationship": rel})]
    if mode == "use-source-code":
        return [_match(req, cm, _coding(gtgt or coding.get("system"), coding.get("code"), coding.get("display")),
                       rel, {"relationship": rel})]
    if mode == "other-map" and um.get("otherMap"):
        key = um["otherMap"]
        if key in chain or vurl(cm) in chain or len(chain) > MAX_CHAIN:
            notes.append(messages.text("other-map-cycle", chain=" -> ".join(chain + [vurl(cm), key])))
            return []
        other = ctx.concept_map(key)
        if other is None:
            notes.append(messages.text("other-map-missing", url=key, map=vurl(cm)))
            return []
        return _forward(ctx, req, other, coding, chain + [vurl(cm)], notes)
    return []


def _reverse(req, cm, coding) -> list:
    out = []
    system, code = coding.get("system"), coding.get("code")
    for g, gsrc, gtgt in _groups(cm, req.source_system_filter, system):
        for e, t in _target_index(g).get(code, ()):
            out.append(_match(req, cm, _coding(gtgt, t.get("code"), t.get("display")),
                              t.get("relationship", "related-to"), t,
                              source_coding=_coding(gsrc, e.get("code"), e.get("display"))))
    return out
