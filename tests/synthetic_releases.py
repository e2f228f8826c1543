"""Small synthetic SNOMED CT (RF2 Snapshot) and LOINC releases in the real file layouts.

Nothing here is licensed content: the few real identifiers are the ones the imaging IG
uses (and well-known metadata ids); terms are made up or generic. Layouts follow
shared/formats/snomed-rf2.md and shared/formats/loinc.md (CRLF, exact headers).

    write_snomed_release(dir)   -> path of SnomedCT_InternationalRF2_PRODUCTION_<date>T120000Z
    write_snomed_extension(dir) -> path of SnomedCT_ManagedServiceDK_PRODUCTION_DK1000005_<date>T120000Z
    write_loinc_release(dir)    -> path of Loinc_2.80 (folder)
Each takes zip=True to return a zip instead.
"""
import csv
import os
import zipfile

# --------------------------------------------------------------------------------------
# SCTID helpers
_D = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
      [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
      [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
      [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]
_P = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
      [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
      [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]]
_INV = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9]


def verhoeff(digits: str) -> str:
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[(i + 1) % 8][int(ch)]]
    return str(_INV[c])


def sctid(item: int, partition: str = "00", namespace: str | None = None) -> str:
    """partition 00 concept, 01 description, 02 relationship (short format);
    with a namespace: 10, 11, 12 (long format)."""
    if namespace:
        partition = "1" + partition[1]
        base = f"{item}{namespace}{partition}"
    else:
        base = f"{item}{partition}"
    return base + verhoeff(base)


# --------------------------------------------------------------------------------------
# RF2 writing
H_CONCEPT = "id effectiveTime active moduleId definitionStatusId"
H_DESC = "id effectiveTime active moduleId conceptId languageCode typeId term caseSignificanceId"
H_REL = ("id effectiveTime active moduleId sourceId destinationId relationshipGroup typeId"
         " characteristicTypeId modifierId")
H_CONCRETE = ("id effectiveTime active moduleId sourceId value relationshipGroup typeId"
              " characteristicTypeId modifierId")
H_LANG = "id effectiveTime active moduleId refsetId referencedComponentId acceptabilityId"
H_ASSOC = "id effectiveTime active moduleId refsetId referencedComponentId targetComponentId"
H_SIMPLE = "id effectiveTime active moduleId refsetId referencedComponentId"
H_MODDEP = ("id effectiveTime active moduleId refsetId referencedComponentId sourceEffectiveTime"
            " targetEffectiveTime")
H_ATTRVAL = "id effectiveTime active moduleId refsetId referencedComponentId valueId"
H_OWL = "id effectiveTime active moduleId refsetId referencedComponentId owlExpression"

CORE = "900000000000207008"
MODEL = "900000000000012004"
DK_MODULE = "554471000005108"
DK_NS = "1000005"
FSN, SYN, DEF = "900000000000003001", "900000000000013009", "900000000000550004"
PREF, ACC = "900000000000548007", "900000000000549004"
EN_US, EN_GB, DA_DK = "900000000000509007", "900000000000508004", "554461000005103"
INSENSITIVE, INITIAL = "900000000000448009", "900000000000020002"
INFERRED, STATED = "900000000000011006", "900000000000010007"
EXISTENTIAL = "900000000000451002"
PRIMITIVE, DEFINED = "900000000000074008", "900000000000073002"
IS_A = "116680003"
REPLACED_BY, SAME_AS, POSS_EQUIV = "900000000000526001", "900000000000527005", "900000000000523009"
SIMPLE_REFSET = "723264001"   # a simple refset concept (Lateralizable body structure reference set)


def uuid_for(*parts) -> str:
    h = abs(hash("|".join(map(str, parts)))) % (16 ** 32)
    s = f"{h:032x}"
    return f"{s[:8]}-{s[8:12]}-4{s[13:16]}-8{s[17:20]}-{s[20:32]}"


_uuid_n = [0]


def next_uuid() -> str:
    _uuid_n[0] += 1
    n = _uuid_n[0]
    return f"{n:08x}-0000-4000-8000-{n:012x}"


