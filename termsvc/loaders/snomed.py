"""SNOMED CT RF2 Snapshot loader.

`load(writer, location, progress)`: `location` is a release folder or zip, or a list
of them (a string holding several paths separated by os.pathsep works too). Files
are found by name pattern anywhere under each root (see shared/formats/snomed-rf2.md).

Editions: a package that lacks the root concept 138875005 is an extension; it is
loaded on top of the packages loaded before it (in this call or by an earlier
"snomed" source of the same build), union of rows, later rows of the same id
replacing earlier ones. Each package loaded gives one CodeSystem
`http://snomed.info/sct`, version `http://snomed.info/sct/<module>/version/<date>`;
an extension's CodeSystem holds the International content plus its own.

What goes where
- concept: code = SCTID, display = en-US preferred synonym (fallback: another
  preferred synonym, then the FSN without its semantic tag), definition = text
  definition, inactive/status from Concept.active.
- designation: every active description, once per language refset it is in
  (language = the dialect tag of the refset, e.g. en-US, en-GB, da-DK; descriptions
  in no language refset get their languageCode); use = SNOMED Coding of the
  description type. Per concept, in order: language refset (en-US, en-GB, then
  others), preferred synonym, preferred FSN, acceptable, unreferenced, definitions.
- edge: active inferred is-a relationships (the writer computes the closure).
- integrity: a concept id twice in one package's Snapshot, or a relationship (active or not)
  whose source, destination or type no edition loaded together defines, stops the load with
  the file and line.
- concept_property: `moduleId` (code), `sufficientlyDefined` (boolean) and every
  other active inferred relationship as property code = attribute id, type code,
  value = destination id (concrete values as integer/decimal/string).
- refset_member: simple refsets, and language refsets (a concept is a member when
  one of its active descriptions is); also historical association refsets
  (member = the inactive concept).
- ConceptMap per historical association refset: `http://snomed.info/sct?fhir_cm=<id>`.
"""
import os
import re
from collections import defaultdict

from termsvc.loaders.fhir_json import content_sha256
from termsvc.loaders.protocol import BuildError, BuildState
from termsvc.loaders.release import Release, bounded_lines, max_line_chars
from termsvc.store.snomed_staging import SnomedStaging
from termsvc.store.writer import Batched

SCT = "http://snomed.info/sct"
ROOT = "138875005"
IS_A = 116680003
INFERRED = 900000000000011006
FSN = 900000000000003001
SYNONYM = 900000000000013009
DEFINITION = 900000000000550004
PREFERRED = 900000000000548007
ACCEPTABLE = 900000000000549004
DEFINED = "900000000000073002"
CORE_MODULE = "900000000000207008"
MODEL_MODULE = "900000000000012004"
EN_US = 900000000000509007
EN_GB = 900000000000508004

TYPE_DISPLAY = {FSN: "Fully specified name", SYNONYM: "Synonym", DEFINITION: "Definition"}
# the ids the staging tables rank descriptions by
RANKING_IDS = {"fsn": FSN, "synonym": SYNONYM, "definition": DEFINITION, "preferred": PREFERRED,
               "acceptable": ACCEPTABLE, "en_us": EN_US, "en_gb": EN_GB}

# language refset -> dialect tag (designation language)
LANGUAGE_REFSETS = {
    EN_US: "en-US",
    EN_GB: "en-GB",
    554461000005103: "da-DK",
    46011000052107: "sv-SE",
    21000172104: "nl-BE",      # Belgian Dutch
    21000172105: "fr-BE",
    31000146106: "nl-NL",
    2021000195106: "de-CH",
    2041000195100: "it-CH",
    2031000195108: "fr-CH",
    450828004: "es",           # Spanish (conceptual LATAM)
    608771002: "fr-CA",
    32570271000036106: "en-AU",
    19491000087109: "en-CA",
    21000220103: "en-IE",
    281000210109: "en-NZ",
    722128001: "de",           # German language reference set
    722130004: "de",
    900000000000507009: "en",  # English
}

