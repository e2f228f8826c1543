"""The EU codes for the local values of DICOM headers (`termsvc dicom-codes FILE|DIR...`).

Reads each file's header with pydicom (stopping before the pixel data, only the attributes
below), and for each local value:

- Modality, Body Part Examined, Laterality, Image Laterality (CS values: trimmed; DICOM
  defines them upper case and without blanks, so when a value has no answer as written it is
  tried upper case, then without blanks or punctuation, then without `and` (`chest` -> `CHEST`,
  `Whole Body` -> `WHOLEBODY`, `L-Spine` -> `LSPINE`, `Head & Neck` -> `HEADNECK`: `cs_spellings`),
  Study / Requested Procedure Description (text): translated through the loaded mapping
  tables that declare the attribute (`dicom_attributes` in the table's TOML, kept on the
  ConceptMap as the `dicom-attribute` extension); a Modality no table maps is passed through
  when it is a DCM code. A table whose rows hold under conditions on the header (its `depends_on`
  names Modality, Body Part Examined, Laterality or Image Laterality: `Laterality=L`) is asked with
  the file's values of those attributes as $translate's `dependency`, so a row of another laterality
  or modality is left out.
- Code sequences (Procedure Code Sequence, Requested Procedure Code Sequence, Anatomic Region
  Sequence, Performed Protocol Code Sequence; the requested ones also inside the Request
  Attributes Sequence): a code of a standard scheme (DCM, SCT, SRT converted to SCT, LN) is
  validated and passed through; a local one is translated through the tables that declare
  the attribute.

A code sequence's local code goes through the tables that declare its coding scheme designator
(`dicom_coding_schemes`), else through those that declare no scheme - never through a table of
another scheme.

Each value's status: `mapped` (a table translated it), `standard` (a valid standard code),
`unverified` (a standard code the server cannot judge: not in the fragment it holds, a Coding
Scheme Version it does not have), `invalid` (a standard scheme, but $validate-code says no: an
unknown code, an identifier its syntax rules out, a Code Meaning it rejects as the display), `unmapped` (a table declares the attribute, and does not map it) or `no-table` (no table
declares the attribute, or the coding scheme: listed, not a failure).
Output: JSON per file and per study (default), or `--fhir r5|r4`: an ImagingStudy per study
(a `collection` Bundle when there are several) with the study's start, its accession number and,
when asked, the IG's profile.
"""
import functools
import io
import os
import re
import unicodedata
import warnings
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from termsvc import settings
from termsvc.bindings.facts import BASES
from termsvc.client import CANNOT_JUDGE, INVALID, TerminologyError
from termsvc.files import NotRegularFile, open_regular
from termsvc.local_client import LocalClient
from termsvc.mappings.to_fhir import EXT_DICOM_ATTRIBUTE, EXT_DICOM_SCHEME

DCM = "http://dicom.nema.org/resources/ontology/DCM"
SCT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
STANDARD_SCHEMES = {"DCM": DCM, "SCT": SCT, "SRT": SCT, "LN": LOINC}
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
MAPPED = ("mapped", "standard", "unverified")   # the statuses that give EU codings
DISPLAY_ISSUES = ("invalid-display", "display-comment")   # $validate-code's tx-issue-types of a display
NO_TABLE = "no-table"   # a value of an attribute (or coding scheme) no loaded table declares: listed, not a failure


@dataclass(frozen=True)
class Attribute:
    keyword: str
    level: str            # study | series
    kind: str             # value (CS) | text | codes (a code sequence)
    fhir: str             # the ImagingStudy field it feeds: modality | bodySite | laterality | procedure
    standard: str | None = None   # a code system a plain value may already belong to

    @functools.cached_property
    def tag(self) -> str:
        from pydicom.datadict import tag_for_keyword
        t = tag_for_keyword(self.keyword)
        assert t is not None, self.keyword   # (the attributes below are pydicom's keywords)
        return f"({t >> 16:04X},{t & 0xFFFF:04X})"


