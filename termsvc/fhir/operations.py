"""The FHIR operations this server answers, each declared once: its parameters (name, FHIR type,
cardinality, the FHIR versions that spell it so, whether an expansion echoes it) and where it is
served. Everything else is derived from here: parameter parsing and typing (fhir/params.py), the
router's table (api/dispatch.py), /openapi.json, the CapabilityStatement and TerminologyCapabilities
(api/metadata.py) and the expansion's echo (ops/expand.py).

A parameter is advertised only when it changes an answer (tests/test_operation_parameters.py holds
a request pair for each that shows it). One accepted for compatibility that changes nothing here
says so in `no_effect` and is not advertised.
"""
from dataclasses import dataclass, replace

R4, R5 = "R4", "R5"
BOTH = (R4, R5)

# how an expansion echoes a parameter in expansion.parameter
NOT_ECHOED, ECHOED, ECHOED_WHEN_USED = "no", "always", "when it chose a code system version"

OPERATION_DEFINITIONS = "http://hl7.org/fhir/OperationDefinition/"


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    type: str                       # FHIR type: boolean, integer, unsignedInt, positiveInt, string, code, uri,
    #                                 canonical, date, dateTime, instant, Coding, CodeableConcept, Resource, or
    #                                 Parameters (a resource or parts)
    doc: str
    repeats: bool = False           # 0..* (else 0..1)
    editions: tuple[str, ...] = BOTH          # the FHIR versions whose operation spells it this way
    echo: str = NOT_ECHOED
    resource_types: tuple[str, ...] = ()      # for type Resource: the resource types it takes
    no_effect: str = ""             # why it changes no answer here (then it is not advertised)
    values: tuple[str, ...] = ()    # a code from a fixed set: its codes (else any)
    pattern: str = ""               # the syntax of its values beyond its type's (a regular expression) ...
    pattern_text: str = ""          # ... and in words

    @property
    def advertised(self) -> bool:
        return not self.no_effect


@dataclass(frozen=True, slots=True)
class Operation:
    resource: str                   # ValueSet, CodeSystem, ConceptMap
    name: str                       # without the $
    summary: str
    parameters: tuple[Parameter, ...]
    instance: bool = True           # also served on an instance: {resource}/{id}/${name}
    result: str = "Parameters"      # the resource type of the answer

    @property
    def label(self) -> str:
        return f"{self.resource}/${self.name}"

    @property
    def definition(self) -> str:
        return f"{OPERATION_DEFINITIONS}{self.resource}-{self.name}"

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    def advertised(self, edition: str) -> list[Parameter]:
        return [p for p in self.parameters if p.advertised and edition in p.editions]

    def echoed(self, how: str) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters if p.echo == how)

    @property
    def without_effect(self) -> tuple[tuple[str, str], ...]:
        """(parameter, what the answer says when it is given) for those that change nothing here (`date`:
        a build holds one state of each code system): every operation says it, in its own answer's way."""
        return tuple((p.name, f"The parameter '{p.name}' changes nothing here: {p.no_effect}")
                     for p in self.parameters if p.no_effect)


def _echoed(params: tuple[Parameter, ...], how: str = ECHOED) -> tuple[Parameter, ...]:
    return tuple(replace(p, echo=how) for p in params)


_p = Parameter   # short, for the tables below


# -- shared parameters ---------------------------------------------------------------------------

REQUEST = (
    _p("tx-resource", "Resource", "a CodeSystem, ValueSet or ConceptMap used for this request only", repeats=True,
       resource_types=("CodeSystem", "ValueSet", "ConceptMap")),
    _p("cache-id", "string", "keep the tx-resources of this request for later ones with the same cache-id"),
)
VERSION_CHOICE = (
    _p("system-version", "canonical", "system|version: the version of a code system to use when none is stated",
       repeats=True),
    _p("check-system-version", "canonical", "system|version: refuse any other version of that code system",
       repeats=True),
    _p("force-system-version", "canonical", "system|version: use this version whatever is stated", repeats=True),
)
LATEST = _p("default-to-latest-version", "boolean", "take the latest version when the one asked for is not loaded")
USE_SUPPLEMENT = _p("useSupplement", "canonical", "canonical URL of a code system supplement to use", repeats=True)
VALUE_SET = (
    _p("url", "uri", "canonical URL of the value set (url|version allowed)"),
    _p("valueSet", "Resource", "the value set itself", resource_types=("ValueSet",)),
    _p("valueSetVersion", "string", "version of the value set"),
    _p("context", "uri", "the canonical URL of the value set, when url is not given (a StructureDefinition#path"
                         " context is not resolved)"),
    USE_SUPPLEMENT,
)
ACTIVE_ONLY = _p("activeOnly", "boolean", "only active codes")
DEFAULT_VS_VERSION = _p("default-valueset-version", "canonical",
                        "url|version of an imported value set stated without a version", repeats=True)