# historical association refset -> (name, R5 ConceptMap relationship).
# HL7 FHIR's SNOMED CT page ("Implicit Concept Maps") maps SAME AS to equal and
# REPLACED BY to equivalent (R4 codes), WAS A to wider and POSSIBLY EQUIVALENT TO /
# ALTERNATIVE to inexact; R5 folds equal/equivalent into `equivalent`, wider (the
# target is wider) into `source-is-narrower-than-target` and inexact into `related-to`.
# MOVED TO points at a namespace concept, not a meaning -> related-to; MOVED FROM
# points at the same meaning in the other module -> equivalent.
ASSOCIATIONS = {
    "900000000000527005": ("SAME AS", "equivalent"),
    "900000000000526001": ("REPLACED BY", "equivalent"),
    "900000000000523009": ("POSSIBLY EQUIVALENT TO", "related-to"),
    "900000000000528000": ("WAS A", "source-is-narrower-than-target"),
    "900000000000524003": ("MOVED TO", "related-to"),
    "900000000000525002": ("MOVED FROM", "equivalent"),
    "900000000000529008": ("SIMILAR TO", "related-to"),
    "900000000000530003": ("ALTERNATIVE", "related-to"),
    "900000000000531004": ("REFERS TO", "related-to"),
    "1186924009": ("PARTIALLY EQUIVALENT TO", "related-to"),
    "1186921001": ("POSSIBLY REPLACED BY", "related-to"),
}

HEADERS = {
    "concept": "id effectiveTime active moduleId definitionStatusId",
    "description": "id effectiveTime active moduleId conceptId languageCode typeId term caseSignificanceId",
    "textdef": "id effectiveTime active moduleId conceptId languageCode typeId term caseSignificanceId",
    "relationship": "id effectiveTime active moduleId sourceId destinationId relationshipGroup typeId"
                    " characteristicTypeId modifierId",
    "concrete": "id effectiveTime active moduleId sourceId value relationshipGroup typeId"
                " characteristicTypeId modifierId",
    "language": "id effectiveTime active moduleId refsetId referencedComponentId acceptabilityId",
    "association": "id effectiveTime active moduleId refsetId referencedComponentId targetComponentId",
    "simple": "id effectiveTime active moduleId refsetId referencedComponentId",
    "moduledep": "id effectiveTime active moduleId refsetId referencedComponentId sourceEffectiveTime"
                 " targetEffectiveTime",
}

PATTERNS = {
    "concept": re.compile(r"^[xz]?sct2_Concept_Snapshot[-_]"),
    "description": re.compile(r"^[xz]?sct2_Description_Snapshot[-_]"),
    "textdef": re.compile(r"^[xz]?sct2_TextDefinition_Snapshot[-_]"),
    "relationship": re.compile(r"^[xz]?sct2_Relationship_Snapshot[-_]"),
    "concrete": re.compile(r"^[xz]?sct2_RelationshipConcreteValues_Snapshot[-_]"),
    "language": re.compile(r"^[xz]?der2_cRefset_LanguageSnapshot[-_]"),
    "association": re.compile(r"^[xz]?der2_cRefset_Association(Reference)?Snapshot[-_]"),
    "simple": re.compile(r"^[xz]?der2_Refset_SimpleSnapshot[-_]"),
    "moduledep": re.compile(r"^[xz]?der2_ssRefset_ModuleDependencySnapshot[-_]"),
}
REQUIRED = ("concept", "description", "relationship")

COPYRIGHT = ("This content from SNOMED CT, which is copyright (c) 2002+ International Health "
             "Terminology Standards Development Organisation (SNOMED International), is used "
             "under licence. Implementers of these specifications must have the appropriate "
             "SNOMED CT Affiliate license.")


def rf2_lines(f, label: str):
    """(line_number, line without its end) of an open RF2 file after its header line. Every line of an RF2
    file ends with CR LF, the last one too: a last line without its end is a file cut short."""
    for lineno, line in bounded_lines(f, label, 2):
        if not line.endswith("\n"):
            raise BuildError(f"{label}: line {lineno}: the file ends in the middle of this line (RF2 ends every"
                             " line with CR LF): a truncated file? download the release again")
        yield lineno, line.rstrip("\r\n")


def rf2_rows(release: Release, name: str, kind: str):
    """Yield (line_number, fields) of an RF2 file after checking its header."""
    label = release.label(name)
    header = HEADERS[kind].split(" ")
    n = len(header)
    with release.reading(name) as f:
        check_header(label, kind, f.readline(max_line_chars() + 1))
        for lineno, line in rf2_lines(f, label):
            if not line:
                continue
            fields = line.split("\t")
            if len(fields) != n:
                raise BuildError(f"{label}: line {lineno}: expected {n} tab-separated columns,"
                                 f" found {len(fields)}")
            if fields[2] not in ("1", "0"):
                raise BuildError(f"{label}: line {lineno}: active must be 0 or 1, not {fields[2]!r}")
            yield lineno, fields


