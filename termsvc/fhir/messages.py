"""Every message the terminology operations produce, in one place: message id -> template.

`HL7` holds the messages of the FHIR validator (org.hl7.fhir.utilities i18n), under its ids:
the HL7 terminology-ecosystem tests and the validators that call this server match on them, so
each issue carries its id (the operationoutcome-message-id extension). `OWN` holds this server's
messages that have no HL7 counterpart (no id is sent for those). Templates are `str.format`
strings with named fields.
"""
from collections.abc import Iterable

from termsvc.fhir.outcome import OpError, issue as _issue
from termsvc.results import Issue

HL7 = {
    # value sets and code systems that cannot be found
    "Unable_to_resolve_value_Set_": "A definition for the value Set '{url}' could not be found",
    "UNKNOWN_CODESYSTEM": "A definition for CodeSystem '{system}' could not be found, so the code cannot be validated",
    "UNKNOWN_CODESYSTEM_VERSION": "A definition for CodeSystem '{system}' version '{version}' could not be found, so"
                                  " the code cannot be validated. Valid versions: {versions}",
    "UNKNOWN_CODESYSTEM_VERSION_NONE": "A definition for CodeSystem '{system}' version '{version}' could not be"
                                       " found, so the code cannot be validated. No versions of this code system"
                                       " are known",
    "UNKNOWN_CODESYSTEM_EXP": "A definition for CodeSystem '{system}' could not be found, so the value set cannot be"
                              " expanded",
    "UNKNOWN_CODESYSTEM_VERSION_EXP": "A definition for CodeSystem '{system}' version '{version}' could not be found,"
                                      " so the value set cannot be expanded. Valid versions: {versions}",
    "UNKNOWN_CODESYSTEM_VERSION_EXP_NONE": "A definition for CodeSystem '{system}' version '{version}' could not be"
                                           " found, so the value set cannot be expanded. No versions of this code"
                                           " system are known",
    "VS_EXP_IMPORT_UNK_PINNED": "Unable to find included value set '{url}' version '{version}'",
    "VALUESET_SUPPLEMENT_MISSING": "Required supplement not found: {url}",
    "CODESYSTEM_CS_NO_SUPPLEMENT": "CodeSystem {url} is a supplement, so can't be used as a value in Coding.system",
    "Terminology_TX_System_Relative": "Coding.system must be an absolute reference, not a local reference",
    "Terminology_TX_System_ValueSet2": "The Coding references a value set, not a code system ('{system}')",
    "Coding_has_no_system__cannot_validate": "Coding has no system. A code with no system has no defined meaning,"
                                             " and it cannot be validated. A system should be provided",
    "Unable_to_resolve_system__value_set_has_multiple_matches": "The System URI could not be determined for the"
                                                                " code '{code}' in the ValueSet '{vs}': value set"
                                                                " expansion has multiple matches: [{systems}]",
    "Unable_to_resolve_system__value_set_has_no_matches": "The System URI could not be determined for the code"
                                                          " '{code}' in the ValueSet '{vs}': value set has no"
                                                          " matches for this code",
    # versions of code systems in value sets
    "VALUESET_VALUE_MISMATCH": "The code system '{system}' version '{vs_version}' in the ValueSet include is"
                               " different to the one in the value ('{version}')",
    "VALUESET_VALUE_MISMATCH_DEFAULT": "The code system '{system}' version '{vs_version}' for the versionless"
                                       " include in the ValueSet include is different to the one in the value"
                                       " ('{version}')",
    "VALUESET_VALUE_MISMATCH_CHANGED": "The code system '{system}' version '{vs_version}' resulting from the version"
                                       " '{declared}' in the ValueSet include is different to the one in the value"
                                       " ('{version}')",
    "VALUESET_VERSION_CHECK": "The version '{version}' is not allowed for system '{system}': required to be"
                              " '{wanted}' by a version-check parameter",
    # codes
    "Unknown_Code_in_Version": "Unknown code '{code}' in the CodeSystem '{system}' version '{version}'",
    "UNKNOWN_CODE_IN_FRAGMENT": "Unknown Code '{code}' in the CodeSystem '{system}' version '{version}' - note that"
                                " the code system is labeled as a {content}, so the code may be valid in some other"
                                " fragment",
    "None_of_the_provided_codes_are_in_the_value_set_one": "The provided code '{code}' was not found in the value"
                                                           " set '{vs}'",
    "TX_GENERAL_CC_ERROR_MESSAGE": "No valid coding was found for the value set '{vs}'",
    "CODE_CASE_DIFFERENCE": "The code '{code}' differs from the correct code '{correct}' by case. Although the code"
                            " system '{system}' is case insensitive, implementers are strongly encouraged to use the"
                            " correct case anyway",
    "STATUS_CODE_WARNING_CODE": "The concept '{code}' is valid but is not active",
    "INACTIVE_CONCEPT_FOUND": "The concept '{code}' has a status of {status} and its use should be reviewed",
    "DEPRECATED_CONCEPT_FOUND": "The concept '{code}' is deprecated and its use should be reviewed",
    "CONCEPT_DEPRECATED_IN_VALUESET": "The presence of the concept '{code}' in the system '{system}' in the value"
                                      " set {vs} is marked with a status of deprecated and its use should be"
                                      " reviewed",
    "ABSTRACT_CODE_NOT_ALLOWED": "Code '{system}#{code}' is abstract, and not allowed in this context",
    # displays
    "Display_Name_for__should_be_one_of__instead_of": "Wrong Display Name '{display}' for {system}#{code}. Valid"
                                                      " display is {choices} (for the language(s) '{langs}')",
    "Display_Name_WS_for__should_be_one_of__instead_of": "Wrong whitespace in Display Name '{display}' for"
                                                         " {system}#{code}. Valid display is {choices} (for the"
                                                         " language(s) '{langs}')",
    "NO_VALID_DISPLAY_FOUND_NONE_FOR_LANG_ERR": "Wrong Display Name '{display}' for {system}#{code}. There are no"
                                                " valid display names found for language(s) '{langs}'. Default"
                                                " display is '{default}'",
    "NO_VALID_DISPLAY_FOUND_NONE_FOR_LANG_OK": "There are no valid display names found for the code"
                                               " {system}#{code} for language(s) '{langs}'. The display is"
                                               " '{display}' which is a valid display for the default language",
    "INACTIVE_DISPLAY_FOUND": "'{display}' is no longer considered a correct display for code '{code}' (status ="
                              " {status}). The correct display is one of {choices}.",
    "VALUESET_TOO_COSTLY": "The value set '{url}' expansion has too many codes to display (>{limit})",
    # value set definitions
    "VALUESET_CIRCULAR_REFERENCE": "Cyclic reference to value set {url} (via {path})",
    "UNABLE_TO_HANDLE_SYSTEM_FILTER_WITH_NO_VALUE": "The system {system} filter with property = {property}, op ="
                                                    " {op} has no value",
    # status of the resources used
    "MSG_DRAFT": "Reference to draft {type} {url}",
    "MSG_EXPERIMENTAL": "Reference to experimental {type} {url}",
    "MSG_DEPRECATED": "Reference to deprecated {type} {url}",
    "MSG_WITHDRAWN": "Reference to withdrawn {type} {url}",
}