class RF2File:
    """An RF2 file as SNOMED International writes it: UTF-8, TAB-separated, CR LF after every line."""

    def __init__(self, path: str, header: str, buffering: int = -1):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.f = open(path, "w", encoding="utf-8", newline="", buffering=buffering)
        self.f.write(header.replace(" ", "\t") + "\r\n")
        self.n = 0

    def row(self, *fields):
        self.line("\t".join(str(x) for x in fields))

    def line(self, text: str):
        """A row already joined with TABs."""
        self.f.write(text + "\r\n")
        self.n += 1

    def close(self):
        self.f.close()


def _zip_folder(folder: str) -> str:
    zpath = folder + ".zip"
    base = os.path.dirname(folder)
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
        for d, _dirs, files in os.walk(folder):
            for f in files:
                full = os.path.join(d, f)
                z.write(full, os.path.relpath(full, base))
    return zpath


# --------------------------------------------------------------------------------------
# the International fixture's content
# (id, FSN, US preferred term, parents, extra): extra may hold gb=GB PT, defined=True,
# attrs=[(type, dest, group)], acceptable=[...]
def _int_concepts():
    C = []

    def add(cid, fsn, pt, parents, **extra):
        C.append((cid, fsn, pt, parents, extra))

    add("138875005", "SNOMED CT Concept (SNOMED RT+CTV3)", "SNOMED CT Concept", [])
    add("900000000000441003", "SNOMED CT Model Component (metadata)", "SNOMED CT Model Component",
        ["138875005"])
    add("116680003", "Is a (attribute)", "Is a", ["900000000000441003"])
    add("260686004", "Method (attribute)", "Method", ["900000000000441003"])
    add("405813007", "Procedure site - Direct (attribute)", "Procedure site - Direct",
        ["900000000000441003"])
    add("1142135004", "Has presentation strength numerator value (attribute)",
        "Has presentation strength numerator value", ["900000000000441003"])
    add("900000000000455006", "Reference set (foundation metadata concept)", "Reference set",
        ["900000000000441003"])
    add(SIMPLE_REFSET, "Lateralizable body structure reference set (foundation metadata concept)",
        "Lateralizable body structure reference set", ["900000000000455006"])
    add("71388002", "Procedure (procedure)", "Procedure", ["138875005"])
    add("363679005", "Imaging (procedure)", "Imaging", ["71388002"], defined=True,
        attrs=[("260686004", "360037004", 1)], acceptable=["Imaging procedure"],
        definition="A procedure that produces images of a body structure.")
    add("129264002", "Action (qualifier value)", "Action", ["138875005"])
    add("360037004", "Imaging - action (qualifier value)", "Imaging - action", ["129264002"])
    add("77477000", "Computerized axial tomography (procedure)", "Computed tomography",
        ["363679005"], defined=True, attrs=[("260686004", "360037004", 1)])
    add("113091000", "Magnetic resonance imaging (procedure)", "Magnetic resonance imaging",
        ["363679005"], defined=True)
    add("16310003", "Ultrasonography (procedure)", "Ultrasonography", ["363679005"])
    add("363680008", "Radiographic imaging procedure (procedure)", "Radiographic imaging procedure",
        ["363679005"])
    add("241601008", "Magnetic resonance imaging of head (procedure)", "MRI of head", ["113091000"],
        attrs=[("405813007", "774007", 1)])
    add("169069000", "Computed tomography of chest (procedure)", "CT of chest", ["77477000"],
        attrs=[("405813007", "67734004", 1)])
    # colour / color: a US vs GB preferred term
    add("709943002", "Color Doppler ultrasonography (procedure)", "Color Doppler ultrasonography",
        ["16310003"], gb="Colour Doppler ultrasonography")
    # a concept with two parents (CT and Radiographic)
    add("1287000", "Computed tomography radiography (procedure)", "CT radiography",
        ["77477000", "363680008"])
    add("260787004", "Physical object (physical object)", "Physical object", ["138875005"])
    add("49062001", "Device (physical object)", "Device", ["260787004"])
    add("314789007", "Diagnostic imaging equipment (physical object)", "Diagnostic imaging equipment",
        ["49062001"])
    add("57134006", "Computed tomography scanner (physical object)", "CT scanner", ["314789007"],
        attrs=[("1142135004", "#2", 0)])
    add("72506001", "Magnetic resonance imaging scanner (physical object)", "MRI scanner",
        ["314789007"])
    add("123037004", "Body structure (body structure)", "Body structure", ["138875005"])
    add("91723000", "Anatomical structure (body structure)", "Anatomical structure", ["123037004"])
    add("38266002", "Entire body as a whole (body structure)", "Entire body as a whole", ["91723000"])
    add("22943007", "Trunk structure (body structure)", "Trunk structure", ["91723000"])
    add("63337009", "Lower trunk (body structure)", "Lower trunk", ["22943007"])
    add("67734004", "Upper trunk (body structure)", "Upper trunk", ["22943007"])
    add("53120007", "Upper limb structure (body structure)", "Upper extremity", ["91723000"])
    add("61685007", "Lower limb structure (body structure)", "Lower extremity", ["91723000"])
    add("774007", "Structure of head and/or neck (body structure)", "Head and neck structure",
        ["91723000"])
    add("113257007", "Structure of cardiovascular system (body structure)", "Cardiovascular system",
        ["91723000"])
    add("80891009", "Heart structure (body structure)", "Heart", ["113257007", "67734004"])
    add("76752008", "Breast structure (body structure)", "Breast", ["91723000"])
    add("737561001", "Structure of vertebral column and/or spinal cord (body structure)",
        "Structure of vertebral column and/or spinal cord", ["91723000"])
    add("363787002", "Observable entity (observable entity)", "Observable entity", ["138875005"])
    add("404684003", "Clinical finding (finding)", "Clinical finding", ["138875005"])
    return C


