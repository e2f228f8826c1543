"""LOINC release loader (folder or zip of Loinc_<version>; one wrapping folder tolerated).

`load(writer, location, progress, loinc_version=None)`. Layout: shared/formats/loinc.md.

- CodeSystem http://loinc.org, version from the `loinc_version` option, else loinc.xml,
  else a `Loinc_2.80`-style folder/zip name; caseSensitive false, hierarchyMeaning is-a.
- Terms (LoincTable/Loinc.csv): display LONG_COMMON_NAME (fallback SHORTNAME, CONSUMER_NAME),
  STATUS=DEPRECATED -> inactive; designations (use = http://loinc.org|<column>, language en-US):
  LONG_COMMON_NAME, SHORTNAME, DisplayName, CONSUMER_NAME, RELATEDNAMES2 (split on ';');
  properties (type string): the Loinc.csv columns in TERM_PROPERTIES when non-empty.
- Parts (Part.csv): LP concepts, display PartDisplayName/PartName, property PartTypeName.
- Primary part links (LoincPartLink_Primary.csv): Coding properties `<AXIS>-part`
  (e.g. COMPONENT-part = http://loinc.org|LP...) next to the axis strings.
- Answer lists (AnswerList.csv): LL and LA concepts; one ValueSet http://loinc.org/vs/<LL>
  per list with its answers in SequenceNumber order; LoincAnswerListLink.csv gives the term
  property `answer-list` (Coding).
- Hierarchy (ComponentHierarchyBySystem.csv, or MultiAxialHierarchy.csv): edges
  IMMEDIATE_PARENT -> CODE; nodes not otherwise known become concepts (display CODE_TEXT).
- Linguistic variants: designations language <ll>-<CC> valued LONG_COMMON_NAME
  (use http://loinc.org|LONG_COMMON_NAME).
- Radiology playbook: ValueSet http://loinc.org/vs/loinc-rsna-radiology-playbook and
  `rad-*` Coding properties on the terms.
"""
import csv
import re
from collections import defaultdict

from termsvc.loaders.release import Release, bounded_lines
from termsvc.loaders.fhir_json import content_sha256
from termsvc.loaders.protocol import BuildError
from termsvc.store.writer import Batched

LOINC = "http://loinc.org"
COPYRIGHT = ("This material contains content from LOINC (http://loinc.org). LOINC is copyright "
             "(c) 1995-2025, Regenstrief Institute, Inc. and the Logical Observation Identifiers "
             "Names and Codes (LOINC) Committee and is available at no cost under the license at "
             "http://loinc.org/license. LOINC(R) is a registered United States trademark of "
             "Regenstrief Institute, Inc.")

TERM_PROPERTIES = ["COMPONENT", "PROPERTY", "TIME_ASPCT", "SYSTEM", "SCALE_TYP", "METHOD_TYP",
                   "CLASS", "CLASSTYPE", "STATUS", "ORDER_OBS", "VersionFirstReleased",
                   "VersionLastChanged", "CHNG_TYPE", "EXAMPLE_UNITS", "EXAMPLE_UCUM_UNITS",
                   "UNITSREQUIRED", "PanelType", "STATUS_REASON", "STATUS_TEXT", "FORMULA",
                   "EXTERNAL_COPYRIGHT_NOTICE", "COMMON_TEST_RANK", "COMMON_ORDER_RANK",
                   "HL7_ATTACHMENT_STRUCTURE", "ValidHL7AttachmentRequest", "AskAtOrderEntry",
                   "AssociatedObservations"]
DESIGNATION_COLUMNS = ["LONG_COMMON_NAME", "SHORTNAME", "DisplayName", "CONSUMER_NAME"]
AXIS_PROPERTY = {"COMPONENT": "COMPONENT", "PROPERTY": "PROPERTY", "TIME": "TIME_ASPCT",
                 "SYSTEM": "SYSTEM", "SCALE": "SCALE_TYP", "METHOD": "METHOD_TYP"}

