"""What the terminology operations answer, typed: `ops/` returns these, `fhir/render/` says them as R5 or
R4 Parameters (or a ValueSet), and the callers in this process - the judge of the mapping checks, the
local client, the command line - read them as they are. Nothing here knows a wire format.

Values that are FHIR data types in every edition (a Coding, a designation's `use`, an Extension the
code system carries, a property's value with its value[x] key) are kept as FHIR JSON: they are data,
said the same way in R4 and R5.
"""
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]


@dataclass(slots=True)
class Issue:
    """One finding (an OperationOutcome.issue)."""
    severity: str                       # fatal | error | warning | information
    code: str                           # the issue type: invalid, not-found, code-invalid, ...
    text: str
    tx_type: str | None = None          # its code in HL7's tx-issue-type code system (not-found, invalid-code, ...)
    expression: list[str] = field(default_factory=list)
    message_id: str | None = None       # the HL7 (FHIR validator) message it is
    diagnostics: str | None = None      # what else helps: figures, what to do instead

    @property
    def is_error(self) -> bool:
        return self.severity in ("error", "fatal")


@dataclass(slots=True)
class Failure:
    """An operation that could not answer (one of a batch's): its HTTP status and why."""
    status: int
    issues: list[Issue]


# -- $validate-code --------------------------------------------------------------------------------

@dataclass(slots=True)
class Validation:
    """The answer of ValueSet/$validate-code and CodeSystem/$validate-code. The code, system, version,
    display ... are those of the concept found (for a CodeableConcept: of the coding found, else none)."""
    result: bool = True
    code: str | None = None
    system: str | None = None
    version: str | None = None
    display: str | None = None          # the code system's (or value set's) display, in the language asked for
    normalized_code: str | None = None  # the code as the code system writes it (when it differs by case)
    inactive: bool = False
    status: str | None = None           # the concept's status, when not plainly active/inactive
    issues: list[Issue] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)   # the texts of the issues that make up the message
    unknown_systems: list[str] = field(default_factory=list)   # the coding's own code system is not known
    caused_by: list[str] = field(default_factory=list)  # a negative answer depends on these code systems (versions)
    codeable_concept: JSON | None = None  # the CodeableConcept validated, as it was sent
    # whether the code is in the value set: None when the server cannot say (a version it lacks, a fragment)
    in_value_set: bool | None = True

    @property
    def message(self) -> str | None:
        """The messages, once each, joined (None without any)."""
        return "; ".join(dict.fromkeys(self.messages)) if self.messages else None


# the verdict of a $validate-code answer
VALID, INVALID, CANNOT_JUDGE = "valid", "invalid", "cannot-judge"
NO_SYSTEM_HAS_IT = "Unable_to_resolve_system__value_set_has_no_matches"   # HL7's message id


def verdict_of(result: bool, unknown: list[str], caused_by: list[str], issues: list[Issue]) -> tuple[str, str | None]:
    """(verdict, reason) of a $validate-code answer: the one reading of it that every surface uses
    (the clients, the judge of the resource, mapping and DICOM checks). It cannot be judged when the
    server says the answer depends on what it lacks: a code system (version) the value set needs
    (`caused_by`: x-caused-by-unknown-system), the code's own (`unknown`: x-unknown-system), or a code a
    fragment does not hold (a warning of tx-issue-type invalid-code, HL7's UNKNOWN_CODE_IN_FRAGMENT:
    `result` is true by HL7's convention) - unless it says the value set does not take the code (an error
    not-in-vs: the value set takes no code of that system, or lists others: a no whatever the code system
    holds) -, or when it cannot tell which of the value set's code systems the code is of (several have
    it; when none has it, the code is not in the value set)."""
    outside = any(i.is_error and i.tx_type == "not-in-vs" for i in issues)
    doubts = [i for i in issues if (i.severity == "warning" and i.tx_type == "invalid-code" and not outside)
              or (i.tx_type == "cannot-infer" and i.message_id != NO_SYSTEM_HAS_IT)]
    lacking = caused_by + ([] if outside else unknown)
    if not lacking and not doubts:
        return (VALID if result else INVALID), None
    why = [i.text for i in issues if i.text and (i in doubts or i.tx_type == "not-found")]
    return CANNOT_JUDGE, "; ".join(dict.fromkeys(why)) or "the server lacks " + ", ".join(lacking)