# inactive concepts and their associations: (id, FSN, refset, targets)
INACTIVE = [
    (sctid(9001), "Imaging procedure, old (procedure)", REPLACED_BY, ["363679005"]),
    (sctid(9002), "Cardiac structure duplicate (body structure)", SAME_AS, ["80891009"]),
    (sctid(9003), "Ambiguous scan (procedure)", POSS_EQUIV, ["77477000", "113091000"]),
]


def write_snomed_release(directory: str, date: str = "20250701", zip: bool = False,
                         generated: int = 300) -> str:
    """International edition fixture. `generated` synthetic descendants are added below
    Imaging, Diagnostic imaging equipment, Anatomical structure and Clinical finding
    (depth up to ~5, some with two parents)."""
    root = os.path.join(directory, f"SnomedCT_InternationalRF2_PRODUCTION_{date}T120000Z")
    snap = os.path.join(root, "Snapshot")
    term = os.path.join(snap, "Terminology")
    tag = f"INT_{date}"
    concepts = _int_concepts()
    # generated descendants
    branches = ["363679005", "314789007", "91723000", "404684003"]
    kinds = {"363679005": "procedure", "314789007": "physical object",
             "91723000": "body structure", "404684003": "finding"}
    members = {b: [b] for b in branches}
    for i in range(generated):
        b = branches[i % len(branches)]
        pool = members[b]
        p1 = pool[(i * 7) % len(pool)]
        parents = [p1]
        if i % 5 == 4 and len(pool) > 2:
            p2 = pool[(i * 3 + 1) % len(pool)]
            if p2 != p1:
                parents.append(p2)
        cid = sctid(10000 + i)
        members[b].append(cid)
        concepts.append((cid, f"Synthetic {kinds[b]} {i} ({kinds[b]})", f"Synthetic {kinds[b]} {i}",
                         parents, {}))

    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, f"Readme_en_{date}.txt"), "w", encoding="utf-8") as f:
        f.write("Synthetic release for tests\r\n")
    fc = RF2File(os.path.join(term, f"sct2_Concept_Snapshot_{tag}.txt"), H_CONCEPT)
    fd = RF2File(os.path.join(term, f"sct2_Description_Snapshot-en_{tag}.txt"), H_DESC)
    ft = RF2File(os.path.join(term, f"sct2_TextDefinition_Snapshot-en_{tag}.txt"), H_DESC)
    fr = RF2File(os.path.join(term, f"sct2_Relationship_Snapshot_{tag}.txt"), H_REL)
    fs = RF2File(os.path.join(term, f"sct2_StatedRelationship_Snapshot_{tag}.txt"), H_REL)
    fcv = RF2File(os.path.join(term, f"sct2_RelationshipConcreteValues_Snapshot_{tag}.txt"), H_CONCRETE)
    fo = RF2File(os.path.join(term, f"sct2_sRefset_OWLExpressionSnapshot_{tag}.txt"), H_OWL)
    fl = RF2File(os.path.join(snap, "Refset", "Language", f"der2_cRefset_LanguageSnapshot-en_{tag}.txt"),
                 H_LANG)
    fa = RF2File(os.path.join(snap, "Refset", "Content", f"der2_cRefset_AssociationSnapshot_{tag}.txt"),
                 H_ASSOC)
    fav = RF2File(os.path.join(snap, "Refset", "Content", f"der2_cRefset_AttributeValueSnapshot_{tag}.txt"),
                  H_ATTRVAL)
    fsimple = RF2File(os.path.join(snap, "Refset", "Content", f"der2_Refset_SimpleSnapshot_{tag}.txt"),
                      H_SIMPLE)
    fm = RF2File(os.path.join(snap, "Refset", "Metadata",
                              f"der2_ssRefset_ModuleDependencySnapshot_{tag}.txt"), H_MODDEP)
    d_n, r_n = [1000], [1000]

    def desc(f, concept, typ, text, lang_rows, active=1, module=CORE, case=INSENSITIVE, lang="en"):
        d_n[0] += 1
        did = sctid(d_n[0], "01")
        f.row(did, date, active, module, concept, lang, typ, text, case)
        for refset, acc in lang_rows:
            fl.row(next_uuid(), date, 1, module, refset, did, acc)
        return did

    def rel(src, dst, typ, group=0, char=INFERRED, active=1, f=None):
        r_n[0] += 1
        (f or fr).row(sctid(r_n[0], "02"), date, active, CORE, src, dst, group, typ, char, EXISTENTIAL)

    both_pref = [(EN_US, PREF), (EN_GB, PREF)]
    for cid, fsn, pt, parents, extra in concepts:
        fc.row(cid, date, 1, MODEL if cid.startswith("9000000000") else CORE,
               DEFINED if extra.get("defined") else PRIMITIVE)
        desc(fd, cid, FSN, fsn, both_pref)
        if extra.get("gb"):
            desc(fd, cid, SYN, pt, [(EN_US, PREF), (EN_GB, ACC)])
            desc(fd, cid, SYN, extra["gb"], [(EN_GB, PREF), (EN_US, ACC)])
        else:
            desc(fd, cid, SYN, pt, both_pref, case=INITIAL)
        for a in extra.get("acceptable", []):
            desc(fd, cid, SYN, a, [(EN_US, ACC), (EN_GB, ACC)])
        if extra.get("definition"):
            desc(ft, cid, DEF, extra["definition"], both_pref)
        for p in parents:
            rel(cid, p, IS_A)
            rel(cid, p, IS_A, char=STATED, f=fs)
        for typ, dst, group in extra.get("attrs", []):
            if dst.startswith(("#", '"')):
                r_n[0] += 1
                fcv.row(sctid(r_n[0], "02"), date, 1, CORE, cid, dst, group, typ, INFERRED, EXISTENTIAL)
            else:
                rel(cid, dst, typ, group)
        fo.row(next_uuid(), date, 1, CORE, "733073007", cid,
               f"SubClassOf(:{cid} :{parents[0]})" if parents else f"Declaration(Class(:{cid}))")
    # an inactive description (must not become a designation) and an inactive is-a row
    desc(fd, "363679005", SYN, "Imaging NOS (retired term)", [], active=0)
    rel("169069000", "363679005", IS_A, active=0)
    for cid, fsn, refset, targets in INACTIVE:
        fc.row(cid, date, 0, CORE, PRIMITIVE)
        desc(fd, cid, FSN, fsn, both_pref)
        desc(fd, cid, SYN, fsn.rsplit(" (", 1)[0], both_pref)
        fav.row(next_uuid(), date, 1, CORE, "900000000000489007", cid, "900000000000482003")
        for t in targets:
            fa.row(next_uuid(), date, 1, CORE, refset, cid, t)
    # an inactive association member (ignored)
    fa.row(next_uuid(), date, 0, CORE, REPLACED_BY, INACTIVE[1][0], "67734004")
    for m in ("53120007", "61685007", "76752008"):
        fsimple.row(next_uuid(), date, 1, CORE, SIMPLE_REFSET, m)
    fsimple.row(next_uuid(), date, 0, CORE, SIMPLE_REFSET, "80891009")
    fm.row(next_uuid(), date, 1, CORE, "900000000000534007", MODEL, date, date)
    for f in (fc, fd, ft, fr, fs, fcv, fo, fl, fa, fav, fsimple, fm):
        f.close()
    # identifier file: header only
    RF2File(os.path.join(term, f"sct2_Identifier_Snapshot_{tag}.txt"),
            "alternateIdentifier effectiveTime active moduleId identifierSchemeId referencedComponentId"
            ).close()
    return _zip_folder(root) if zip else root