def check_header(label: str, kind: str, first_line: str):
    first = first_line.rstrip("\r\n").split("\t")
    if first != HEADERS[kind].split(" "):
        raise BuildError(f"{label}: line 1: " + (f"unexpected header {first!r}" if first_line else "empty file")
                         + f"; expected {HEADERS[kind].replace(' ', '<TAB>')}")


def what_else(release: Release) -> str:
    """What a package without a Snapshot concept file holds instead (for the message), or ''."""
    other = sorted({m.group(1) for n in release.names
                    if (m := re.match(r"^[xz]?sct2_Concept_(Full|Delta)[-_]", n.rsplit("/", 1)[-1]))})
    if other:
        return (f": it holds {' and '.join(other)} files only; termsvc loads the Snapshot"
                " (the release package's Snapshot folder)")
    zips = [n for n in release.names if n.lower().endswith(".zip")]
    if zips:
        return f": it holds the zip file(s) {', '.join(zips[:3])}; give the release zip itself"
    return ""


def _bad(release, name, lineno, e):
    return BuildError(f"{release.label(name)}: line {lineno}: {e}")


# -- packages ----------------------------------------------------------------------
class Package:
    def __init__(self, location: str):
        self.location = location
        self.release = Release(location)
        self.files = {k: self.release.find(p) for k, p in PATTERNS.items()}
        for k in REQUIRED:
            if not self.files[k]:
                what = {"concept": "sct2_Concept_Snapshot_*.txt",
                        "description": "sct2_Description_Snapshot*.txt",
                        "relationship": "sct2_Relationship_Snapshot_*.txt"}[k]
                raise BuildError(f"{location}: required RF2 file {what} not found{what_else(self.release)}")
        for kind, names in self.files.items():   # (a wrong file is named before anything is read from it)
            for name in names:
                with self.release.reading(name) as f:
                    check_header(self.release.label(name), kind, f.readline(max_line_chars() + 1))
        cfile = self.files["concept"][0]
        m = re.search(r"_([A-Za-z0-9]+)_(\d{8})\.txt$", cfile)
        self.tag, self.date = (m.group(1), m.group(2)) if m else ("INT", "00000000")
        self.has_root = self._has_root()
        self.module = self._edition_module()

    def _has_root(self) -> bool:
        for name in self.files["concept"]:
            with self.release.reading(name) as f:
                for _lineno, line in rf2_lines(f, self.release.label(name)):
                    if line.startswith(ROOT + "\t"):
                        return True
        return False

    def _edition_module(self) -> str:
        """The package's own module: the module no other module of the package depends on. Sets
        `depends`: the modules it depends on -> the version (effective time) it depends on."""
        sources, targets = set(), set()
        dependencies = []
        for name in self.files["moduledep"]:
            for _ln, r in rf2_rows(self.release, name, "moduledep"):
                if r[2] == "1":
                    sources.add(r[3])
                    targets.add(r[5])
                    dependencies.append((r[3], r[5], r[7]))
        self.depends = {target: when for source, target, when in dependencies if source in sources - targets}
        leaves = sorted(sources - targets - {MODEL_MODULE})
        if leaves:
            if CORE_MODULE in leaves and len(leaves) > 1:
                leaves.remove(CORE_MODULE)
            return leaves[0]
        if self.has_root and self.tag == "INT":
            return CORE_MODULE
        counts: defaultdict[str, int] = defaultdict(int)
        for name in self.files["concept"]:
            for _ln, r in rf2_rows(self.release, name, "concept"):
                counts[r[3]] += 1
        counts.pop(MODEL_MODULE, None)
        if not self.has_root:
            counts.pop(CORE_MODULE, None)
        return max(counts, key=counts.__getitem__) if counts else CORE_MODULE

    def ids(self, kind: str) -> set:
        out = set()
        for name in self.files[kind]:
            for _ln, r in rf2_rows(self.release, name, kind):
                out.add(r[0])
        return out


def _locations(location) -> list[str]:
    if location is None:
        raise BuildError("snomed: no release folder or zip given")
    if isinstance(location, (list, tuple)):
        return [str(x) for x in location]
    location = str(location)
    if not os.path.exists(location) and os.pathsep in location:
        return [p for p in location.split(os.pathsep) if p]
    return [location]