ATTRIBUTES = (
    Attribute("Modality", "series", "value", "modality", DCM),
    Attribute("BodyPartExamined", "series", "value", "bodySite"),
    Attribute("AnatomicRegionSequence", "series", "codes", "bodySite"),
    Attribute("Laterality", "series", "value", "laterality"),
    Attribute("ImageLaterality", "series", "value", "laterality"),
    Attribute("StudyDescription", "study", "text", "procedure"),
    Attribute("RequestedProcedureDescription", "study", "text", "procedure"),
    Attribute("ProcedureCodeSequence", "study", "codes", "procedure"),
    Attribute("RequestedProcedureCodeSequence", "study", "codes", "procedure"),
    Attribute("PerformedProtocolCodeSequence", "series", "codes", "procedure"),
)
IDENTIFYING = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID", "PatientID",
               "RequestAttributesSequence", "StudyDate", "StudyTime", "TimezoneOffsetFromUTC", "AccessionNumber")
READ_TAGS = [a.keyword for a in ATTRIBUTES] + list(IDENTIFYING)
REQUESTED = ("RequestedProcedureCodeSequence", "RequestedProcedureDescription")  # also in Request Attributes


# -- reading headers ---------------------------------------------------------------------------

def dicom_files(paths) -> list[str]:
    out = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs.sort()
                out += [os.path.join(root, f) for f in sorted(files) if not f.startswith(".")]
        else:
            out.append(p)
    return out


PIXEL_DATA_TAGS = (0x7FE00008, 0x7FE00009, 0x7FE00010)


class _Deflated(Exception):
    """pydicom asked for the rest of the file at once: its Deflated transfer syntax (inflated here instead)."""


class _CheckedFile:
    """The file pydicom reads, never read past its end: an element whose length runs past the end (cut
    short, or a length such as 0xFFFFFFFE) is noted in `short` instead of being read into memory."""

    def __init__(self, raw, size: int):
        self.raw, self.size = raw, size
        self.name = getattr(raw, "name", "<bytes>")
        self.short: str | None = None

    def read(self, size: int | None = -1) -> bytes:
        at = self.raw.tell()
        if size is None or size < 0:
            raise _Deflated
        data = self.raw.read(min(size, max(self.size - at, 0)))
        # (nothing left where the next element's tag and length would be, 8 bytes: the end of the dataset)
        if len(data) < size and not (not data and size == 8) and self.short is None:
            self.short = f"the file ends inside an element: {size} bytes wanted at byte {at}, {len(data)} left"
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        to = self.raw.seek(offset, whence)
        if to > self.size and self.short is None:
            self.short = f"an element runs past the end of the file (to byte {to} of {self.size})"
        return to

    def tell(self) -> int:
        return self.raw.tell()

    def close(self) -> None:
        self.raw.close()


def read_header(path: str):
    """The dataset (header only, the attributes used), or raises ValueError saying why not. A file
    without the DICM preamble (older archives, RT objects) is read as pydicom reads it with force=True,
    when what it reads is DICOM: a dataset with a Study Instance UID. A file cut short (or an element
    longer than the file) is refused; a deflated dataset is inflated up to the setting max_dicom_inflated_bytes."""
    import pydicom
    from pydicom.errors import InvalidDicomError
    try:
        with open_regular(path) as raw:
            fp = _CheckedFile(raw, os.fstat(raw.fileno()).st_size)
            try:
                ds = pydicom.dcmread(fp, stop_before_pixels=True, specific_tags=READ_TAGS)
            except _Deflated:
                ds = _read_deflated(fp)
            short = fp.short
    except NotRegularFile as e:
        raise ValueError(e.strerror) from None
    except InvalidDicomError:
        ds, short = _forced(path), None
    except RecursionError:
        raise ValueError("unreadable DICOM: sequences nested too deep") from None
    except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError, zlib.error) as e:
        raise ValueError(f"unreadable DICOM: {e}") from e
    if short:
        raise ValueError(f"truncated or damaged DICOM: {short}")
    if ds.get("SOPClassUID") == MEDIA_STORAGE_DIRECTORY:
        raise ValueError("a DICOMDIR (no study of its own)")
    if not ds.get("StudyInstanceUID"):
        raise ValueError("no Study Instance UID")
    return ds