EXTENSION_CODE = "598151000005105"


def write_snomed_extension(directory: str, date: str = "20250930", int_date: str = "20250701",
                           zip: bool = False) -> str:
    """Danish extension fixture (module 554471000005108): adds 598151000005105 under Observable
    entity, Danish (da-DK) descriptions for a few International concepts (two imaging procedures
    among them), an extension
    relationship, and inactivates one International language refset member."""
    root = os.path.join(directory, f"SnomedCT_ManagedServiceDK_PRODUCTION_DK1000005_{date}T120000Z")
    snap = os.path.join(root, "Snapshot")
    term = os.path.join(snap, "Terminology")
    tag = f"DK1000005_{date}"
    fc = RF2File(os.path.join(term, f"sct2_Concept_Snapshot_{tag}.txt"), H_CONCEPT)
    fd_da = RF2File(os.path.join(term, f"sct2_Description_Snapshot-da_{tag}.txt"), H_DESC)
    fd_en = RF2File(os.path.join(term, f"sct2_Description_Snapshot-en_{tag}.txt"), H_DESC)
    fr = RF2File(os.path.join(term, f"sct2_Relationship_Snapshot_{tag}.txt"), H_REL)
    fl = RF2File(os.path.join(snap, "Refset", "Language", f"der2_cRefset_LanguageSnapshot-da_{tag}.txt"),
                 H_LANG)
    fm = RF2File(os.path.join(snap, "Refset", "Metadata",
                              f"der2_ssRefset_ModuleDependencySnapshot_{tag}.txt"), H_MODDEP)
    n = [0]

    def did():
        n[0] += 1
        return sctid(n[0], "01", DK_NS)

    fc.row(EXTENSION_CODE, date, 1, DK_MODULE, PRIMITIVE)
    d = did()
    fd_en.row(d, date, 1, DK_MODULE, EXTENSION_CODE, "en", FSN,
              "Gestational age by imaging (observable entity)", INSENSITIVE)
    fl.row(next_uuid(), date, 1, DK_MODULE, EN_US, d, PREF)
    d = did()
    fd_en.row(d, date, 1, DK_MODULE, EXTENSION_CODE, "en", SYN, "Gestational age by imaging", INSENSITIVE)
    fl.row(next_uuid(), date, 1, DK_MODULE, EN_US, d, PREF)
    # (Danish names of two imaging procedures: what a Danish department's catalogue is matched against)
    for concept, text in ((EXTENSION_CODE, "Gestationsalder ved billeddiagnostik"),
                          ("363679005", "billeddiagnostik"), ("80891009", "hjerte"),
                          ("169069000", "CT-skanning af brystkasse"), ("241601008", "MR-skanning af hoved")):
        d = did()
        fd_da.row(d, date, 1, DK_MODULE, concept, "da", SYN, text, INSENSITIVE)
        fl.row(next_uuid(), date, 1, DK_MODULE, DA_DK, d, PREF)
    fr.row(sctid(1, "02", DK_NS), date, 1, DK_MODULE, EXTENSION_CODE, "363787002", 0, IS_A, INFERRED,
           EXISTENTIAL)
    fm.row(next_uuid(), date, 1, DK_MODULE, "900000000000534007", CORE, date, int_date)
    fm.row(next_uuid(), date, 1, DK_MODULE, "900000000000534007", MODEL, date, int_date)
    for f in (fc, fd_da, fd_en, fr, fl, fm):
        f.close()
    return _zip_folder(root) if zip else root


