"""DICOM terminology from pydicom's SR dictionaries (DICOM PS3.16).

- the DCM code system `http://dicom.nema.org/resources/ontology/DCM`, complete:
  every DCM code pydicom knows, its code meaning as display;
- one ValueSet per context group (CID), at the canonical FHIR R5 core uses,
  `http://dicom.nema.org/medical/dicom/current/output/chtml/part16/sect_CID_<n>.html`,
  with the members enumerated per coding scheme;
- the codes of the other coding schemes pydicom holds (SNOMED CT, LOINC, UCUM,
  MDC, ...) as `fragment` CodeSystems under their FHIR system URIs: only the codes
  DICOM uses, with the DICOM code meanings as displays. A fragment cannot say a
  code is invalid, and a licensed release (SNOMED CT, LOINC) loaded later takes over.

pydicom's layout: `concepts[scheme][keyword] = {code: (meaning, [cids])}` and
`cid_concepts[cid][scheme] = [keyword, ...]`; a keyword's code is a member of a
CID when the CID is in its list.
"""
import hashlib
from collections import defaultdict

import orjson

from termsvc.fhir.dicom import CID_URL

DCM = "http://dicom.nema.org/resources/ontology/DCM"

# DICOM coding scheme designator -> FHIR system URI: the preferred `uri` of the HL7
# NamingSystems (THO / FHIR core) where one exists, DICOM PS3.16 Table 8-1 otherwise.
SCHEME_SYSTEMS = {
    "DCM": DCM,
    "SCT": "http://snomed.info/sct",
    "SRT": "http://snomed.info/sct",
    "LN": "http://loinc.org",
    "UCUM": "http://unitsofmeasure.org",
    "FMA": "http://purl.org/sig/ont/fma",
    "MDC": "urn:iso:std:iso:11073:10101",
    "RADLEX": "http://radlex.org",                                   # THO NamingSystem RadLex
    "UMLS": "http://terminology.hl7.org/CodeSystem/umls",            # THO NamingSystem umls
    "NCIt": "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl",    # THO v3-nciThesaurus (preferred)
    "I10": "http://hl7.org/fhir/sid/icd-10",
    "RXNORM": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "NDC": "http://hl7.org/fhir/sid/ndc",
    "MSH": "https://www.nlm.nih.gov/mesh",                           # THO NamingSystem MeSH (preferred)
}

# Pre-coordinated names of the schemes, for the fragment CodeSystems' titles.
SCHEME_TITLES = {
    "SCT": "SNOMED CT", "LN": "LOINC", "UCUM": "UCUM", "FMA": "Foundational Model of Anatomy",
    "MDC": "ISO/IEEE 11073 Medical Device Communications Nomenclature", "RADLEX": "RadLex",
    "UMLS": "UMLS", "NCIt": "NCI Thesaurus", "I10": "ICD-10", "RXNORM": "RxNorm",
    "NDC": "National Drug Code", "MSH": "MeSH", "IBSI": "Image Biomarker Standardisation Initiative",
    "NEU": "NeuroNames", "BARI": "Bypass Angioplasty Revascularization Investigation",
    "ITIS_TSN": "ITIS Taxonomic Serial Number", "PUBCHEM_CID": "PubChem Compound ID",
}


def system_for(scheme: str) -> str:
    return SCHEME_SYSTEMS.get(scheme) or f"urn:dicom:scheme:{scheme}"


def pydicom_dicts():
    """pydicom's PS3.16 dictionaries (its `sr` modules), its version and the DICOM release they come from
    (imported when a build loads DICOM: the other commands start without pydicom)."""
    import pydicom
    from pydicom.sr._cid_dict import cid_concepts, name_for_cid
    from pydicom.sr._concepts_dict import concepts
    return concepts, cid_concepts, name_for_cid, pydicom.__version__, pydicom.__dicom_version__


def code_tables(concepts) -> dict:
    """scheme -> {code: (display, other meanings)}; the display is the meaning of the keyword
    used by the most context groups (then the first keyword in sorted order)."""
    out = {}
    for scheme, by_kw in concepts.items():
        options = defaultdict(list)  # code -> [(−n cids, keyword, meaning)]
        for kw, codes in by_kw.items():
            for code, (meaning, cids) in codes.items():
                if code.strip():  # pydicom has a LOINC row with an empty code
                    options[code].append((-len(cids), kw, meaning))
        table = {}
        for code, opts in options.items():
            opts.sort()
            display = opts[0][2]
            others = sorted({m for _n, _k, m in opts if m != display})
            table[code] = (display, others)
        out[scheme] = table
    return out