def _read_deflated(fp: _CheckedFile):
    """The dataset after the file meta information of a Deflated Explicit VR Little Endian file, inflated a
    chunk at a time up to the setting max_dicom_inflated_bytes (a header is far smaller; the pixel data that
    may follow it is not needed) and read up to its pixel data: a dataset that inflates further before its
    pixel data is refused (a decompression bomb)."""
    import pydicom
    from pydicom.filereader import read_dataset
    most = settings.current().max_dicom_inflated_bytes
    inflate, out = zlib.decompressobj(-zlib.MAX_WBITS), io.BytesIO()
    while out.tell() <= most and not inflate.eof:
        chunk = inflate.unconsumed_tail or fp.raw.read(1 << 20)
        if not chunk:
            break
        out.write(inflate.decompress(chunk, most + 1 - out.tell()))
    whole = out.tell() <= most
    reached_pixels = []

    def at_pixels(tag, _vr, _length) -> bool:
        if tag in PIXEL_DATA_TAGS:
            reached_pixels.append(tag)
        return tag in PIXEL_DATA_TAGS
    inflated = _CheckedFile(io.BytesIO(out.getbuffer()[:most]), min(out.tell(), most))
    ds = read_dataset(cast(BinaryIO, inflated), False, True, stop_when=at_pixels,
                      specific_tags=[pydicom.tag.Tag(k) for k in READ_TAGS])
    if not whole and not reached_pixels:
        raise ValueError(f"the deflated dataset inflates to more than {most:,} bytes before its pixel data: not"
                         " read (a decompression bomb? setting max_dicom_inflated_bytes)")
    if whole and inflated.short:
        fp.short = f"in the deflated dataset, {inflated.short}"
    return ds


def _forced(path: str):
    import pydicom
    try:
        with warnings.catch_warnings():   # pydicom's guesses about a file that may not be DICOM at all
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=READ_TAGS, force=True)
            uid = ds.get("StudyInstanceUID")
    except Exception:   # pydicom reading what is not DICOM fails in many ways (unknown VRs, lengths...)
        raise ValueError("not a DICOM file (no DICM preamble, and not readable as a dataset either)") from None
    if not uid:
        raise ValueError("not a DICOM file (no DICM preamble, and no Study Instance UID when read without it)")
    return ds


def local_values(ds, attr: Attribute) -> list:
    """The attribute's local values: strings (trimmed, empty ones dropped) or, for code sequences,
    dicts {code, scheme, meaning}."""
    from pydicom.multival import MultiValue
    sources = [ds]
    if attr.keyword in REQUESTED:
        sources += list(ds.get("RequestAttributesSequence") or [])
    out: list[str | dict[str, str]] = []
    for source in sources:
        value = source.get(attr.keyword)
        if value is None:
            continue
        if attr.kind == "codes":
            for item in value:
                code = item.get("CodeValue") or item.get("LongCodeValue") or item.get("URNCodeValue")
                if code and str(code).strip():
                    local = {"code": str(code).strip(), "scheme": str(item.get("CodingSchemeDesignator") or "").strip()}
                    if item.get("CodeMeaning"):
                        local["meaning"] = str(item.CodeMeaning).strip()
                    if str(item.get("CodingSchemeVersion") or "").strip():
                        local["version"] = str(item.CodingSchemeVersion).strip()
                    out.append(local)
        else:
            for v in (value if isinstance(value, (list, tuple, MultiValue)) else [value]):
                text = str(v).strip()
                if text:
                    out.append(text)
    unique = []
    for v in out:
        if v not in unique:
            unique.append(v)
    return unique