FILES = {
    "loinc": "LoincTable/Loinc.csv",
    "part": "AccessoryFiles/PartFile/Part.csv",
    "partlink": "AccessoryFiles/PartFile/LoincPartLink_Primary.csv",
    "answerlist": "AccessoryFiles/AnswerFile/AnswerList.csv",
    "answerlink": "AccessoryFiles/AnswerFile/LoincAnswerListLink.csv",
    "hierarchy": "AccessoryFiles/ComponentHierarchyBySystem/ComponentHierarchyBySystem.csv",
    "multiaxial": "AccessoryFiles/MultiAxialHierarchy/MultiAxialHierarchy.csv",
    "variants": "AccessoryFiles/LinguisticVariants/LinguisticVariants.csv",
    "playbook": "AccessoryFiles/LoincRsnaRadiologyPlaybook/LoincRsnaRadiologyPlaybook.csv",
    "mapto": "LoincTable/MapTo.csv",
}
REQUIRED_COLUMNS = {
    "loinc": ["LOINC_NUM", "LONG_COMMON_NAME", "SHORTNAME", "STATUS"],
    "part": ["PartNumber", "PartTypeName", "PartName"],
    "partlink": ["LoincNumber", "PartNumber", "PartTypeName"],
    "answerlist": ["AnswerListId", "AnswerListName", "AnswerStringId", "SequenceNumber", "DisplayText"],
    "answerlink": ["LoincNumber", "AnswerListId"],
    "hierarchy": ["PATH_TO_ROOT", "SEQUENCE", "IMMEDIATE_PARENT", "CODE", "CODE_TEXT"],
    "multiaxial": ["PATH_TO_ROOT", "SEQUENCE", "IMMEDIATE_PARENT", "CODE", "CODE_TEXT"],
    "variants": ["ID", "ISO_LANGUAGE", "ISO_COUNTRY"],
    "playbook": ["LoincNumber", "PartNumber", "PartTypeName"],
    "variant": ["LOINC_NUM", "LONG_COMMON_NAME"],
    "mapto": ["LOINC", "MAP_TO"],
}
MAPTO_URL = "http://loinc.org/cm/mapto"  # our canonical for LoincTable/MapTo.csv (LOINC publishes none)
BATCH = 5_000


class LoincRelease:
    def __init__(self, location: str):
        self.release = Release(location)
        self.paths: dict[str, str | None] = {}
        for key, suffix in FILES.items():
            found = self.release.find_suffix(suffix)
            # prefer the shallowest match (the real LoincTable over deeper copies)
            found.sort(key=lambda n: n.count("/"))
            self.paths[key] = found[0] if found else None
        if not self.paths["loinc"]:
            raise BuildError(f"{location}: LoincTable/Loinc.csv not found (not a LOINC release?)")
        loinc_path = self.paths["loinc"]
        self.prefix = loinc_path[: -len(FILES["loinc"])]  # '' or 'Loinc_2.80/'

    def rows(self, key: str, name: str | None = None):
        """Yield (line, dict) of a CSV file, checking its header has the columns needed."""
        name = name or self.paths[key]
        assert name, key   # (the callers ask only for the files the release has)
        label = self.release.label(name)
        with self.release.reading(name) as f:
            # (skipinitialspace: headers and cells padded with blanks after the commas still read)
            reader = csv.reader((line for _n, line in bounded_lines(f, label)), skipinitialspace=True)
            try:
                header = next(reader)
            except StopIteration:
                raise BuildError(f"{label}: line 1: empty file") from None
            except csv.Error as e:
                raise BuildError(f"{label}: line 1: {e}") from None
            header = [h.strip() for h in header]
            twice = sorted({h for h in header if h and header.count(h) > 1})
            if twice:
                raise BuildError(f"{label}: line 1: column(s) {', '.join(twice)} given twice")
            missing = [c for c in REQUIRED_COLUMNS[key] if c not in header]
            if missing:
                raise BuildError(f"{label}: line 1: header lacks column(s) {', '.join(missing)}")
            n = len(header)
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as e:
                    raise BuildError(f"{label}: line {reader.line_num}: {e}") from None
                if not row:
                    continue
                if len(row) != n:
                    raise BuildError(f"{label}: line {reader.line_num}: expected {n} fields,"
                                     f" found {len(row)}")
                yield reader.line_num, dict(zip(header, row))

    def version(self, option: str | None) -> str:
        if option:
            return str(option)
        xml = self.release.find_suffix("loinc.xml")
        if xml:
            # (read as Latin-1: any bytes decode, and the version digits are ASCII in every encoding it may have)
            with self.release.reading(sorted(xml, key=lambda n: n.count("/"))[0], encoding="latin-1") as f:
                text = re.sub(r"<\?xml[^>]*\?>", "", f.read(20000))
            m = re.search(r'version\s*=\s*"(\d+\.\d+)"', text) or \
                re.search(r"<version>\s*(\d+\.\d+)\s*</version>", text) or \
                re.search(r"\b(2\.\d\d)\b", text)
            if m:
                return m.group(1)
        for s in (self.prefix, self.release.location):
            m = re.search(r"Loinc_(\d+\.\d+)", s, re.IGNORECASE)
            if m:
                return m.group(1)
        raise BuildError(f"{self.release.location}: cannot tell the LOINC version (no loinc.xml, no"
                         " Loinc_<version> folder name); give it: termsvc build --loinc-version 2.NN")