# -- the load ------------------------------------------------------------------------
def load(writer, location, progress=None, *, state: BuildState, **options):
    progress = progress or (lambda msg: None)
    loaded = state.snomed_packages
    for loc in _locations(location):
        pkg = Package(loc)
        if pkg.has_root:
            stack = [pkg]
        else:
            base = [p for p in loaded if p.has_root]
            if not base:
                raise BuildError(f"{loc}: SNOMED CT extension package (no root concept {ROOT}) given"
                                 " without the International edition it depends on; list the"
                                 " International edition first")
            # the last edition that has the root, plus the extensions loaded on top of it since
            start = max(i for i, p in enumerate(loaded) if p.has_root)
            stack = loaded[start:] + [pkg]
            for note in _version_mismatches(pkg, stack[:-1]):
                progress(f"  warning: {note}")
                state.notes.append(note)
        progress(f"  SNOMED CT {pkg.tag} {pkg.date} module {pkg.module}"
                 + (f" on top of {len(stack) - 1} package(s)" if len(stack) > 1 else ""))
        for note in load_edition(writer, stack, progress):
            progress(f"  warning: {note}")
            state.notes.append(note)
        loaded.append(pkg)


def _version_mismatches(pkg: Package, base: list[Package]) -> list[str]:
    """What an extension depends on (its module dependency refset) that the packages it is loaded on
    give in another version."""
    return [f"{pkg.location}: the extension (module {pkg.module}) depends on module {p.module} as of"
            f" {pkg.depends[p.module]}, loaded here as of {p.date} ({p.location}): concepts it refers to may be"
            " missing or changed; load the release it was made for" for p in base
            if p.module in pkg.depends and pkg.depends[p.module] != p.date]


def load_edition(writer, stack: list[Package], progress) -> list[str]:
    """One CodeSystem from the union of the packages in `stack` (last one wins); the warnings of the load."""
    top = stack[-1]
    version = f"{SCT}/{top.module}/version/{top.date}"
    sid = writer.add_source(f"SNOMED CT {top.tag} {top.date}", "snomed", version, top.location,
                            content_sha256(top.location, (".txt",)))
    counts = Counts()

    # ids appearing in later packages replace those of earlier ones
    def skip_sets(kind):
        sets = []
        later = set()
        for p in reversed(stack):
            sets.append(later)
            if p is not stack[0]:
                later = later | p.ids(kind)
        return list(reversed(sets))

    def each(kind):
        skips = skip_sets(kind) if len(stack) > 1 else [set()]
        for p, skip in zip(stack, skips):
            for name in p.files[kind]:
                for lineno, r in rf2_rows(p.release, name, kind):
                    if skip and r[0] in skip:
                        continue
                    yield p, name, lineno, r

    # 1. concepts: sctid -> (active, module, definitionStatus); an id twice in one package is refused
    concepts: dict[str, tuple] = {}
    first_seen: dict[str, tuple] = {}     # sctid -> (package, file, line) that defines it
    for p, name, lineno, r in each("concept"):
        if not (r[0].isascii() and r[0].isdigit()):
            raise _bad(p.release, name, lineno, f"concept id {r[0]!r} is not an SCTID (digits only)")
        seen = first_seen.get(r[0])
        if seen is not None and seen[0] is p:
            raise _bad(p.release, name, lineno, f"duplicate concept id {r[0]} (first at"
                                                f" {p.release.label(seen[1])} line {seen[2]})")
        first_seen[r[0]] = (p, name, lineno)
        concepts[r[0]] = (r[2] == "1", r[3], r[4])
    del first_seen
    progress(f"  {len(concepts)} concepts read")

    # 2. descriptions and language refsets, staged in temporary tables
    with SnomedStaging(writer) as staging:
        orphans = _stage_descriptions(staging, each, counts, concepts)
        progress(f"  {counts['descriptions']} descriptions, {counts['language members']}"
                 " language refset members staged")
        cs_id = _insert_concepts(writer, staging, sid, version, top, concepts, counts)
        progress("  concepts and designations written")
        del concepts
        cid = staging.concept_ids()
        _relationships(writer, each, cid, counts)
        progress(f"  {counts['edges']} is-a edges, {counts['attribute properties']} attribute properties")
        _refsets(writer, staging, each, cs_id, cid, counts)
        _concept_maps(writer, each, sid, version, cid, counts)
        writer.declare_properties(cs_id, [{"code": t, "uri": f"http://snomed.info/id/{t}", "type": typ}
                                          for t, typ in sorted(counts.attr_types.items(), key=lambda x: int(x[0]))])
        writer.end_code_system(cs_id)
    writer.finish_source(sid, dict(counts))
    return [_orphans_note(top, orphans)] if orphans else []