# -- resolving values to EU codes ------------------------------------------------------------------

@dataclass(frozen=True)
class TableMap:
    canonical: str          # url|version of the ConceptMap
    schemes: tuple          # the coding scheme designators of its local codes (none declared: any)
    depends_on: tuple = ()  # the header attributes (keywords) its mappings depend on (its table's depends_on)


# the attributes of a header that may decide a mapping (a table's depends_on: `Laterality=L`, `Modality=CT`)
CONTEXT = ("Modality", "BodyPartExamined", "Laterality", "ImageLaterality")


def attribute_maps(client) -> dict[str, list[TableMap]]:
    """DICOM keyword -> the ConceptMaps that declare they serve it, with the coding schemes they map."""
    if isinstance(client, LocalClient):
        maps = client.store.resources_mentioning("ConceptMap", EXT_DICOM_ATTRIBUTE)
    else:
        maps = list(client.concept_maps({"_summary": "true"}))
    out: dict[str, list[TableMap]] = {}
    for cm in maps:
        if not cm.get("url"):   # a map without a url cannot be asked for by it
            continue
        canonical = f"{cm['url']}|{cm['version']}" if cm.get("version") else cm["url"]
        extensions = cm.get("extension", []) or []
        schemes = tuple(x.get("valueString", "").upper() for x in extensions if x.get("url") == EXT_DICOM_SCHEME)
        depends_on = tuple(a.get("code") for a in cm.get("additionalAttribute", []) or []
                           if isinstance(a, dict) and a.get("code") in CONTEXT)
        for x in extensions:
            served = out.setdefault(x.get("valueString"), []) if x.get("url") == EXT_DICOM_ATTRIBUTE else None
            if served is not None and all(m.canonical != canonical for m in served):
                served.append(TableMap(canonical, schemes, depends_on))
    return out


def maps_for(maps: list[TableMap], scheme: str | None) -> list[TableMap]:
    """The tables a local value goes through: for a code of a coding scheme, those that declare the
    scheme, else those that declare none; never one that declares other schemes."""
    if scheme is None:
        return maps
    declaring = [m for m in maps if scheme.upper() in m.schemes]
    return declaring or [m for m in maps if not m.schemes]