def _concept(code, display, others):
    c = {"code": code, "display": display}
    if others:
        c["designation"] = [{"use": {"system": "http://terminology.hl7.org/CodeSystem/designation-usage",
                                     "code": "display"}, "value": m} for m in others]
    return c


def build_resources(concepts, cid_concepts, name_for_cid, pydicom_version: str,
                    dicom_version: str | None) -> tuple[list[dict], list[dict]]:
    """(code systems, value sets) as FHIR R5 JSON."""
    tables = code_tables(concepts)
    std = dicom_version or f"pydicom-{pydicom_version}"
    code_systems = []
    for scheme in sorted(tables):
        table = tables[scheme]
        if scheme == "DCM":
            cs = {
                "resourceType": "CodeSystem", "id": "dicom-dcm", "url": DCM, "version": std,
                "name": "DICOMControlledTerminology", "title": "DICOM Controlled Terminology",
                "status": "active", "experimental": False, "publisher": "NEMA (DICOM)",
                "description": f"DICOM PS3.16 Controlled Terminology (DCM) as shipped with pydicom "
                               f"{pydicom_version} (DICOM {std}).",
                "caseSensitive": True, "content": "complete",
            }
        else:
            title = SCHEME_TITLES.get(scheme, scheme)
            cs = {
                "resourceType": "CodeSystem", "id": f"dicom-fragment-{scheme.lower().replace('_', '-')}",
                "url": system_for(scheme), "version": f"dicom-{std}-fragment",
                "name": f"DICOMFragment{''.join(p.title() for p in scheme.split('_'))}",
                "title": f"{title} codes used by DICOM (fragment)",
                "status": "active", "experimental": False,
                "description": f"The {len(table)} {title} codes (DICOM scheme {scheme}) that DICOM PS3.16 "
                               f"{std} uses, with the DICOM code meanings as displays, from pydicom "
                               f"{pydicom_version}. A fragment: not the code system itself.",
                "caseSensitive": True, "content": "fragment",
            }
        cs["count"] = len(table)
        cs["concept"] = [_concept(code, d, others) for code, (d, others) in sorted(table.items())]
        code_systems.append(cs)

    value_sets = []
    for cid in sorted(cid_concepts):
        includes = []
        for scheme in sorted(cid_concepts[cid]):
            members = []
            seen = set()
            for kw in cid_concepts[cid][scheme]:
                for code, (meaning, cids) in (concepts.get(scheme, {}).get(kw) or {}).items():
                    if cid in cids and code.strip() and code not in seen:
                        seen.add(code)
                        members.append({"code": code, "display": meaning})
            if members:
                members.sort(key=lambda c: c["code"])
                includes.append({"system": system_for(scheme), "concept": members})
        name = name_for_cid.get(cid, f"CID{cid}")
        vs = {
            "resourceType": "ValueSet", "id": f"dicom-cid-{cid}", "url": CID_URL.format(cid),
            "version": std, "name": name, "title": f"CID {cid} {name}", "status": "active",
            "experimental": False, "publisher": "NEMA (DICOM)",
            "description": f"DICOM PS3.16 context group CID {cid} ({name}), {std}, from pydicom {pydicom_version}.",
        }
        if includes:
            vs["compose"] = {"include": includes}
        else:  # compose.include is 1..*: a group pydicom has no members for gets no compose
            vs["description"] += " pydicom lists no members for this group."
        value_sets.append(vs)
    return code_systems, value_sets


def load(writer, location, progress, **_opts):
    concepts, cid_concepts, name_for_cid, pv, dv = pydicom_dicts()
    code_systems, value_sets = build_resources(concepts, cid_concepts, name_for_cid, pv, dv)
    h = hashlib.sha256()  # of the content generated: changes exactly when the content does
    for r in code_systems + value_sets:
        h.update(orjson.dumps(r, option=orjson.OPT_SORT_KEYS))
    sid = writer.add_source("dicom", "dicom", dv or pv, f"pydicom {pv}", h.hexdigest())
    for r in code_systems + value_sets:
        writer.add_resource(r, sid, "R5")
    counts = writer.finish_source(sid, {"pydicom": pv, "schemes": len(code_systems)})
    progress(f"  dicom (pydicom {pv}, DICOM {dv}): CodeSystem {counts.get('CodeSystem', 0)},"
             f" ValueSet {counts.get('ValueSet', 0)}, concepts {counts.get('concepts', 0)}")
    return counts