def _orphans_note(top: Package, orphans: dict[str, int]) -> str:
    """The descriptions left out for want of their concept (an extension loaded without the edition that
    defines its concepts, a truncated Concept file): how many, and the first few concepts they name."""
    named = ", ".join(list(orphans)[:5]) + (", ..." if len(orphans) > 5 else "")
    return (f"{top.location}: {sum(orphans.values())} description(s) of {len(orphans)} concept(s) no loaded"
            f" edition defines were left out (concepts {named}); load the packages that define them")


class Counts(defaultdict):
    def __init__(self):
        super().__init__(int)
        self.attr_types: dict[str, str] = {}


def _stage_descriptions(staging, each, counts, concepts) -> dict[str, int]:
    """Stage the descriptions and language refset members; {concept id: descriptions} of the descriptions
    whose concept no package defines (they cannot be written: said, not dropped silently)."""
    orphans: dict[str, int] = {}
    with staging.descriptions(counts, "descriptions") as batch:
        for kind in ("description", "textdef"):
            for p, name, lineno, r in each(kind):
                if r[4] not in concepts:
                    orphans[r[4]] = orphans.get(r[4], 0) + 1
                try:
                    batch.add((int(r[0]), int(r[4]), r[5], int(r[6]), r[7], 1 if r[2] == "1" else 0))
                except ValueError as e:
                    raise _bad(p.release, name, lineno, e) from None
    refsets = set()
    with staging.language_members(counts, "language members") as batch:
        for p, name, lineno, r in each("language"):
            if r[2] != "1":
                continue
            try:
                batch.add((int(r[4]), int(r[5]), int(r[6])))
            except ValueError as e:
                raise _bad(p.release, name, lineno, e) from None
            refsets.add(int(r[4]))
    order = {EN_US: 0, EN_GB: 1}
    staging.index([(r, LANGUAGE_REFSETS.get(r), order.get(r, 2)) for r in refsets])
    return orphans


_TAG_RE = re.compile(r"\s*\([^()]*\)\s*$")


def _insert_concepts(writer, staging, sid, version, top, concepts, counts):
    displays = {}
    for concept, term, typ, _rank in staging.best_terms(RANKING_IDS):
        displays[str(concept)] = _TAG_RE.sub("", term) if typ == FSN else term
    definitions = {str(concept): term for concept, term, _rank in staging.best_definitions(RANKING_IDS)}

    edition = "International Edition" if top.tag == "INT" else f"edition module {top.module}"
    cs = {
        "resourceType": "CodeSystem",
        "id": f"sct-{top.module}-{top.date}",
        "url": SCT,
        "version": version,
        "name": "SNOMED_CT",
        "title": f"SNOMED CT ({edition})",
        "status": "active",
        "experimental": False,
        "date": f"{top.date[:4]}-{top.date[4:6]}-{top.date[6:]}",
        "publisher": "SNOMED International",
        "copyright": COPYRIGHT,
        "caseSensitive": True,
        "valueSet": f"{SCT}?fhir_vs",
        "hierarchyMeaning": "is-a",
        "compositional": True,
        "versionNeeded": False,
        "content": "complete",
        "filter": [
            {"code": "concept", "description": "Filter that includes concepts based on their logical definition",
             "operator": ["is-a", "descendent-of", "is-not-a", "in", "="], "value": "A SNOMED CT code"},
            {"code": "constraint", "description": "Filter that includes concepts matching an ECL expression",
             "operator": ["="], "value": "A SNOMED CT ECL expression (subset)"},
        ],
        "property": [
            {"code": "inactive", "uri": "http://hl7.org/fhir/concept-properties#inactive", "type": "boolean"},
            {"code": "sufficientlyDefined", "uri": "http://snomed.info/field/Concept.definitionStatusId",
             "type": "boolean", "description": "True if the concept is sufficiently defined"},
            {"code": "moduleId", "uri": "http://snomed.info/field/Concept.moduleId", "type": "code"},
            {"code": "parent", "uri": "http://hl7.org/fhir/concept-properties#parent", "type": "code"},
            {"code": "child", "uri": "http://hl7.org/fhir/concept-properties#child", "type": "code"},
        ],
    }
    cs_id = writer.begin_code_system(cs, sid)

    def rows():
        for code, (active, _m, _d) in concepts.items():
            yield (code, displays.get(code), definitions.get(code),
                   "active" if active else "inactive", not active, False)

    codes = list(concepts)
    ids = writer.insert_concepts(cs_id, rows())
    staging.map_concepts(zip(map(int, codes), ids))

    # per-concept properties: moduleId, sufficientlyDefined
    with Batched(writer.insert_properties) as batch:
        for code, cid in zip(codes, ids):
            _a, module, defst = concepts[code]
            batch.add((cid, "moduleId", "code", module))
            batch.add((cid, "sufficientlyDefined", "boolean", "true" if defst == DEFINED else "false"))
    del codes, ids
    counts["designations"] = staging.write_designations(SCT, RANKING_IDS, TYPE_DISPLAY)
    return cs_id