OWN = {
    # request input
    "param-boolean": "The parameter '{name}' must be true or false{value}",
    "param-integer": "The parameter '{name}' must be an integer, not '{value}'",
    "param-range": "The parameter '{name}' is out of range: {value}",
    "param-negative": "The parameter '{name}' must not be negative",
    "param-minimum": "The parameter '{name}' must be {minimum} or more, not {value}",
    "param-simple": "The parameter '{name}' must be a simple value",
    "param-not-array": "Parameters.parameter must be an array",
    "param-entry": "{where} must be an object (a parameter), not {got}",
    "param-name": "{where}.name must be a non-empty string, not {got}",
    "param-element": "{where} has an element a parameter does not have: {got} (a parameter has name, id,"
                     " extension and one of value[x], resource and part)",
    "param-one-value": "The parameter '{name}' must have exactly one of value[x], resource and part, not {got}",
    "param-type": "The parameter '{name}' must be {expected}, not {got}",
    "param-body-only": "The parameter '{name}' is {what}: send it in a Parameters resource (POST), not in the"
                       " query string",
    "param-repeated": "The parameter '{name}' may be given once, not {count} times",
    "param-resource": "The parameter '{name}': resource must be a resource (an object with a resourceType)",
    "param-part": "The parameter '{name}': part must be an array",
    "param-control": "The parameter '{name}': {where} holds {what}: a FHIR string holds none but tab, CR and LF",
    "display-language-invalid": "Invalid displayLanguage '{value}': '{tag}' is not a valid language tag (BCP 47,"
                                " with an optional q-value)",
    "body-not-parameters": "The request body must be a Parameters resource, not {type}",
    "structure": "{path}: {what}",
    "no-code": "Unable to find code to validate (looked for coding | codeableConcept | code+system |"
               " code+inferSystem in parameters",
    "no-system": "No system was provided for the code to validate",
    "no-system-given": "No system was given",
    "no-value-set": "No value set to expand: give the url or valueSet parameter",
    "value-set-parameter": "The valueSet parameter must be a ValueSet",
    "code-system-parameter-url": "The code system of the codeSystem parameter needs a url: the code is validated"
                                 " against it by that url",
    "instance-not-found": "{type}/{id} not found",
    "version-substituted": "The code system version {url} is not known; its latest version was used"
                           " (default-to-latest-version)",
    "unclosed-fragment": "This extension is based on a fragment of the code system {system}",
    "unclosed-filter": "The value set {role} codes of {system} by the filter {filters}, which cannot be evaluated on"
                       " the version '{version}' held here, a {content} without {missing}: the expansion lists only"
                       " what that {content} states; load {fix}",
    "vs-filter-not-evaluable": "The code '{system}#{code}' cannot be checked against the value set '{vs}': it"
                               " {role} codes of {system} by the filter {filters}, which cannot be evaluated: the"
                               " version '{version}' held here is a {content} without {missing}; load {fix}",
    "value-set-needs": "The value set '{vs}' draws on {systems}, which the build does not hold: its codes cannot be"
                       " judged",
    "code-not-in-value-set": "'{code}' is not a code of the value set '{vs}'",
    "invalid-identifier": "The code '{code}' is not a valid {what}: {reason}",
    "display-unverified": "The display '{display}' for {system}#{code} could not be verified: the code system"
                          " version '{version}' held here is a {content}, whose display is '{known}'",
    "supplement-in-value-set": "The code system {system} is a supplement and cannot be used in a value set",
    "not-present": "The code system {system} has no content (content = not-present) and cannot be expanded",
    "too-many-codes": "The value set {url} has more than {limit} codes",
    "code-system-too-large": "The code system {system} has {size} codes, more than the limit of {limit} for an"
                             " expansion without paging",
    "expansion-too-large": "The expansion of {url} has {total} codes, more than the limit of {limit}",
    "too-many-codes-hint": "{detail}: page through it with count and offset, narrow it with a filter, or ask for"
                           " the first {limit} codes with limitedExpansion=true",
    "filter-too-costly": "The filter {property} {op} {value} over {system} cannot be evaluated within the cost"
                         " limit",
    "filter-no-op": "The system {system} filter with property = {property} has no operation",
    "filter-op-unsupported": "The filter operation '{op}' is not supported for the property '{property}' of"
                             " {system}",
    "ecl-invalid": "The ECL constraint '{expression}' cannot be evaluated: {reason}",
    "refset-not-loaded": "The filter '{property} in {value}' of {system} names the reference set(s) {refsets}, whose"
                         " members the build does not hold: which codes it selects cannot be judged (load the"
                         " release that has them)",
    "ecl-unsupported": "ECL constraints are only supported for stored SNOMED CT content, not {system}",
    "regex-unusable": "The regex filter '{pattern}' on the property '{property}' of {system} cannot be used:"
                      " {reason} (regular expressions are evaluated by RE2: no backreferences or look-around)",
    # a code system named by its OID, or its URI written another way (ops.systems)
    "system-oid": "'{system}' is the OID of the code system {uri}: a Coding names it by its URI, {uri}",
    "system-written-otherwise": "'{system}' is the code system {uri} written another way: a Coding names it by"
                                " exactly {uri}",
    "system-did-you-mean": "Did you mean the code system {uri}?",
    "lookup-unknown-system": "A definition for CodeSystem {system} could not be found, so the code cannot be looked"
                             " up",
    "lookup-no-code": "No code to look up: give code (with system) or coding",
    "subsumes-codes": "$subsumes needs codeA and codeB (or codingA and codingB)",
    "subsumes-systems": "codingA and codingB must be from the same code system",
    "batch-no-validation": "$batch-validate-code needs one 'validation' parameter per code to validate",
    "translate-reverse-r5": "The parameter 'reverse' is not supported on R5 $translate: give the target concept as"
                            " targetCode/targetCoding/targetCodeableConcept instead",
    "translate-nothing": "No concept to translate: give sourceCode and system, sourceCoding or"
                         " sourceCodeableConcept (R4: code and system, coding or codeableConcept), or"
                         " targetCode/targetCoding to reverse",
    "simple-value": "A simple value was expected where a complex one was given",
    "concept-map-not-found": "A definition for the ConceptMap '{url}' could not be found",
    "no-translation": "No translations found for {system}#{code}{to}",
    "not-mapped": "The concept {system}#{code} is deliberately not mapped by {map}{comment}",
    "other-map-cycle": "Circular reference in unmapped other-map chain: {chain}",
    "other-map-missing": "The other map {url} named by {map} could not be found",
    "translate-dependency": "The parameter {where} cannot be read: {why}",
    "dependency-unmet": "{count} mapping(s) of {system}#{code} by {map} hold only where {conditions}, which the"
                        " dependencies given contradict",
}