class Resolver:
    """Local value -> EU codings, remembered per (attribute, value, the header values its tables depend on)
    for the run."""

    def __init__(self, client):
        self.client = client
        self.maps = attribute_maps(client)
        # attribute -> the header attributes its tables depend on (their conditions name them)
        self.context_of = {k: sorted({a for m in maps for a in m.depends_on}) for k, maps in self.maps.items()}
        self._memo: dict = {}

    def resolve(self, attr: Attribute, local, context: dict | None = None) -> dict:
        """`context`: the header's values of CONTEXT (keyword -> value), for the tables that depend on them."""
        context = {k: context[k] for k in self.context_of.get(attr.keyword, ()) if context and context.get(k)}
        key = (attr.keyword, _hashable(local), tuple(context.items()))
        hit = self._memo.get(key)
        if hit is None:
            try:
                hit = self._resolve(attr, local, context)
            except TerminologyError as e:
                hit = {"status": "error", "message": e.message}
            self._memo[key] = hit
        return hit

    def _resolve(self, attr: Attribute, local, context: dict) -> dict:
        if attr.kind == "codes":
            system, code = STANDARD_SCHEMES.get(local["scheme"].upper()), local["code"]
            if local["scheme"].upper() == "SRT":
                code = _srt_to_sct(code)
            if system and code:   # (an SRT code's version is SNOMED RT's, not that of the SNOMED CT id)
                version = local.get("version") if local["scheme"].upper() != "SRT" else None
                return self._standard(system, code, local.get("meaning"), version)
            return self._translated(attr, local["code"], context, local["scheme"]) or \
                self._unmapped(attr, local["scheme"])
        candidates = [local]
        if attr.kind == "value":
            candidates += [v for v in cs_spellings(local) if v not in candidates]
        for value in candidates:
            found = self._translated(attr, value, context)
            if found is None and attr.standard:
                found = self._standard(attr.standard, value)
                found = found if found["status"] in ("standard", "unverified") else None
            if found is not None:
                if value != local:
                    found["normalized"] = value
                return found
        return self._unmapped(attr)

    def _translated(self, attr: Attribute, value: str, context: dict, scheme: str | None = None) -> dict | None:
        codings = []
        for table in maps_for(self.maps.get(attr.keyword, []), scheme):
            # what else the header says, as the table's conditions name it (`Laterality=L`)
            dependencies = [(k, context[k]) for k in table.depends_on if k in context]
            r = self.client.translate(value, url=table.canonical, dependencies=dependencies)
            codings += [{"system": m.system, "code": m.code, "display": m.display,
                         "relationship": m.relationship, "map": m.origin_map}
                        for m in r.matches if m.relationship != "not-related-to" and m.code]
        return {"status": "mapped", "codings": codings} if codings else None

    def _standard(self, system: str, code: str, meaning: str | None = None, version: str | None = None) -> dict:
        """A code of a standard scheme (in its Coding Scheme Version, when given), validated with its Code
        Meaning as the display: $validate-code's verdict is the status (a no: invalid, whatever it refuses -
        the code, or its meaning; what it cannot judge: unverified), and what it says comes with the entry
        (`message`, `display_message` for the meaning, `issues`)."""
        r = self.client.validate_code(code, system, display=meaning, version=version)
        issues = [[i.severity, i.code, i.tx_type] for i in r.issues]
        if r.verdict == INVALID:
            return {"status": "invalid", "message": r.message or f"{code} is not a code of {system}", "issues": issues}
        coding = {"system": system, "code": code, "display": r.display, "relationship": "equivalent", "map": None}
        about_display = [i.text for i in r.issues if i.tx_type in DISPLAY_ISSUES]
        notes = [i.text for i in r.issues if i.severity == "warning" and i.tx_type not in DISPLAY_ISSUES]
        out = {"status": "unverified" if r.verdict == CANNOT_JUDGE else "standard", "codings": [coding],
               "issues": issues}
        if r.verdict == CANNOT_JUDGE or notes:
            out["message"] = r.reason if r.verdict == CANNOT_JUDGE else "; ".join(dict.fromkeys(notes))
        if about_display:
            out["display_message"] = "; ".join(dict.fromkeys(about_display))
        return out

    def _unmapped(self, attr: Attribute, scheme: str | None = None) -> dict:
        tables = maps_for(self.maps.get(attr.keyword, []), scheme)
        if not self.maps.get(attr.keyword):
            return {"status": NO_TABLE, "message": f"no loaded mapping table declares {attr.keyword} {attr.tag}"
                                                   " (dicom_attributes in its TOML)"}
        if not tables:
            return {"status": NO_TABLE, "message": f"no loaded mapping table of {attr.keyword} declares the coding"
                                                   f" scheme {scheme} (dicom_coding_schemes in its TOML); those of"
                                                   f" other schemes: " + ", ".join(m.canonical for m in
                                                                                  self.maps[attr.keyword])}
        return {"status": "unmapped", "message": f"not in the mapping tables for {attr.keyword}"
                + (f" (coding scheme {scheme})" if scheme else "") + ": " + ", ".join(m.canonical for m in tables)}


def cs_spellings(value: str) -> list[str]:
    """The spellings of a CS value to try after the value as written: DICOM's defined terms are upper
    case letters and digits, without blanks or punctuation, and join a list without `and` (PS3.16
    Annex L: `HEADNECK`, `ABDOMENPELVIS`); vendors write `Whole Body`, `L-SPINE`, `Head & Neck`,
    `Abdomen/Pelvis`, `ABDÓMEN`. Each rule covers a family of spellings, so the tables hold only the terms."""
    upper = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().upper()
    words = re.findall(r"[A-Z0-9]+", upper)
    return list(dict.fromkeys(v for v in (value.upper(), "".join(words),
                                           "".join(w for w in words if w != "AND")) if v))