def _concrete(value: str):
    if value.startswith("#"):
        v = value[1:]
        return ("decimal" if ("." in v or "e" in v.lower()) else "integer"), v
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return "string", value[1:-1]
    return "string", value


def _defined(cid: dict, p, name, lineno, r, columns: tuple) -> list:
    """The store ids of the concepts a relationship row names (sourceId, destinationId, typeId...);
    a concept that none of the editions loaded together defines is refused, naming file and line."""
    out = []
    for column in columns:
        try:
            c = cid.get(int(r[column]))
        except ValueError as e:
            raise _bad(p.release, name, lineno, e) from None
        if c is None:
            field = HEADERS["relationship"].split(" ")[column]
            raise _bad(p.release, name, lineno, f"relationship {r[0]}: {field} {r[column]} is not a concept of"
                                                f" this release or of the editions it is loaded with")
        out.append(c)
    return out


def _relationships(writer, each, cid, counts):
    inferred = str(INFERRED)
    is_a = str(IS_A)
    edges = Batched(writer.insert_edges, counts, "edges")
    props = Batched(writer.insert_properties, counts, "attribute properties")
    for p, name, lineno, r in each("relationship"):
        src, dst, _typ = _defined(cid, p, name, lineno, r, (4, 5, 7))
        if r[2] != "1" or r[8] != inferred:
            continue
        if r[7] == is_a:
            edges.add((dst, src))
        else:
            counts.attr_types.setdefault(r[7], "code")
            props.add((src, r[7], "code", r[5]))
    for p, name, lineno, r in each("concrete"):
        src, _typ = _defined(cid, p, name, lineno, r, (4, 7))
        if r[2] != "1" or r[8] != inferred:
            continue
        typ, value = _concrete(r[5])
        counts.attr_types.setdefault(r[7], typ)
        props.add((src, r[7], typ, value))
    edges.flush()
    props.flush()


def _refsets(writer, staging, each, cs_id, cid, counts):
    with Batched(writer.insert_refset_members, counts, "refset members") as batch:
        for kind in ("simple", "association"):
            for p, name, lineno, r in each(kind):
                if r[2] != "1":
                    continue
                try:
                    c = cid.get(int(r[5]))
                except ValueError as e:
                    raise _bad(p.release, name, lineno, e) from None
                if c is not None:
                    batch.add((r[4], cs_id, c))
    counts["language refset concept members"] = staging.write_language_refset_members(cs_id)


def _concept_maps(writer, each, sid, version, cid, counts):
    maps: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for _p, _name, _lineno, r in each("association"):
        if r[2] != "1":
            continue
        maps[r[4]][r[5]].append(r[6])
    for refset, elements in sorted(maps.items()):
        name, relationship = ASSOCIATIONS.get(refset, (f"association {refset}", "related-to"))
        cm = {
            "resourceType": "ConceptMap",
            "id": f"sct-{refset}-{version.rsplit('/', 3)[-3]}-{version.rsplit('/', 1)[-1]}",
            "url": f"{SCT}?fhir_cm={refset}",
            "version": version,
            "name": "SNOMED_CT_" + re.sub(r"\W+", "_", name.title()).strip("_"),
            "title": f"SNOMED CT {name} historical association",
            "status": "active",
            "experimental": False,
            "publisher": "SNOMED International",
            "copyright": COPYRIGHT,
            "sourceScopeUri": f"{SCT}?fhir_vs",
            "targetScopeUri": f"{SCT}?fhir_vs",
            "group": [{
                "source": f"{SCT}|{version}",
                "target": f"{SCT}|{version}",
                "element": [{"code": src, "target": [{"code": t, "relationship": relationship}
                                                     for t in targets]}
                            for src, targets in elements.items()],
            }],
        }
        writer.add_resource(cm, sid)
        counts["association entries"] += sum(len(t) for t in elements.values())
