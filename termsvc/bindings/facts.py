"""The bindings of the HL7 Europe Imaging Report IG (1.0.0-ballot), both editions, as facts: the 39
bindings its profiles declare (taken from the IG source, hl7-eu/imaging @ab1b10af), the
cross-version extension its R4 edition binds, and where FHIR R4 core binds an element otherwise
than R5 core (the core bindings themselves are read from the StructureDefinitions the build holds:
termsvc.bindings.core).

A path is the element the binding is on, from its resource (or from the extension, for an
extension's own binding): `name[slice]` steps into a slice; an extension slice selects the
extensions whose url names it. Strength `maximum` is an additional binding of purpose maximum.
"""
from dataclasses import dataclass

from termsvc.fhir.dicom import CID_URL

R5_BASE = "http://hl7.eu/fhir/imaging-r5"
R4_BASE = "http://hl7.eu/fhir/imaging"
BASES = {"R5": R5_BASE, "R4": R4_BASE}


@dataclass(frozen=True, slots=True)
class Binding:
    edition: str          # "R4" or "R5"
    profile: str | None   # None: a FHIR core binding of the resource type
    resource_type: str    # what the profile constrains ("Extension" for an extension)
    path: str
    strength: str         # required, extensible, preferred, example, maximum
    value_set: str
    origin: str           # who publishes the value set

    @property
    def required(self) -> bool:
        return self.strength == "required"


# profile -> the resource type it constrains
PROFILES = {
    "DocumentReferenceImagingReport": "DocumentReference", "DocumentReferenceKeyImageEuImaging": "DocumentReference",
    "AnatomicalRegionExtension": "Extension", "CompositionEuImaging": "Composition",
    "DiagnosticReportEuImaging": "DiagnosticReport", "DiagnosticReportEuImagingMinimalMetadata": "DiagnosticReport",
    "ObservationGestationalAgeEuImaging": "Observation", "ObservationRadiationDoseEuImaging": "Observation",
    "DeviceEuImaging": "Device", "ImagingStudyEuImaging": "ImagingStudy", "ServiceRequestOrderEuImaging":
    "ServiceRequest", "ProcedureEuImaging": "Procedure",
}

# (profile, path per edition (R4, R5), strength, value set: IG-local id or canonical, origin)
_IG = [
    ("DocumentReferenceImagingReport", ("extension[bodysite].extension[concept].valueCodeableConcept",
                                        "bodySite.concept"), "extensible", "im-anatomical-region-valueset"),
    ("AnatomicalRegionExtension", ("valueCodeableConcept",) * 2, "required", "im-anatomical-region-valueset"),
    ("CompositionEuImaging", ("type",) * 2, "preferred", "ImagingReportTypesEuVSEuImaging"),
    ("CompositionEuImaging", ("category[diagnostic-service]",) * 2, "required",
     "http://hl7.org/fhir/ValueSet/diagnostic-service-sections"),
    ("CompositionEuImaging", ("section.emptyReason",) * 2, "preferred", "SectionEmptyReasonEuImaging"),
    ("DiagnosticReportEuImaging", ("code",) * 2, "preferred", "ImagingReportTypesEuVSEuImaging"),
    ("DiagnosticReportEuImagingMinimalMetadata", ("code",) * 2, "preferred", "ImagingReportTypesEuVSEuImaging"),
    ("DiagnosticReportEuImaging", ("category[diagnostic-service]",) * 2, "required",
     "http://hl7.org/fhir/ValueSet/diagnostic-service-sections"),
    ("DiagnosticReportEuImagingMinimalMetadata", ("category[diagnostic-service]",) * 2, "required",
     "http://hl7.org/fhir/ValueSet/diagnostic-service-sections"),
    ("DiagnosticReportEuImaging", ("extension[note].valueAnnotation.extension[annotation-type].valueCodeableConcept",
                                   "note.extension[annotation-type].valueCodeableConcept"), "preferred",
     "valueset-diagnosticreport-notes"),
    ("DiagnosticReportEuImagingMinimalMetadata",
     ("extension[note].valueAnnotation.extension[annotation-type].valueCodeableConcept",
      "note.extension[annotation-type].valueCodeableConcept"), "preferred", "valueset-diagnosticreport-notes"),
    ("ObservationGestationalAgeEuImaging", ("valueQuantity",) * 2, "extensible", "http://hl7.org/fhir/ValueSet/age-units"),
    ("DeviceEuImaging", ("type",) * 2, "extensible", "DeviceEuImagingType"),
    ("ImagingStudyEuImaging", ("series.performer.function",) * 2, "extensible", "im-imaging-study-performer-type"),
    ("DocumentReferenceKeyImageEuImaging", ("type",) * 2, "preferred",
     "http://terminology.hl7.org/ValueSet/image-reference-type"),
    ("ServiceRequestOrderEuImaging", ("code",) * 2, "example", "im-procedure-type"),
    ("ProcedureEuImaging", ("code",) * 2, "extensible", "im-procedure-type"),
    ("ObservationRadiationDoseEuImaging", ("code",) * 2, "preferred", "ImEUValueSetAllSnomedLoinc"),
    ("ObservationGestationalAgeEuImaging", ("valueQuantity",) * 2, "maximum",
     "http://hl7.org/fhir/ValueSet/all-time-units"),
]
# R5 only: the pregnancy status slice (the FSH gives no strength: required)
_IG_R5_ONLY = [("ServiceRequestOrderEuImaging", "supportingInfo[pregnancy]", "required",
                "http://hl7.org/fhir/uv/ips/ValueSet/pregnancy-status-uv-ips")]

