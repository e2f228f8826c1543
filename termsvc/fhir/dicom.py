"""DICOM context groups (PS3.16 CIDs) as FHIR names them: the canonical URL FHIR R5 core uses."""
import re

CID_URL = "http://dicom.nema.org/medical/dicom/current/output/chtml/part16/sect_CID_{}.html"

_SHORTHAND = re.compile(r"CID[\s_-]*(\d+)", re.IGNORECASE)


def cid_url(name: str) -> str | None:
    """The canonical URL of a context group named as DICOM writes it ("CID 33", "CID-33", "cid33")."""
    m = _SHORTHAND.fullmatch(name.strip())
    return CID_URL.format(int(m.group(1))) if m else None
