"""CapabilityStatement, TerminologyCapabilities and $versions."""
import datetime
from importlib.metadata import version

import termsvc
from termsvc import deadline
from termsvc.fhir.operations import EXPAND, OPERATIONS, R4, R5, SEARCH_PARAMETERS
from termsvc.store.queries import SEARCH_COLUMNS

SOFTWARE_VERSION = version("termsvc")
RELEASE_DATE = "2026-11-27"
TX_TEST_VERSION = "1.9.3"
CONTENT_ORDER = ("complete", "fragment", "example", "not-present")


def fhir_version(r4: bool) -> str:
    return "4.0.1" if r4 else "5.0.0"


def search_params() -> list[dict]:
    """The search parameters a search takes as criteria (the declared ones the store matches), with their
    FHIR search type: a uri's is uri; a code's, or a text matched exactly, token; a text matched by its
    beginning or a part of it, string."""
    return [{"name": p.name, "type": "uri" if p.type == "uri" else
             "token" if p.type == "code" or SEARCH_COLUMNS[p.name][1] == "exact" else "string"}
            for p in SEARCH_PARAMETERS if p.name in SEARCH_COLUMNS]


def capability_statement(base_url: str, r4: bool = False) -> dict:
    search = search_params()
    resources = [{"type": rtype, "interaction": [{"code": "read"}, {"code": "search-type"}], "searchParam": search,
                  "operation": [{"name": op.name, "definition": op.definition} for op in OPERATIONS.values()
                                if op.resource == rtype]}
                 for rtype in ("CodeSystem", "ConceptMap", "ValueSet")]
    return {
        "resourceType": "CapabilityStatement",
        "extension": [
            {"url": "http://hl7.org/fhir/uv/application-feature/StructureDefinition/feature",
             "extension": [{"url": "definition", "valueCanonical": "http://hl7.org/fhir/uv/tx-tests/FeatureDefinition/test-version"},
                           {"url": "value", "valueCode": TX_TEST_VERSION}]},
            {"url": "http://hl7.org/fhir/uv/application-feature/StructureDefinition/feature",
             "extension": [{"url": "definition", "valueCanonical": "http://hl7.org/fhir/uv/tx-ecosystem/FeatureDefinition/CodeSystemAsParameter"},
                           {"url": "value", "valueBoolean": True}]},
        ],
        "url": base_url.rstrip("/") + "/metadata",
        "version": SOFTWARE_VERSION,
        "name": "termsvc",
        "title": "termsvc terminology server for the HL7 Europe Imaging Report IG",
        "status": "active",
        "date": RELEASE_DATE,
        "kind": "instance",
        "instantiates": ["http://hl7.org/fhir/CapabilityStatement/terminology-server"],
        "software": {"name": "termsvc", "version": SOFTWARE_VERSION, "releaseDate": RELEASE_DATE},
        "implementation": {"description": termsvc.__doc__.strip(), "url": base_url},
        "fhirVersion": fhir_version(r4),
        "format": ["application/fhir+json", "application/json"],
        "rest": [{"mode": "server", "resource": resources, "interaction": [{"code": "batch"}],
                  "operation": [{"name": "versions", "definition": "http://hl7.org/fhir/OperationDefinition/-s-versions"}]}],
    }


def terminology_capabilities(store, base_url: str, r4: bool = False) -> dict:
    by_url: dict[str, list] = {}
    for url, cs_version, content in deadline.bounded(store.code_system_versions()):
        if url:
            by_url.setdefault(url, []).append((cs_version, content))
    code_systems = []
    for url, versions in by_url.items():
        entry: dict[str, object] = {"uri": url}
        vs = [{"code": v} for v, _ in versions if v]
        if vs:
            entry["version"] = vs
        if not r4:   # R5 (1..1): the fullest content held of any version
            contents = {c for _, c in versions}
            entry["content"] = next((c for c in CONTENT_ORDER if c in contents), "complete")
        code_systems.append(entry)
    built = store.meta("built_at") or datetime.date.today().isoformat()
    return {
        "resourceType": "TerminologyCapabilities",
        "url": base_url.rstrip("/") + "/metadata?mode=terminology",
        "version": SOFTWARE_VERSION,
        "name": "termsvc",
        "title": "termsvc terminology capabilities",
        "status": "active",
        "date": built[:10],
        "kind": "instance",
        "software": {"name": "termsvc", "version": SOFTWARE_VERSION},
        "codeSystem": code_systems,
        "expansion": {"hierarchical": True, "paging": True, "incomplete": False,
                      "parameter": [{"name": p.name} for p in EXPAND.advertised(R4 if r4 else R5)],
                      "textFilter": "Word-prefix search over displays and designations, case and accent insensitive"},
        "codeSearch": "in-compose-or-expansion" if not r4 else "all",
        "validateCode": {"translations": True},
        "translation": {"needsMap": False},
        "closure": {"translation": False},
    }


def versions(r4: bool = False) -> dict:
    v = "4.0" if r4 else "5.0"
    return {"resourceType": "Parameters", "parameter": [{"name": "version", "valueString": v},
                                                        {"name": "default", "valueString": v}]}