def text(message_id: str, **args: object) -> str:
    """The message `message_id` with its fields filled in."""
    template = HL7.get(message_id)
    if template is None:
        template = OWN[message_id]
    return template.format(**args)


def issue(severity: str, issue_code: str, message_id: str, tx_type: str | None = None,
          expression: str | list[str] | None = None, **args: object) -> Issue:
    """An OperationOutcome.issue (issue_code: its `code`) carrying the message, and its HL7 id when
    it has one."""
    return _issue(severity, issue_code, text(message_id, **args), tx_type, expression,
                  message_id if message_id in HL7 else None)


def error(message_id: str, status: int = 400, issue_code: str = "invalid", tx_type: str | None = None,
          diagnostics: str | None = None, **args: object) -> OpError:
    """An OpError (rendered as an OperationOutcome with an HTTP status) carrying the message."""
    return OpError(text(message_id, **args), status=status, code=issue_code, tx_type=tx_type,
                   message_id=message_id if message_id in HL7 else None, diagnostics=diagnostics)


def version_list(versions: Iterable[str]) -> str:
    """'1.0.0', '1.0.0 or 1.2.0', '0.1, 1.0.0 or 1.2.0'."""
    versions = list(versions)
    if len(versions) < 2:
        return "".join(versions)
    return ", ".join(versions[:-1]) + " or " + versions[-1]