# --------------------------------------------------------------------------------------
# LOINC
LOINC_HEADER = ["LOINC_NUM", "COMPONENT", "PROPERTY", "TIME_ASPCT", "SYSTEM", "SCALE_TYP", "METHOD_TYP",
                "CLASS", "VersionLastChanged", "CHNG_TYPE", "DefinitionDescription", "STATUS",
                "CONSUMER_NAME", "CLASSTYPE", "FORMULA", "EXMPL_ANSWERS", "SURVEY_QUEST_TEXT",
                "SURVEY_QUEST_SRC", "UNITSREQUIRED", "RELATEDNAMES2", "SHORTNAME", "ORDER_OBS",
                "HL7_FIELD_SUBFIELD_ID", "EXTERNAL_COPYRIGHT_NOTICE", "EXAMPLE_UNITS", "LONG_COMMON_NAME",
                "EXAMPLE_UCUM_UNITS", "STATUS_REASON", "STATUS_TEXT", "CHANGE_REASON_PUBLIC",
                "COMMON_TEST_RANK", "COMMON_ORDER_RANK", "HL7_ATTACHMENT_STRUCTURE",
                "EXTERNAL_COPYRIGHT_LINK", "PanelType", "AskAtOrderEntry", "AssociatedObservations",
                "VersionFirstReleased", "ValidHL7AttachmentRequest", "DisplayName"]