# The R4 edition carries R5's DocumentReference.modality in a cross-version extension
_R4_XVER = [("R4", "DocumentReference", "extension[modality].valueCodeableConcept", "extensible",
             "http://hl7.org/fhir/5.0/ValueSet/R5-dicom-cid-33-Modality-for-R4")]

# The FHIR core bindings come from the core StructureDefinitions the build loaded (bindings.core); R4
# core is not in the default build, so R4 resources are judged with R5's, except these elements of
# the profiled resources (and their data types) whose R4 binding differs (FHIR 4.0.1):
# (path, types, strength, value set - or, for a code element, (system, the codes R4 allows)).
_FHIR = "http://hl7.org/fhir/"
_COMPOSITION_STATUS_R4 = (_FHIR + "composition-status", ("preliminary", "final", "amended", "entered-in-error"))
_DOCUMENT_RELATIONSHIP_R4 = (_FHIR + "document-relationship-type", ("replaces", "transforms", "signs", "appends"))
R4_DIFFERENCES = [
    # R4: Coding, DICOM CID 29 (R5: CodeableConcept, CID 33)
    ("ImagingStudy.modality", ("Coding",), "extensible", CID_URL.format(29)),
    ("ImagingStudy.series.modality", ("Coding",), "extensible", CID_URL.format(29)),
    # R4 only (R5: procedure, preferred, the LOINC/RSNA playbook)
    ("ImagingStudy.procedureCode", ("CodeableConcept",), "extensible", "http://www.rsna.org/RadLex_Playbook.aspx"),
    # R5 added 'modified'
    ("DiagnosticReport.status", ("code",), "required",
     (_FHIR + "diagnostic-report-status", ("registered", "partial", "preliminary", "final", "amended", "corrected",
                                           "appended", "cancelled", "entered-in-error", "unknown"))),
    # R5 added registered, partial, corrected, appended, cancelled, deprecated, unknown
    ("Composition.status", ("code",), "required", _COMPOSITION_STATUS_R4),
    ("DocumentReference.docStatus", ("code",), "required", _COMPOSITION_STATUS_R4),
    # R4: a required code (R5: a preferred CodeableConcept)
    ("Composition.attester.mode", ("code",), "required",
     (_FHIR + "composition-attestation-mode", ("personal", "professional", "legal", "official"))),
    # R4: relatesTo.code, a required code (R5: Composition.relatesTo is a RelatedArtifact; DocumentReference's
    # an extensible CodeableConcept)
    ("Composition.relatesTo", ("BackboneElement",), None, None),
    ("Composition.relatesTo.code", ("code",), "required", _DOCUMENT_RELATIONSHIP_R4),
    ("DocumentReference.relatesTo.code", ("code",), "required", _DOCUMENT_RELATIONSHIP_R4),
    # R5 dropped 'unknown'
    ("Device.status", ("code",), "required",
     (_FHIR + "device-status", ("active", "inactive", "entered-in-error", "unknown"))),
    # R5 added 'electronic-transmission'
    ("Device.udiCarrier.entryType", ("code",), "required",
     (_FHIR + "udi-entry-type", ("barcode", "rfid", "manual", "card", "self-reported", "unknown"))),
    # R4 only (R5: Device.name.type, other codes)
    ("Device.deviceName", ("BackboneElement",), None, None),
    ("Device.deviceName.type", ("code",), "required",
     (_FHIR + "device-nametype", ("udi-label-name", "user-friendly-name", "patient-reported-name",
                                  "manufacturer-name", "model-name", "other"))),
    # R5 added 'ad'
    ("Quantity.comparator", ("code",), "required", (_FHIR + "quantity-comparator", ("<", "<=", ">=", ">"))),
]


def _value_set(ref: str, edition: str) -> str:
    return ref if "/" in ref else f"{BASES[edition]}/ValueSet/{ref}"


def origin(value_set: str) -> str:
    for prefix, origin in ((R5_BASE, "IG"), (R4_BASE, "IG"), ("http://hl7.org/fhir/uv/ips/", "IPS"),
                           ("http://hl7.org/fhir/5.0/", "FHIR cross-version (hl7.fhir.uv.xver-r5.r4)"),
                           ("http://hl7.org/fhir/", "FHIR core"), ("http://terminology.hl7.org/", "THO"),
                           ("http://dicom.nema.org/", "DICOM"), ("http://loinc.org", "LOINC")):
        if value_set.startswith(prefix):
            return origin
    return "other"


def _all() -> list[Binding]:
    out = []
    for edition, index in (("R4", 0), ("R5", 1)):
        for profile, paths, strength, ref in _IG:
            vs = _value_set(ref, edition)
            out.append(Binding(edition, profile, PROFILES[profile], paths[index], strength, vs, origin(vs)))
        if edition == "R5":
            out += [Binding("R5", p, PROFILES[p], path, s, vs, origin(vs)) for p, path, s, vs in _IG_R5_ONLY]
    out += [Binding(e, None, rtype, path, s, vs, origin(vs)) for e, rtype, path, s, vs in _R4_XVER]
    return out


BINDINGS: list[Binding] = _all()


def bindings_for(edition: str, profiles: list[str], resource_type: str) -> list[Binding]:
    """The facts' bindings that apply to a resource of this type and edition claiming these IG
    profiles: the profiles' own (and the R4 cross-version extension)."""
    return [b for b in BINDINGS if b.edition == edition and b.resource_type == resource_type
            and (b.profile is None or b.profile in profiles)]


def extension_bindings(edition: str) -> list[Binding]:
    """The bindings of the IG's extensions (applied wherever the extension appears)."""
    return [b for b in BINDINGS if b.edition == edition and b.resource_type == "Extension"]