def _hashable(local):
    return tuple(sorted(local.items())) if isinstance(local, dict) else local


def _srt_to_sct(code: str) -> str | None:
    """A legacy SNOMED RT (SRT) code as its SNOMED CT id, from pydicom's table."""
    from pydicom.sr._snomed_dict import mapping
    return mapping.get("SRT", {}).get(code)


# -- per file, per study ----------------------------------------------------------------------------

def file_report(path: str, ds, resolver: Resolver) -> dict:
    codes = []
    context = {a.keyword: values[0] for a in ATTRIBUTES if a.keyword in CONTEXT and (values := local_values(ds, a))}
    for attr in ATTRIBUTES:
        for local in local_values(ds, attr):
            codes.append({"attribute": attr.keyword, "tag": attr.tag, "level": attr.level, "local": local,
                          **resolver.resolve(attr, local, context)})
    return {"file": path, "study": str(ds.StudyInstanceUID), "series": str(ds.get("SeriesInstanceUID") or ""),
            "instance": str(ds.get("SOPInstanceUID") or ""), "sop_class": str(ds.get("SOPClassUID") or ""),
            "patient": str(ds.get("PatientID") or ""), "started": started(ds),
            "accession": str(ds.get("AccessionNumber") or "").strip(), "codes": codes, **_outcome(codes)}


def _outcome(codes: list[dict]) -> dict:
    """`unmapped`: the values a table was meant to map and did not (and invalid standard codes): the
    failures; `no_table`: the values of attributes (or coding schemes) no table declares."""
    return {"unmapped": [_short(c) for c in codes if c["status"] not in MAPPED and c["status"] != NO_TABLE],
            "no_table": [_short(c) for c in codes if c["status"] == NO_TABLE]}


def started(ds) -> str | None:
    """Study Date and Time as a FHIR dateTime (with the Timezone Offset From UTC when given)."""
    date = str(ds.get("StudyDate") or "").strip()
    if len(date) != 8 or not date.isdigit():
        return None
    out = f"{date[:4]}-{date[4:6]}-{date[6:]}"
    time = str(ds.get("StudyTime") or "").strip().split(".")[0]
    if len(time) >= 4 and time.isdigit():
        time = (time + "00")[:6]
        out += f"T{time[:2]}:{time[2:4]}:{time[4:6]}"
        offset = str(ds.get("TimezoneOffsetFromUTC") or "").strip()
        if len(offset) == 5 and offset[0] in "+-" and offset[1:].isdigit():
            return out + f"{offset[:3]}:{offset[3:]}"
    return out[:10]   # FHIR wants a time zone with a time: without one, the date alone is certain



def _short(c: dict) -> dict:
    return {"attribute": c["attribute"], "local": c["local"], "status": c["status"]}


def study_reports(files: list[dict]) -> list[dict]:
    studies: dict[str, dict] = {}
    for f in files:
        s = studies.setdefault(f["study"], {"study": f["study"], "patient": f["patient"], "started": f["started"],
                                            "accession": f["accession"], "files": 0, "series": {}, "codes": {}})
        s["files"] += 1
        s["series"].setdefault(f["series"], []).append(f)
        for c in f["codes"]:
            key = (c["attribute"], _hashable(c["local"]))
            s["codes"].setdefault(key, {**c, "files": 0})["files"] += 1
    out = []
    for s in studies.values():
        codes = list(s["codes"].values())
        out.append({"study": s["study"], "patient": s["patient"], "started": s["started"],
                    "accession": s["accession"], "files": s["files"],
                    "series": [{"uid": uid, "files": len(fs)} for uid, fs in s["series"].items()],
                    "codes": codes, **_outcome(codes),
                    "_series_files": s["series"]})
    return out