DATE = _p("date", "dateTime", "the date for which the answer is wanted",
          no_effect="a build holds one state of each code system and value set: the answer is that state's")
DISPLAY_LANGUAGE = _p("displayLanguage", "code", "language of the displays (else Accept-Language)")
CODING_INPUT = (
    _p("code", "code", "the code"),
    _p("system", "uri", "the code system's canonical URL"),
    _p("systemVersion", "string", "the code system's version"),
    _p("version", "string", "the code system's version"),
    _p("display", "string", "the display to check"),
    _p("coding", "Coding", "a Coding (system|code in a query string)"),
    _p("codeableConcept", "CodeableConcept", "a CodeableConcept"),
    _p("lenient-display-validation", "boolean", "a wrong display is a warning, not an error"),
)

# -- the operations ------------------------------------------------------------------------------

EXPAND = Operation("ValueSet", "expand", "the codes of a value set", result="ValueSet", parameters=(
    *VALUE_SET,
    *_echoed((
        ACTIVE_ONLY, DEFAULT_VS_VERSION, DISPLAY_LANGUAGE, LATEST,
        _p("filter", "string", "text filter: every word starts a word of the display, code or a designation"),
        _p("count", "unsignedInt", "codes per page"),
        _p("offset", "unsignedInt", "codes skipped"),
        _p("includeDesignations", "boolean", "include the designations of each code"),
        _p("designation", "string", "the designations to include: a language, or system|code of a use",
           repeats=True),
        _p("includeDefinition", "boolean", "include the value set's definition (its compose)"),
        _p("excludeNested", "boolean", "a flat list, not a hierarchy"),
        _p("excludeNotForUI", "boolean", "leave out abstract codes"),
        _p("excludePostCoordinated", "boolean", "leave out post-coordinated codes",
           no_effect="expansions here never hold post-coordinated codes"),
        _p("limitedExpansion", "boolean", "past the limit, the first codes (marked valueset-toocostly) instead"
                                          " of a 422"),
    )),
    _p("_limit", "unsignedInt", "the most codes wanted without paging (lowers the setting max_expansion), as the"
                            " HL7 validator says"),
    _p("_incomplete", "boolean", "limitedExpansion, as the HL7 validator says"),
    _p("property", "code", "the properties to return with each code", repeats=True),
    _p("versionsMatch", "boolean", "false: list each code once per version of its code system the value set"
                                   " includes; true: merge them"),
    *_echoed(VERSION_CHOICE, ECHOED_WHEN_USED),
    DATE, *REQUEST))

VS_VALIDATE = Operation("ValueSet", "validate-code", "is a code in a value set", parameters=(
    *VALUE_SET, ACTIVE_ONLY, DEFAULT_VS_VERSION, *CODING_INPUT, DISPLAY_LANGUAGE, DATE,
    _p("abstract", "boolean", "an abstract code is valid (default true)"),
    _p("inferSystem", "boolean", "infer the code system of a code given without one from the value set"),
    _p("valueset-membership-only", "boolean", "check membership only, not the display"),
    *VERSION_CHOICE, LATEST, *REQUEST))

BATCH_VALIDATE = Operation("ValueSet", "batch-validate-code", "many $validate-code at once", instance=False,
                           parameters=(
    _p("validation", "Parameters", "one validation (a Parameters resource, or parts): the $validate-code"
                                   " parameters; the other parameters are the defaults of every validation",
       repeats=True),
    *VS_VALIDATE.parameters))

CS_VALIDATE = Operation("CodeSystem", "validate-code", "is a code in a code system", parameters=(
    _p("url", "uri", "canonical URL of the code system"),
    _p("codeSystem", "Resource", "the code system itself", resource_types=("CodeSystem",)),
    *CODING_INPUT, DISPLAY_LANGUAGE, DATE, ACTIVE_ONLY, USE_SUPPLEMENT, *VERSION_CHOICE, LATEST, *REQUEST))

LOOKUP = Operation("CodeSystem", "lookup", "what a code system says about a code", parameters=(
    _p("system", "uri", "the code system's canonical URL"),
    _p("code", "code", "the code"),
    _p("version", "string", "the code system's version"),
    _p("coding", "Coding", "a Coding (system|code in a query string)"),
    _p("property", "code", "the properties to return (default: all)", repeats=True),
    DISPLAY_LANGUAGE,
    _p("useSupplement", "canonical", "canonical URL of a supplement", repeats=True),
    DATE, *REQUEST))