def load(writer, location, progress=None, loinc_version=None, version=None, **_options):
    progress = progress or (lambda msg: None)
    if not location:
        raise BuildError("loinc: no release folder or zip given")
    rel = LoincRelease(str(location))
    try:
        _load(writer, rel, progress, loinc_version or version)
    finally:
        rel.release.close()


def _load(writer, rel: LoincRelease, progress, option_version):
    version = rel.version(option_version)
    sid = writer.add_source(f"LOINC {version}", "loinc", version, rel.release.location,
                            content_sha256(rel.release.location, (".csv", ".xml")))
    counts: defaultdict[str, int] = defaultdict(int)
    cs = {
        "resourceType": "CodeSystem", "id": "loinc", "url": LOINC, "version": version,
        "name": "LOINC", "title": "LOINC Code System", "status": "active", "experimental": False,
        "publisher": "Regenstrief Institute, Inc.", "copyright": COPYRIGHT,
        "caseSensitive": False, "valueSet": f"{LOINC}/vs", "hierarchyMeaning": "is-a",
        "compositional": False, "versionNeeded": False, "content": "complete",
        "filter": [{"code": "concept", "operator": ["is-a", "descendent-of", "is-not-a", "="],
                    "value": "A LOINC code"}]
                  + [{"code": p, "operator": ["=", "regex"], "value": "text"} for p in TERM_PROPERTIES[:10]],
        "property": [
            {"code": "parent", "uri": "http://hl7.org/fhir/concept-properties#parent", "type": "Coding"},
            {"code": "child", "uri": "http://hl7.org/fhir/concept-properties#child", "type": "Coding"},
            {"code": "inactive", "uri": "http://hl7.org/fhir/concept-properties#inactive", "type": "boolean"},
        ] + [{"code": p, "uri": f"{LOINC}/property/{p}", "type": "string"} for p in TERM_PROPERTIES]
          + [{"code": f"{p}-part", "uri": f"{LOINC}/property/{p}", "type": "Coding"}
             for p in AXIS_PROPERTY.values()]
          + [{"code": "PartTypeName", "type": "string"},
             {"code": "answer-list", "uri": f"{LOINC}/property/answer-list", "type": "Coding"}],
    }
    cs_id = writer.begin_code_system(cs, sid)
    ids: dict[str, int | None] = {}   # (None until its concept is inserted)

    # 1. terms, in chunks: concepts, then their designations and properties
    chunk: list[tuple[tuple, dict]] = []

    def flush():
        if not chunk:
            return
        new = writer.insert_concepts(cs_id, (c[0] for c in chunk))
        des, props = [], []
        for (row, r), cid in zip(chunk, new):
            ids[row[0]] = cid
            for col in DESIGNATION_COLUMNS:
                v = r.get(col)
                if v:
                    des.append((cid, "en-US", LOINC, col, col, v))
            for v in (r.get("RELATEDNAMES2") or "").split(";"):
                v = v.strip()
                if v:
                    des.append((cid, "en-US", LOINC, "RELATEDNAMES2", "RELATEDNAMES2", v))
            for col in TERM_PROPERTIES:
                v = r.get(col)
                if v:
                    props.append((cid, col, "string", v))
        writer.insert_designations(des)
        writer.insert_properties(props)
        counts["designations"] += len(des)
        counts["properties"] += len(props)
        chunk.clear()

    for _ln, r in rel.rows("loinc"):
        code = r["LOINC_NUM"].strip()
        if not code or code in ids:
            continue
        status = (r.get("STATUS") or "ACTIVE").strip().upper()
        display = r.get("LONG_COMMON_NAME") or r.get("SHORTNAME") or r.get("CONSUMER_NAME") or None
        chunk.append(((code, display, r.get("DefinitionDescription") or None, status,
                       status == "DEPRECATED", False), r))
        ids[code] = None
        if len(chunk) >= BATCH:
            flush()
    flush()
    counts["terms"] = len(ids)
    progress(f"  {len(ids)} LOINC terms")

    # 2. parts
    if rel.paths["part"]:
        rows, props = [], []
        for _ln, r in rel.rows("part"):
            code = r["PartNumber"].strip()
            if not code or code in ids:
                continue
            status = (r.get("Status") or "ACTIVE").strip().upper()
            rows.append((code, r.get("PartDisplayName") or r.get("PartName") or None, None, status,
                         status == "DEPRECATED", False))
            props.append(r.get("PartTypeName"))
            ids[code] = None
        new = writer.insert_concepts(cs_id, rows)
        for row, cid in zip(rows, new):
            ids[row[0]] = cid
        writer.insert_properties((cid, "PartTypeName", "string", t) for cid, t in zip(new, props) if t)
        counts["parts"] = len(rows)

    # 3. answer lists: LL and LA concepts, one ValueSet per list
    lists: dict[str, dict] = {}
    if rel.paths["answerlist"]:
        rows = []
        for _ln, r in rel.rows("answerlist"):
            ll = r["AnswerListId"].strip()
            if not ll:
                continue
            if ll not in lists:
                lists[ll] = {"name": r.get("AnswerListName") or ll, "oid": r.get("AnswerListOID"),
                             "answers": []}
                if ll not in ids:
                    rows.append((ll, r.get("AnswerListName") or None, None, "ACTIVE", False, False))
                    ids[ll] = None
            la = r["AnswerStringId"].strip()
            if la:
                try:
                    seq = float(r.get("SequenceNumber") or 0)
                except ValueError:
                    seq = 0
                lists[ll]["answers"].append((seq, la, r.get("DisplayText")))
                if la not in ids:
                    rows.append((la, r.get("DisplayText") or None, None, "ACTIVE", False, False))
                    ids[la] = None
        new = writer.insert_concepts(cs_id, rows)
        for row, cid in zip(rows, new):
            ids[row[0]] = cid
        counts["answer lists"] = len(lists)
        counts["answers"] = sum(1 for r in rows if r[0].startswith("LA"))

    # 4. hierarchy
    hkey = "hierarchy" if rel.paths["hierarchy"] else ("multiaxial" if rel.paths["multiaxial"] else None)
    if hkey:
        links, new_nodes = [], {}
        for _ln, r in rel.rows(hkey):
            code = r["CODE"].strip()
            parent = r["IMMEDIATE_PARENT"].strip()
            if code and code not in ids and code not in new_nodes:
                new_nodes[code] = r.get("CODE_TEXT") or None
            if parent and code:
                links.append((parent, code))
        rows = [(c, t, None, "ACTIVE", False, False) for c, t in new_nodes.items()]
        new = writer.insert_concepts(cs_id, rows)
        for row, cid in zip(rows, new):
            ids[row[0]] = cid
        seen = set()
        edges = []
        for p, c in links:
            pi, ci = ids.get(p), ids.get(c)
            if pi is None or ci is None or (pi, ci) in seen or pi == ci:
                continue
            seen.add((pi, ci))
            edges.append((pi, ci))
        writer.insert_edges(edges)
        counts["hierarchy nodes"] = len(rows)
        counts["edges"] = len(edges)
        del links, seen, edges

    # 5. primary part links and answer list links: Coding properties
    if rel.paths["partlink"]:
        with Batched(writer.insert_properties, counts, "part links") as part_links:
            for _ln, r in rel.rows("partlink"):
                cid = ids.get(r["LoincNumber"].strip())
                axis = AXIS_PROPERTY.get((r.get("PartTypeName") or "").strip())
                if cid and axis and r["PartNumber"]:
                    part_links.add((cid, f"{axis}-part", "Coding", f"{LOINC}|{r['PartNumber'].strip()}"))
    if rel.paths["answerlink"]:
        answer_lists = []
        for _ln, r in rel.rows("answerlink"):
            cid = ids.get(r["LoincNumber"].strip())
            if cid and r["AnswerListId"]:
                answer_lists.append((cid, "answer-list", "Coding", f"{LOINC}|{r['AnswerListId'].strip()}"))
        writer.insert_properties(answer_lists)

    # 6. linguistic variants
    if rel.paths["variants"]:
        folder = rel.paths["variants"].rsplit("/", 1)[0]
        for _ln, r in rel.rows("variants"):
            ll, cc, vid = r["ISO_LANGUAGE"].strip(), r["ISO_COUNTRY"].strip(), r["ID"].strip()
            name = f"{folder}/{ll}{cc}{vid}LinguisticVariant.csv"
            if name not in rel.release.names:
                continue
            lang = f"{ll}-{cc}" if cc else ll
            with Batched(writer.insert_designations, counts, f"designations {lang}") as des:
                for _ln2, v in rel.rows("variant", name):
                    cid = ids.get(v["LOINC_NUM"].strip())
                    text = (v.get("LONG_COMMON_NAME") or "").strip()
                    if cid and text:
                        des.add((cid, lang, LOINC, "LONG_COMMON_NAME", "LONG_COMMON_NAME", text))

    # 7. radiology playbook
    playbook = []
    if rel.paths["playbook"]:
        seen, props = set(), []
        for _ln, r in rel.rows("playbook"):
            code = r["LoincNumber"].strip()
            if code and code not in seen:
                seen.add(code)
                playbook.append(code)
            cid = ids.get(code)
            ptype = (r.get("PartTypeName") or "").strip()
            if cid and ptype and r["PartNumber"]:
                prop = "rad-" + re.sub(r"[^a-z0-9]+", "-", ptype.lower().removeprefix("rad.")).strip("-")
                props.append((cid, prop, "Coding", f"{LOINC}|{r['PartNumber'].strip()}"))
        writer.insert_properties(props)
        counts["playbook terms"] = len(playbook)

    writer.end_code_system(cs_id)

    # value sets
    def vs(url, vid, name, title, concepts):
        return {"resourceType": "ValueSet", "id": vid, "url": url, "version": version, "name": name,
                "title": title, "status": "active", "experimental": False,
                "publisher": "Regenstrief Institute, Inc.", "copyright": COPYRIGHT,
                "compose": {"include": [{"system": LOINC, "concept": concepts}]}}

    for ll, info in lists.items():
        answers = sorted(info["answers"], key=lambda a: a[0])
        res = vs(f"{LOINC}/vs/{ll}", ll, re.sub(r"\W+", "_", info["name"]).strip("_")[:200] or ll,
                 info["name"], [{"code": la, **({"display": d} if d else {})} for _s, la, d in answers])
        if info.get("oid"):
            res["identifier"] = [{"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{info['oid']}"}]
        writer.add_resource(res, sid)
    if playbook:
        writer.add_resource(vs(f"{LOINC}/vs/loinc-rsna-radiology-playbook", "loinc-rsna-radiology-playbook",
                               "LOINC_RSNA_Radiology_Playbook", "LOINC/RSNA Radiology Playbook",
                               [{"code": c} for c in playbook]), sid)
    # deprecated terms and their replacements (MapTo.csv): $translate for converters
    if rel.paths["mapto"]:
        elements: dict[str, list] = {}
        for _ln, r in rel.rows("mapto"):
            code, target = r["LOINC"].strip(), r["MAP_TO"].strip()
            if code and target:
                t = {"code": target, "relationship": "equivalent"}
                if (r.get("COMMENT") or "").strip():
                    t["comment"] = r["COMMENT"].strip()
                elements.setdefault(code, []).append(t)
        if elements:
            writer.add_resource({
                "resourceType": "ConceptMap", "id": "loinc-mapto", "url": MAPTO_URL, "version": version,
                "name": "LOINC_MapTo", "title": "LOINC deprecated terms to their replacements (MapTo)",
                "status": "active", "publisher": "Regenstrief Institute, Inc.", "copyright": COPYRIGHT,
                "group": [{"source": LOINC, "target": LOINC,
                           "element": [{"code": c, "target": ts} for c, ts in elements.items()]}]}, sid)
            counts["MapTo replacements"] = len(elements)
    writer.finish_source(sid, dict(counts))