# (code, component, system, method, class, status, long name, short name, related names)
LOINC_TERMS = [
    ("18726-0", "Radiology studies", "XXX", "", "RAD", "ACTIVE", "Radiology studies (set)",
     "Radiology studies", "Imaging; Radiology"),
    ("18748-4", "Diagnostic imaging study", "XXX", "", "RAD", "ACTIVE",
     "Diagnostic imaging study", "Diagnostic imaging study", "DI; Imaging report"),
    ("18747-6", "CT study", "XXX", "CT", "RAD", "ACTIVE", "CT Study report", "CT Study", "CAT scan"),
    ("18755-9", "MRI study", "XXX", "MR", "RAD", "ACTIVE", "MR Study report", "MRI Study", ""),
    ("18760-9", "US study", "XXX", "US", "RAD", "ACTIVE", "US Study report", "US Study", ""),
    ("24627-2", "Chest CT", "Chest", "CT", "RAD", "ACTIVE", "CT Chest", "CT Chest", "Thorax; Computed tomography"),
    ("30695-1", "Head MRI", "Head", "MR", "RAD", "TRIAL", "MR Head", "MR Head", ""),
    ("18783-1", "Old imaging study", "XXX", "", "RAD", "DEPRECATED", "Old imaging study (deprecated)",
     "Old imaging", ""),
    ("55115-0", "Requested imaging studies information", "^Patient", "", "RAD", "ACTIVE",
     "Requested imaging studies information Document", "Requested imaging", ""),
    ("2345-7", "Glucose", "Ser/Plas", "", "CHEM", "ACTIVE", "Glucose [Mass/volume] in Serum or Plasma",
     "Glucose SerPl-mCnc", "Gluc; Sugar"),
]
LOINC_DEPRECATED = "18783-1"
LOINC_REPLACEMENT = "18748-4"  # its MapTo.csv replacement