SUBSUMES = Operation("CodeSystem", "subsumes", "how two codes of a code system relate", parameters=(
    _p("codeA", "code", "the first code"),
    _p("codeB", "code", "the second code"),
    _p("system", "uri", "the code system's canonical URL"),
    _p("version", "string", "the code system's version"),
    _p("codingA", "Coding", "the first Coding (system|code in a query string)"),
    _p("codingB", "Coding", "the second Coding (system|code in a query string)"),
    *REQUEST))

TRANSLATE = Operation("ConceptMap", "translate", "the codes a concept maps to", parameters=(
    _p("url", "uri", "canonical URL of the concept map"),
    _p("conceptMap", "Resource", "the concept map itself", resource_types=("ConceptMap",)),
    _p("conceptMapVersion", "string", "version of the concept map"),
    _p("sourceCode", "code", "the code to translate", editions=(R5,)),
    _p("code", "code", "the code to translate", editions=(R4,)),
    _p("system", "uri", "the code system of the code"),
    _p("sourceSystem", "uri", "the code system of the code", editions=(R5,)),
    _p("version", "string", "the version of that code system"),
    _p("sourceVersion", "string", "the version of that code system", editions=(R5,)),
    _p("sourceCoding", "Coding", "the Coding to translate (system|code in a query string)", editions=(R5,)),
    _p("coding", "Coding", "the Coding to translate (system|code in a query string)", editions=(R4,)),
    _p("sourceCodeableConcept", "CodeableConcept", "the CodeableConcept to translate", editions=(R5,)),
    _p("codeableConcept", "CodeableConcept", "the CodeableConcept to translate", editions=(R4,)),
    _p("targetCode", "code", "a target code: translate in reverse", editions=(R5,)),
    _p("targetCoding", "Coding", "a target Coding: translate in reverse", editions=(R5,)),
    _p("targetCodeableConcept", "CodeableConcept", "a target CodeableConcept: translate in reverse",
       editions=(R5,)),
    _p("sourceScope", "uri", "the value set of the source", editions=(R5,)),
    _p("source", "uri", "the value set of the source", editions=(R4,)),
    _p("targetScope", "uri", "the value set of the targets", editions=(R5,)),
    _p("target", "uri", "the value set of the targets", editions=(R4,)),
    _p("targetSystem", "uri", "the code system of the targets", editions=(R5,)),
    _p("targetsystem", "uri", "the code system of the targets (in reverse: of the sources)", editions=(R4,)),
    _p("reverse", "boolean", "translate from target to source", editions=(R4,)),
    _p("dependency", "Parameters", "what else is known of the concept (parts attribute + value; R4 element + concept):"
                                   " targets whose dependsOn it contradicts are left out", repeats=True),
    *REQUEST))

# in the order the CapabilityStatement lists them
OPERATIONS: dict[tuple[str, str], Operation] = {
    (op.resource, op.name): op for op in (LOOKUP, CS_VALIDATE, SUBSUMES, TRANSLATE, EXPAND, VS_VALIDATE,
                                          BATCH_VALIDATE)}

# the search of each resource type served (GET [base]/{type}?...): its parameters, read like an operation's
_ELEMENT = r"([A-Z][A-Za-z]*\.)?[a-z][A-Za-z0-9]*"   # an element's name, optionally Type.name
SEARCH_PARAMETERS = (
    _p("url", "uri", "canonical URL"),
    _p("version", "string", "version"),
    _p("name", "string", "name (prefix)"),
    _p("title", "string", "title (contains)"),
    _p("status", "code", "status"),
    _p("_id", "string", "id"),
    _p("_summary", "code", "true: without the content; text: the narrative, id, meta and the mandatory elements;"
                           " data: without the narrative; count: only the total",
       values=("true", "false", "text", "data", "count")),
    _p("_elements", "string", "the elements wanted, comma-separated (the others are left out)",
       pattern=rf" *{_ELEMENT} *(, *{_ELEMENT} *)*", pattern_text="element names separated by commas"),
    _p("_count", "unsignedInt", "entries per page (at most 1000)"),
    _p("_offset", "unsignedInt", "entries skipped"),
)

# GET [base]/{type}/{id}: the parts of the resource wanted (count is a search's)
READ_PARAMETERS = (
    _p("_summary", "code", "true: without the content; text: the narrative, id, meta and the mandatory elements;"
                           " data: without the narrative", values=("true", "false", "text", "data")),
    *(p for p in SEARCH_PARAMETERS if p.name == "_elements"),
)

# GET [base]/metadata
METADATA_PARAMETERS = (
    _p("mode", "code", "full: the CapabilityStatement; terminology: the TerminologyCapabilities",
       values=("full", "terminology")),
)