# -- ImagingStudy ------------------------------------------------------------------------------------

ACCESSION_TYPE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN",
                               "display": "Accession ID"}]}
IMAGING_STUDY_PROFILE = "/StructureDefinition/ImagingStudyEuImaging"


def imaging_study(study: dict, r4: bool, patient_id_system: str | None = None, profile: bool = False) -> dict:
    """The study as an ImagingStudy (R5, or R4): `patient_id_system` the system of the subject's
    identifier (the Patient ID's issuer); `profile`: claim the IG's ImagingStudy profile of that edition."""
    def codings(entries):
        out = []
        for c in entries:
            for cd in c.get("codings", []) if c["status"] in MAPPED else []:
                coding = {k: cd[k] for k in ("system", "code", "display") if cd.get(k)}
                if coding not in out:
                    out.append(coding)
        return out

    def concept(entries, field):
        cs = codings([c for c in entries if _fhir_field(c) == field])
        locals_ = [c["local"] if isinstance(c["local"], str) else c["local"].get("meaning") or c["local"]["code"]
                   for c in entries if _fhir_field(c) == field]
        if not cs and not locals_:
            return None
        if r4:   # R4 series fields are Codings: the first EU coding, else the local value as display
            return cs[0] if cs else {"display": locals_[0]}
        return {"coding": cs, "text": locals_[0]} if cs else {"text": locals_[0]}

    series = []
    for uid, files in study["_series_files"].items():
        entries = [c for f in files for c in f["codes"]]
        se = {"uid": uid, "numberOfInstances": len(files)}
        modality = concept(entries, "modality")
        se["modality"] = modality or ({"display": "unknown"} if r4 else {"text": "unknown"})
        body = concept(entries, "bodySite")
        if body:
            se["bodySite"] = body if r4 else {"concept": body}
        laterality = concept(entries, "laterality")
        if laterality:
            se["laterality"] = laterality
        se["instance"] = [{"uid": f["instance"], "sopClass": {"system": "urn:ietf:rfc:3986",
                                                              "code": "urn:oid:" + f["sop_class"]}}
                          for f in files if f["instance"]]
        series.append(se)
    out: dict[str, Any] = {"resourceType": "ImagingStudy"}
    if profile:
        out["meta"] = {"profile": [BASES["R4" if r4 else "R5"] + IMAGING_STUDY_PROFILE]}
    out["identifier"] = [{"system": "urn:dicom:uid", "value": "urn:oid:" + study["study"]}]
    if study["accession"]:
        out["identifier"].append({"type": ACCESSION_TYPE, "value": study["accession"]})
    out["status"] = "available"
    patient = {"value": study["patient"], **({"system": patient_id_system} if patient_id_system else {})}
    out["subject"] = {"identifier": patient} if study["patient"] else {
        "display": "the patient is not identified in the DICOM header"}
    if study["started"]:
        out["started"] = study["started"]
    modalities = codings([c for c in study["codes"] if _fhir_field(c) == "modality"])
    if modalities:
        out["modality"] = modalities if r4 else [{"coding": [m]} for m in modalities]
    description = next((c["local"] for c in study["codes"] if c["attribute"] == "StudyDescription"), None)
    if description:
        out["description"] = description
    out["numberOfSeries"] = len(series)
    out["numberOfInstances"] = study["files"]
    procedures = [c for c in study["codes"] if _fhir_field(c) == "procedure" and c["status"] in MAPPED]
    if procedures:
        concepts = []
        for c in procedures:   # a procedure coded twice (a code sequence and a description) is listed once
            if {"coding": codings([c])} not in concepts:
                concepts.append({"coding": codings([c])})
        out["procedureCode" if r4 else "procedure"] = concepts if r4 else [{"concept": c} for c in concepts]
    out["series"] = series
    return out


def _fhir_field(code_entry: dict) -> str:
    return next(a.fhir for a in ATTRIBUTES if a.keyword == code_entry["attribute"])