def _csv_write(path, header, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
        w.writerow(header)
        for r in rows:
            w.writerow([("" if v is None else v) for v in r])


def write_loinc_release(directory: str, version: str = "2.80", zip: bool = False) -> str:
    """Loinc_<version>/ with LoincTable/Loinc.csv (+ a decoy PanelsAndForms/Loinc.csv), parts,
    primary part links, an answer list, the component hierarchy (18726-0 with descendants),
    de-DE and fr-FR linguistic variants and the radiology playbook."""
    root = os.path.join(directory, "loinc", f"Loinc_{version}")
    acc = os.path.join(root, "AccessoryFiles")
    rows = []
    for code, comp, system, method, cls, status, lcn, sn, related in LOINC_TERMS:
        r = dict.fromkeys(LOINC_HEADER, "")
        r.update(LOINC_NUM=code, COMPONENT=comp, PROPERTY="Find", TIME_ASPCT="Pt", SYSTEM=system,
                 SCALE_TYP="Doc", METHOD_TYP=method, CLASS=cls, STATUS=status, CLASSTYPE=2,
                 SHORTNAME=sn, LONG_COMMON_NAME=lcn, RELATEDNAMES2=related, ORDER_OBS="Observation",
                 VersionFirstReleased="2.0", VersionLastChanged=version,
                 DisplayName=lcn.replace(" report", "") if "report" in lcn else "")
        if code == "2345-7":
            r.update(PROPERTY="MCnc", SCALE_TYP="Qn", EXAMPLE_UCUM_UNITS="mg/dL", CLASSTYPE=1,
                     DefinitionDescription='Glucose, "the" sugar, in serum')
        rows.append([r[h] for h in LOINC_HEADER])
    _csv_write(os.path.join(root, "LoincTable", "Loinc.csv"), LOINC_HEADER, rows)
    _csv_write(os.path.join(root, "LoincTable", "MapTo.csv"), ["LOINC", "MAP_TO", "COMMENT"],
               [[LOINC_DEPRECATED, LOINC_REPLACEMENT, "Use the diagnostic imaging study term"]])
    # a decoy with the same file name (must not be read as the term table)
    _csv_write(os.path.join(acc, "PanelsAndForms", "Loinc.csv"), ["ParentId", "Loinc", "Name"],
               [["99999-9", "18726-0", "decoy panel"]])
    with open(os.path.join(root, "loinc.xml"), "w", encoding="utf-8") as f:
        f.write(f'<?xml version="1.0"?>\r\n<loinc version="{version}"/>\r\n')
    parts = [("LP29684-5", "COMPONENT", "Radiology", "Radiology"),
             ("LP7839-6", "SYSTEM", "XXX", "Unspecified"),
             ("LP7753-9", "SYSTEM", "Chest", "Chest"),
             ("LP173421-1", "Document.Kind", "Report", "Report"),
             ("LP199988-1", "Rad.Modality.Modality type", "CT", "Computed tomography"),
             ("LP199998-0", "Rad.Anatomic Location.Region Imaged", "Chest", "Chest")]
    _csv_write(os.path.join(acc, "PartFile", "Part.csv"),
               ["PartNumber", "PartTypeName", "PartName", "PartDisplayName", "Status"],
               [(c, t, n, d, "ACTIVE") for c, t, n, d in parts])
    _csv_write(os.path.join(acc, "PartFile", "LoincPartLink_Primary.csv"),
               ["LoincNumber", "LongCommonName", "PartNumber", "PartName", "PartCodeSystem",
                "PartTypeName", "LinkTypeName", "Property"],
               [("24627-2", "CT Chest", "LP7753-9", "Chest", "http://loinc.org", "SYSTEM", "Primary",
                 "http://loinc.org/property/SYSTEM")])
    _csv_write(os.path.join(acc, "AnswerFile", "AnswerList.csv"),
               ["AnswerListId", "AnswerListName", "AnswerListOID", "ExtDefinedYN",
                "ExtDefinedAnswerListCodeSystem", "ExtDefinedAnswerListLink", "AnswerStringId",
                "LocalAnswerCode", "LocalAnswerCodeSystem", "SequenceNumber", "DisplayText", "ExtCodeId",
                "ExtCodeDisplayName", "ExtCodeSystem", "ExtCodeSystemVersion",
                "ExtCodeSystemCopyrightNotice", "SubsequentTextPrompt", "Description", "Score"],
               [("LL1234-5", "Section empty reasons", "1.3.6.1.4.1.12009.10.1.1234", "N", None, None,
                 "LA4720-4", None, None, 3, "Not applicable", None, None, None, None, None, None, None, None),
                ("LL1234-5", "Section empty reasons", "1.3.6.1.4.1.12009.10.1.1234", "N", None, None,
                 "LA33-6", None, None, 1, "Yes", None, None, None, None, None, None, None, None),
                ("LL1234-5", "Section empty reasons", "1.3.6.1.4.1.12009.10.1.1234", "N", None, None,
                 "LA32-8", None, None, 2, "No", None, None, None, None, None, None, None, None)])
    _csv_write(os.path.join(acc, "AnswerFile", "LoincAnswerListLink.csv"),
               ["LoincNumber", "LongCommonName", "AnswerListId", "AnswerListName", "AnswerListLinkType",
                "ApplicableContext"],
               [("55115-0", "Requested imaging studies information Document", "LL1234-5",
                 "Section empty reasons", "EXAMPLE", None)])
    # hierarchy: LP root -> LP RAD grouper -> 18726-0 -> 18748-4 -> {18747-6 -> 24627-2, 18755-9 -> 30695-1,
    # 18760-9}; 24627-2 also below the chest grouper (two parents)
    H = [("", 1, "", "LP432695-7", "{component}"),
         ("LP432695-7", 1, "LP432695-7", "LP29684-5", "Radiology"),
         ("LP432695-7.LP29684-5", 1, "LP29684-5", "18726-0", "Radiology studies (set)"),
         ("LP432695-7.LP29684-5.18726-0", 1, "18726-0", "18748-4", "Diagnostic imaging study"),
         ("LP432695-7.LP29684-5.18726-0.18748-4", 1, "18748-4", "18747-6", "CT Study report"),
         ("LP432695-7.LP29684-5.18726-0.18748-4", 2, "18748-4", "18755-9", "MR Study report"),
         ("LP432695-7.LP29684-5.18726-0.18748-4", 3, "18748-4", "18760-9", "US Study report"),
         ("LP432695-7.LP29684-5.18726-0.18748-4.18747-6", 1, "18747-6", "24627-2", "CT Chest"),
         ("LP432695-7.LP29684-5.18726-0.18748-4.18755-9", 1, "18755-9", "30695-1", "MR Head"),
         ("LP432695-7.LP29684-5", 2, "LP29684-5", "LP200000-0", "Chest imaging"),
         ("LP432695-7.LP29684-5.LP200000-0", 1, "LP200000-0", "24627-2", "CT Chest"),
         ("LP432695-7", 2, "LP432695-7", "LP18049-4", "Chemistry"),
         ("LP432695-7.LP18049-4", 1, "LP18049-4", "2345-7", "Glucose SerPl-mCnc")]
    _csv_write(os.path.join(acc, "ComponentHierarchyBySystem", "ComponentHierarchyBySystem.csv"),
               ["PATH_TO_ROOT", "SEQUENCE", "IMMEDIATE_PARENT", "CODE", "CODE_TEXT"], H)
    lv = os.path.join(acc, "LinguisticVariants")
    _csv_write(os.path.join(lv, "LinguisticVariants.csv"),
               ["ID", "ISO_LANGUAGE", "ISO_COUNTRY", "LANGUAGE_NAME", "PRODUCER"],
               [(15, "de", "DE", "German (GERMANY)", "Synthetic"),
                (18, "fr", "FR", "French (FRANCE)", "Synthetic"),
                (24, "de", "AT", "German (AUSTRIA)", "Synthetic")])  # no deAT24 file: skipped
    vh = ["LOINC_NUM", "COMPONENT", "PROPERTY", "TIME_ASPCT", "SYSTEM", "SCALE_TYP", "METHOD_TYP", "CLASS",
          "SHORTNAME", "LONG_COMMON_NAME", "RELATEDNAMES2", "LinguisticVariantDisplayName"]
    _csv_write(os.path.join(lv, "deDE15LinguisticVariant.csv"), vh,
               [("24627-2", "Thorax CT", "Befund", "Zeitpunkt", "Thorax", "Dok", "CT", "RAD", None,
                 "CT Thorax", None, None),
                ("18726-0", "Radiologische Untersuchungen", None, None, None, None, None, None, None,
                 "Radiologische Untersuchungen (Set)", None, None),
                ("18748-4", None, None, None, None, None, None, None, None, None, None, None)])
    _csv_write(os.path.join(lv, "frFR18LinguisticVariant.csv"), vh,
               [("24627-2", None, None, None, None, None, None, None, None, "TDM Thorax", None, None),
                ("2345-7", None, None, None, None, None, None, None, None,
                 "Glucose [Masse/Volume] S\u00e9rum/Plasma", None, None)])
    _csv_write(os.path.join(acc, "LoincRsnaRadiologyPlaybook", "LoincRsnaRadiologyPlaybook.csv"),
               ["LoincNumber", "LongCommonName", "PartNumber", "PartTypeName", "PartName",
                "PartSequenceOrder", "RID", "PreferredName", "RPID", "LongName"],
               [("24627-2", "CT Chest", "LP199988-1", "Rad.Modality.Modality type", "CT", "A", "RID10311",
                 "computed tomography", "RPID16", "CT Chest"),
                ("24627-2", "CT Chest", "LP199998-0", "Rad.Anatomic Location.Region Imaged", "Chest", "A",
                 "RID1243", "chest", "RPID16", "CT Chest"),
                ("30695-1", "MR Head", "LP199998-0", "Rad.Anatomic Location.Region Imaged", "Head", "A",
                 "RID9080", "head", "RPID17", "MR Head")])
    if zip:
        zpath = os.path.join(directory, f"Loinc_{version}.zip")
        with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
            for d, _dirs, files in os.walk(root):
                for f in files:
                    full = os.path.join(d, f)
                    z.write(full, os.path.relpath(full, root))   # no wrapping folder
        return zpath
    return root