@dataclass(slots=True)
class BatchValidation:
    """ValueSet/$batch-validate-code: one answer per validation, in order."""
    validations: list[Validation | Failure]


# -- $expand ---------------------------------------------------------------------------------------

@dataclass(slots=True)
class Property:
    """A property of a concept: its code and value (`key` its value[x]: valueCode, valueString ...)."""
    code: str
    key: str
    value: Any
    description: str | None = None      # what the value names (the display of a parent code)


@dataclass(slots=True)
class Entry:
    """One code of an expansion (ValueSet.expansion.contains), and the codes under it in a hierarchy."""
    system: str | None
    code: str | None
    version: str | None = None          # said only for code systems the value set includes in several versions
    display: str | None = None
    abstract: bool = False
    inactive: bool = False
    designations: list[JSON] | None = None   # {language, use (Coding), value}
    properties: list[Property] | None = None
    extensions: list[JSON] | None = None     # the concept's extensions an expansion carries along
    contains: list["Entry"] | None = None


@dataclass(slots=True)
class Echo:
    """A parameter an expansion says it used (expansion.parameter): name, value[x] key, value."""
    name: str
    key: str
    value: Any


@dataclass(slots=True)
class Expansion:
    """The answer of ValueSet/$expand."""
    value_set: JSON                     # the value set's own elements the expansion repeats (R5)
    identifier: str
    timestamp: str
    contains: list[Entry]
    parameters: list[Echo]
    total: int | None = None            # None when the expansion is partial (limitedExpansion)
    offset: int | None = None           # for a page
    partial: bool = False               # the first codes of an expansion too large to give whole
    unclosed_reason: str | None = None  # why the expansion is not the whole value set, when it is not
    property_defs: list[JSON] = field(default_factory=list)   # {code, uri} of the properties its codes carry

    @property
    def unclosed(self) -> bool:
        return self.unclosed_reason is not None

    def codes(self) -> list[Entry]:
        """Every code, the nested ones too, in document order."""
        out: list[Entry] = []
        stack = list(reversed(self.contains))
        while stack:
            e = stack.pop()
            out.append(e)
            if e.contains:
                stack.extend(reversed(e.contains))
        return out


# -- $lookup and $subsumes -----------------------------------------------------------------------

@dataclass(slots=True)
class Designation:
    value: str | None
    language: str | None = None
    use: JSON | None = None             # a Coding
    source: str | None = None           # the supplement it comes from (canonical)


@dataclass(slots=True)
class Lookup:
    """The answer of CodeSystem/$lookup."""
    code: str
    system: str
    name: str                           # the code system's
    version: str | None
    display: str | None
    definition: str | None
    abstract: bool
    designations: list[Designation]
    properties: list[Property]
    used_supplements: list[str]


@dataclass(slots=True)
class Subsumption:
    """The answer of CodeSystem/$subsumes."""
    outcome: str                        # equivalent | subsumes | subsumed-by | not-subsumed


# -- $translate -------------------------------------------------------------------------------------

@dataclass(slots=True)
class Match:
    """One translation: a target concept (or none: a source the map says maps to nothing), how it relates to
    the source, and the map it comes from."""
    relationship: str                   # the R5 relationship
    concept: JSON | None                # the target Coding
    origin_map: str | None              # canonical|version of the ConceptMap
    equivalence: str | None = None      # on the R4 endpoint: the R4 equivalence (the map author's word when kept)
    depends_on: list[JSON] = field(default_factory=list)   # the target's dependsOn (R5 shape)
    product: list[JSON] = field(default_factory=list)      # the target's product (R5 shape)
    source: JSON | None = None          # the source Coding (a reverse translation)
    comments: list[str] = field(default_factory=list)      # the target's comment, then its element's
    # (R5, R4): the match as fhir/render/translation renders it (opaque bytes), when made once with a map
    # that is compiled once: an answer is then assembled instead of rendered
    wire: tuple[Any, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def positive(self) -> bool:
        """Does it map (not `not-related-to`; on the R4 endpoint not `unmatched` or `disjoint`)?"""
        if self.equivalence is not None:
            return self.equivalence not in ("not-related-to", "unmatched", "disjoint")
        return self.relationship != "not-related-to"


@dataclass(slots=True)
class Translation:
    """The answer of ConceptMap/$translate."""
    result: bool
    matches: list[Match]
    message: str | None = None
