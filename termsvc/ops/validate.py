"""ValueSet/$validate-code and CodeSystem/$validate-code, with the HL7 tx-ecosystem issues.

Against a value set, the code is looked up in the code system version the value set selects
(compose.IncludeVersion); a coding that names another version gets the issues that say so
(VALUESET_VALUE_MISMATCH and its kin), a version nobody has makes the answer depend on it
(x-caused-by-unknown-system) rather than a confident no.
"""
from dataclasses import dataclass, replace

from termsvc.fhir import messages
from termsvc.fhir.convert import to_r5
from termsvc.fhir.operations import CS_VALIDATE, VS_VALIDATE
from termsvc.fhir.outcome import OpError
from termsvc.fhir.params import Params, signature
from termsvc.fhir.shape import check_codeable_concept, check_coding, check_resource
from termsvc.ops.completeness import PARTIAL_CONTENT
from termsvc.fhir.codesystem import FlatConcept
from termsvc.ops.completeness import Undecided
from termsvc.ops.compose import STANDARDS_STATUS, Composer, IncludeVersion, VersionRules, vs_default_parameters
from termsvc.ops.members import Member
from termsvc.ops.context import Context, Provider, canonical_label, version_key
from termsvc.ops.display import display_matches, display_problem
from termsvc.ops.identifiers import problem as identifier_problem
from termsvc.ops.systems import system_named
from termsvc.ops.language import LanguagePrefs, display_language, lang_matches
from termsvc.results import JSON, BatchValidation, Failure, Issue, Validation

NOT_IN_VS = "None_of_the_provided_codes_are_in_the_value_set_one"
VALIDATE_CODE = signature(VS_VALIDATE)
NO_LANGUAGE = LanguagePrefs(None)   # (never changed: a Validator replaces its prefs, whole)


@dataclass(slots=True)
class Coded:
    """One coding to validate, and where its parts sit in the request (for issue expressions)."""
    system: str | None
    code: str
    version: str | None = None
    display: str | None = None
    path: str = "Coding"        # "" for the code/system/display parameters

    def at(self, element: str) -> str:
        """The expression of one of its elements: Coding.system, CodeableConcept.coding[0].code, system."""
        return f"{self.path}.{element}" if self.path else element


def _add(r: Validation, severity: str, issue_code: str, message_id: str, tx_type: str | None = None,
         expression: str | None = None, in_message: bool | None = None, **args: object) -> None:
    """An issue found: its text is part of the message (errors and warnings, unless said otherwise), and
    an error makes the answer a no."""
    i = messages.issue(severity, issue_code, message_id, tx_type, expression, **args)
    r.issues.append(i)
    if in_message if in_message is not None else severity in ("error", "fatal", "warning"):
        r.messages.append(i.text)
    if severity in ("error", "fatal"):
        r.result = False


def _is_absolute(system: str) -> bool:
    return ":" in system and not system.startswith("#")


def _coded_inputs(params: Params) -> tuple[str, list[Coded], JSON | None]:
    """(mode, [Coded], codeableConcept) from code/system/display, coding or codeableConcept."""
    if params.get("codeableConcept") is not None:
        cc = check_codeable_concept(params.get("codeableConcept"))
        return "codeableConcept", [Coded(c.get("system"), c.get("code"), c.get("version"), c.get("display"),
                                         f"CodeableConcept.coding[{i}]")
                                   for i, c in enumerate(cc.get("coding", []) or [])], cc
    coding = params.get("coding")
    if coding is not None:
        check_coding(coding)
        return "coding", [Coded(coding.get("system"), coding.get("code"), coding.get("version"),
                                coding.get("display"))], None
    code = params.str("code")
    if code is None:
        raise messages.error("no-code")
    return "code", [Coded(params.str("system"), code, params.str("systemVersion") or params.str("version"),
                          params.str("display"), "")], None


class Validator:
    def __init__(self, ctx: Context, params: Params, accept_language: str | None = None):
        self.ctx = ctx
        self.params = params
        self.explicit_language = display_language(params) or accept_language
        self.prefs = LanguagePrefs(self.explicit_language) if self.explicit_language else NO_LANGUAGE
        self.membership_only = params.bool("valueset-membership-only")
        self.lenient = params.bool("lenient-display-validation", False)
        self.active_only = params.bool("activeOnly")
        self.abstract_ok = params.bool("abstract", True)
        self.infer = params.bool("inferSystem")
        self.composer = Composer(ctx, VersionRules.from_params(params), max_size=None, active_only=self.active_only,
                                 supplements=[s for s in params.all("useSupplement") if isinstance(s, str)])
        self._vs_urls: set[str | None] = set()

    # -- entry points -----------------------------------------------------------------
    def validate_vs(self, instance_id: str | None = None) -> Validation:
        vs = self.ctx.resolve_value_set(self.params, instance_id)
        mode, codeds, cc = _coded_inputs(self.params)
        if not self.explicit_language:
            vs_lang = next((v for n, k, v in vs_default_parameters(vs) if n == "displayLanguage"), None)
            if vs_lang or vs.get("language"):
                self.prefs = LanguagePrefs(vs_lang or vs["language"])
        self.composer.note_vs(vs)
        self._vs_urls = {_vurl(vs)}
        try:
            self.composer.check_cycles(vs)
            if mode == "codeableConcept":
                return _answer(self._validate_cc(vs, codeds), cc)
            return _answer(self._validate_one(vs, codeds[0]), None)
        except OpError as e:
            if e.status != 404:
                raise
            r = Validation(result=False)   # a value set it imports cannot be found: that is the answer
            r.issues.append(e.as_issues()[0])
            r.messages.append(e.text)
            return _answer(r, cc)

    def validate_cs(self, instance_url: str | None = None) -> Validation:
        mode, codeds, cc = _coded_inputs(self.params)
        url = instance_url or self._code_system_parameter() or self.params.str("url") or \
            (codeds[0].system if codeds else None)
        for c in codeds:
            if c.system is None and mode == "code":
                c.system = url
        if mode == "codeableConcept":
            return _answer(self._validate_cc(None, codeds), cc)
        return _answer(self._validate_one(None, codeds[0]), None)

    def _code_system_parameter(self) -> str | None:
        """The url of the code system sent as the `codeSystem` parameter (used for this request), or None."""
        cs = self.params.get("codeSystem")
        if cs is None:
            return None
        cs = to_r5(check_resource(cs, "codeSystem"))
        if not cs.get("url"):
            raise messages.error("code-system-parameter-url")
        self.ctx.add_resource(cs)
        url: str = cs["url"]
        return url

    # -- one coding ---------------------------------------------------------------------
    def _validate_one(self, vs: JSON | None, cd: Coded) -> Validation:
        r = Validation(code=cd.code)
        system = self._settled_system(r, vs, cd)
        if system is not None:
            if vs is None:
                self._check_in_code_system(r, cd, system)
            else:
                self._check_in_value_set(r, vs, cd, system)
        r.caused_by += [s for s in self.composer.unknown_systems if s.split("|")[0] != cd.system
                        and s not in r.caused_by]
        self._status_issues(r)
        return r

    def _settled_system(self, r: Validation, vs: JSON | None, cd: Coded) -> str | None:
        """Settle the coding's system (inferred from the value set when asked): the system, or None when
        the answer is already given (no system, a relative one, one nobody knows)."""
        if cd.system is None:
            if vs is not None and self.infer:
                systems = self._infer_systems(vs, cd.code)
                if len(systems) == 1:
                    cd.system = systems[0]
                else:
                    _add(r, "error", "not-found", "Unable_to_resolve_system__value_set_has_multiple_matches"
                          if systems else "Unable_to_resolve_system__value_set_has_no_matches", "cannot-infer",
                          cd.path or "code", code=cd.code, vs=_vurl(vs), systems=", ".join(systems))
                    self._not_in_vs(r, vs, cd, label=f"#{cd.code}")
                    return None
            if cd.system is None:
                if vs is None:
                    raise messages.error("no-system", tx_type="invalid-data")
                _add(r, "warning", "invalid", "Coding_has_no_system__cannot_validate", "invalid-data",
                      cd.path or "code")
                self._not_in_vs(r, vs, cd, label=f"#{cd.code}")
                return None
        r.system = cd.system
        if not _is_absolute(cd.system):
            _add(r, "error", "invalid", "Terminology_TX_System_Relative", "invalid-data", cd.at("system"))
            _add(r, "error", "not-found", "UNKNOWN_CODESYSTEM", "not-found", cd.at("system"), system=cd.system)
            r.unknown_systems.append(cd.system)
        elif self.ctx.code_system(cd.system) is not None:
            return cd.system
        elif self.ctx.value_set(cd.system) is not None:
            _add(r, "error", "invalid", "Terminology_TX_System_ValueSet2", "invalid-data", cd.at("system"),
                  system=cd.system)
        elif (supplement := self.ctx.supplement(cd.system)) is not None:
            _add(r, "error", "invalid", "CODESYSTEM_CS_NO_SUPPLEMENT", "invalid-data", cd.at("system"),
                  url=_vurl(supplement))
        else:
            named = system_named(self.ctx.store, cd.system)
            misnamed = named is not None and named.certain   # a known code system named by its OID, ...: a no
            if named is not None and misnamed:
                _add(r, "error", "invalid", named.kind, "invalid-data", cd.at("system"), system=cd.system,
                     uri=named.uri)
            if misnamed or self._malformed(r, cd, None):   # (no code of it, whatever the build lacks)
                if vs is not None:
                    self._not_in_vs(r, vs, cd)
                r.result = False
                return None
            r.unknown_systems.append(cd.system)
            if cd.version:
                _add(r, "error", "not-found", "UNKNOWN_CODESYSTEM_VERSION_NONE", "not-found", cd.at("system"),
                      system=cd.system, version=cd.version)
            else:
                _add(r, "error", "not-found", "UNKNOWN_CODESYSTEM", "not-found", cd.at("system"),
                      system=cd.system)
            if named is not None:   # a guess: said, the answer stays that the code system is unknown
                _add(r, "warning", "invalid", named.kind, "invalid-data", cd.at("system"), uri=named.uri)
            if vs is not None and self._names_system(vs, cd.system):
                r.in_value_set = None   # the value set takes codes of that system: whether it has this one is unknown
                r.result = False
                return None
        if vs is not None:
            self._not_in_vs(r, vs, cd)
        r.result = False
        return None

    def _names_system(self, vs: JSON, system: str) -> bool:
        """Does the value set include codes of `system` (itself or through a value set it imports)?"""
        for inc in (vs.get("compose") or {}).get("include", []) or []:
            if inc.get("system") == system or any(self._names_system(self.composer.resolve_vs(c), system)
                                                   for c in inc.get("valueSet", []) or []):
                return True
        return False

    def _check_in_code_system(self, r: Validation, cd: Coded, system: str) -> None:
        cs = self.composer.code_system_for(system, cd.version)
        if cs is None:
            version = self.composer.rules.force.get(system) or cd.version or self.composer.rules.defaults.get(system)
            if self._malformed(r, cd, self.ctx.code_system(system)):   # no version has a code its syntax rules out
                r.in_value_set = False
                return
            r.unknown_systems.append(f"{system}|{version}")
            _add(r, "error", "not-found", "UNKNOWN_CODESYSTEM_VERSION", "not-found", cd.at("system"),
                  system=system, version=version, versions=messages.version_list(self.composer.known_versions(system)))
            r.in_value_set = False
            return
        self._check_version_allowed(r, cd, cs)
        concept, normalized = cs.find(cd.code)
        self._check_concept(r, None, cd, cs, concept, normalized, None, False, [], False)

    def _check_version_allowed(self, r: Validation, cd: Coded, cs: Provider) -> None:
        """check-system-version: the version of cs used must be the one it names."""
        if self.composer.version_check_error(cs) is not None:
            _add(r, "error", "exception", "VALUESET_VERSION_CHECK", "version-error", cd.at("version"),
                  version=cs.version, system=cs.url, wanted=self.composer.rules.check[cs.url])

    def _check_in_value_set(self, r: Validation, vs: JSON, cd: Coded, system: str) -> None:
        composer = self.composer
        composer.visited, composer.undecided = [], []
        display = cd.display
        prefer = (lambda m: m.cs is not None and m.concept is not None
                  and display_matches(m.cs, m.concept, m, display)) if display else None
        member = composer.contains(vs, system, cd.code, cd.version, prefer)
        unsettled, open_fragment = composer.unsettled(member), composer.open_fragment()
        seen: set[tuple[str | None, str | None]] = set()
        includes: list[IncludeVersion] = []
        for iv in composer.visited:
            if iv.system == system and (iv.declared, iv.wanted) not in seen:
                seen.add((iv.declared, iv.wanted))
                includes.append(iv)
        coding_cs = composer.provider(system, cd.version, vs) if cd.version else None
        self._version_issues(r, cd, system, includes, coding_cs)
        undecided = member is None and any(iv.cs is None for iv in includes)
        cs = member.cs if member is not None and member.cs is not None else \
            self._reported_code_system(cd, system, includes, coding_cs, vs)
        if cs.version:
            r.version = cs.version
        if not undecided:
            self._check_version_allowed(r, cd, cs)
        concept: FlatConcept | None
        if member is not None and member.concept is not None:
            concept = member.concept
            normalized = concept.code if concept.code != cd.code else None
        else:
            concept, normalized = cs.find(cd.code)
        self._check_concept(r, vs, cd, cs, concept, normalized, member, undecided, unsettled, open_fragment)

    def _version_issues(self, r: Validation, cd: Coded, system: str, includes: list[IncludeVersion],
                        coding_cs: Provider | None) -> None:
        """What the value set's versions of the system say about the coding's version."""
        version = cd.version
        if version and coding_cs is None:
            _add(r, "error", "not-found", "UNKNOWN_CODESYSTEM_VERSION", "not-found", cd.at("system"), system=system,
                  version=version, versions=messages.version_list(self.composer.known_versions(system)))
            r.caused_by.append(f"{system}|{version}")
            for iv in includes:
                if iv.wanted is None and iv.cs is not None:
                    _add(r, "warning", "invalid", "VALUESET_VALUE_MISMATCH_DEFAULT", "vs-invalid", cd.at("version"),
                          in_message=False, system=system, vs_version=iv.cs.version, version=version)
        if version and includes and not any(iv.accepts(version) for iv in includes):
            for iv in includes:
                if iv.source is not None:
                    _add(r, "error", "invalid", "VALUESET_VALUE_MISMATCH_CHANGED", "vs-invalid", cd.at("version"),
                          system=system, vs_version=iv.wanted, declared=iv.declared or "", version=version)
                else:
                    _add(r, "error", "invalid", "VALUESET_VALUE_MISMATCH", "vs-invalid", cd.at("version"),
                          system=system, vs_version=iv.wanted, version=version)
        for iv in includes:
            if iv.cs is None and iv.wanted:
                _add(r, "error", "not-found", "UNKNOWN_CODESYSTEM_VERSION", "not-found", cd.at("system"),
                      system=system, version=iv.wanted,
                      versions=messages.version_list(self.composer.known_versions(system)))
                r.caused_by.append(f"{system}|{iv.wanted}")

    def _reported_code_system(self, cd: Coded, system: str, includes: list[IncludeVersion], coding_cs: Provider | None,
                              vs: JSON) -> Provider:
        """The version a code the value set does not hold is reported against: the coding's when
        the value set takes it, else the latest the value set names, else the default."""
        accepted = [iv.cs for iv in includes if iv.cs is not None and iv.accepts(cd.version)]
        if coding_cs is not None and (accepted or not includes):
            return coding_cs
        named = accepted or [iv.cs for iv in includes if iv.cs is not None]
        if named:
            return max(named, key=lambda cs: version_key(cs.version))
        return (coding_cs or self.composer.include_version({"system": system}, vs).cs  # type: ignore[return-value]
                or self.composer.provider(system, None, vs))   # (never None: the system is known, _settled_system)

    def _malformed(self, r: Validation, cd: Coded, cs: Provider | None) -> bool:
        """A code its system's identifier syntax rules out (whatever content is held): an error."""
        bad = identifier_problem(cd.system, cd.code, cs.resource if cs is not None else None)
        if bad is not None:
            _add(r, "error", "code-invalid", "invalid-identifier", "invalid-code", cd.at("code"), code=cd.code,
                  what=bad.what, reason=bad.reason)
        return bad is not None

    def _check_concept(self, r: Validation, vs: JSON | None, cd: Coded, cs: Provider, concept: FlatConcept | None,
                       normalized: str | None, member: Member | None, undecided: bool, unsettled: list[Undecided],
                       open_fragment: bool) -> None:
        """`unsettled`: the includes and excludes the content held cannot decide for this code;
        `open_fragment`: the value set takes all of a fragment."""
        in_vs = vs is None or member is not None
        # a fragment is no authority on its system's identifiers (DICOM's tables hold a few typos)
        if (concept is None or (cs is not None and cs.content in PARTIAL_CONTENT)) and self._malformed(r, cd, cs):
            listed = concept is not None and member is not None   # (a value set may list the typo)
            if vs is not None and not listed:
                self._not_in_vs(r, vs, cd)
            # no version of its code system has it: the answer depends on none the build lacks
            r.caused_by = [c for c in r.caused_by if c.split("|")[0] != cd.system]
            r.in_value_set = listed
            return
        if concept is None:
            if cs.content in PARTIAL_CONTENT:
                _add(r, "warning", "code-invalid", "UNKNOWN_CODE_IN_FRAGMENT", "invalid-code", cd.at("code"),
                      in_message=False, code=cd.code, system=cs.url, version=cs.version, content=cs.content)
                if vs is not None and unsettled:
                    self._cannot_tell(r, vs, cd, unsettled)
                elif vs is not None and not (open_fragment or in_vs):
                    self._not_in_vs(r, vs, cd)   # an enumeration that does not list it, or no include of its system
                else:
                    r.in_value_set = None     # the code may exist, and the value set takes all of its system
                return
            if vs is not None and not in_vs and not undecided:
                self._not_in_vs(r, vs, cd)
            if not self.membership_only and not undecided:
                _add(r, "error", "code-invalid", "Unknown_Code_in_Version", "invalid-code", cd.at("code"),
                      code=cd.code, system=cs.url, version=cs.version)
            r.result = False
            r.in_value_set = None if undecided else False
            return
        if normalized:
            r.normalized_code = concept.code
            _add(r, "information", "business-rule", "CODE_CASE_DIFFERENCE", "code-rule", cd.at("code"),
                  code=cd.code, correct=concept.code, system=cs.vurl())
        display = self._display_for(cs, concept, member)
        if display:
            r.display = display
        vs_active_only = vs is not None and (vs.get("compose") or {}).get("inactive") is False
        if concept.inactive:
            r.inactive = True
            status = concept.status or "inactive"
            if status != "inactive":
                r.status = status
            if self.active_only or vs_active_only:
                _add(r, "error", "business-rule", "STATUS_CODE_WARNING_CODE", "code-rule", cd.at("code"),
                      code=concept.code)
            _add(r, "warning", "business-rule", "INACTIVE_CONCEPT_FOUND", "code-comment", cd.path or "code",
                  code=concept.code, status=status if status == "inactive" else f"{status} and inactive")
        elif _deprecated(cs, concept):
            r.status = "deprecated"
            _add(r, "warning", "business-rule", "DEPRECATED_CONCEPT_FOUND", "code-comment", cd.at("code"),
                  code=concept.code)
        if member is not None and _deprecated_in_vs(member):
            _add(r, "warning", "business-rule", "CONCEPT_DEPRECATED_IN_VALUESET", "code-comment", cd.at("code"),
                  in_message=False, code=concept.code, system=cd.system, vs=_vurl(vs))
        if vs is not None and (not in_vs or unsettled):
            if undecided:
                r.in_value_set = None
            elif unsettled:
                self._cannot_tell(r, vs, cd, unsettled)
            else:
                self._not_in_vs(r, vs, cd)
        elif vs is not None and concept.abstract and not self.abstract_ok:
            _add(r, "error", "business-rule", "ABSTRACT_CODE_NOT_ALLOWED", "code-rule", cd.at("code"),
                  system=cd.system, code=concept.code)
            self._not_in_vs(r, vs, cd)
        if cd.display is not None and not self.membership_only:
            problem = display_problem(cs, concept, member, cd.display, self.prefs, self.lenient)
            if problem is not None and cs.content in PARTIAL_CONTENT and problem[1] != "INACTIVE_DISPLAY_FOUND":
                # a fragment's displays are its source's (DICOM's code meanings), not the code system's
                _add(r, "warning", "invalid", "display-unverified", "display-comment", cd.at("display"),
                      display=cd.display, system=cd.system, code=concept.code, version=cs.version,
                      content=cs.content, known=r.display or concept.display)
            elif problem is not None:
                severity, message_id, args = problem
                retired = message_id == "INACTIVE_DISPLAY_FOUND"   # a comment on the display, not an error
                _add(r, severity, "invalid", message_id, "display-comment" if retired else "invalid-display",
                      cd.at("display"), in_message=not retired, system=cd.system, code=concept.code, **args)

    def _status_issues(self, r: Validation) -> None:
        seen: set[str] = set()
        for name, canonical in self.composer.warnings:
            kind = name.split("-", 1)[1]
            if kind == "version-substituted":
                i = messages.issue("information", "business-rule", "version-substituted", "status-check", url=canonical)
            else:
                what = ("ValueSet" if canonical in self.composer.used_valuesets or canonical in self._vs_urls
                        else "CodeSystem")
                i = messages.issue("information", "business-rule", "MSG_" + kind.upper(), "status-check",
                                   type=what, url=canonical)
            if i.text not in seen:
                seen.add(i.text)
                r.issues.append(i)

    def _infer_systems(self, vs: JSON, code: str) -> list[str]:
        """The systems of the value set's includes that may hold `code` (inferSystem): those that
        have it, and those the server does not have or holds only in part where that part cannot
        settle it (which cannot rule it out). An include of value sets looks into them (all of them
        must hold the code); excludes make no difference."""
        composer = self.composer
        systems: list[str] = []
        for inc in (vs.get("compose") or {}).get("include", []) or []:
            if inc.get("system"):
                s = inc["system"]
                unknown = composer.include_version(inc, vs).cs is None and not inc.get("concept")
                mark = len(composer.undecided)
                found = unknown or composer.contains({"compose": {"include": [inc]}}, s, code) is not None \
                    or any(not u.excluding for u in composer.undecided[mark:])
            else:
                imported = [composer.resolve_vs(c) for c in inc.get("valueSet", []) or []]
                for s in self._infer_systems(imported[0], code) if imported else []:
                    if s not in systems and all(composer.contains(sub, s, code) for sub in imported[1:]):
                        systems.append(s)
                continue
            if found and s not in systems:
                systems.append(s)
        return systems

    def _cannot_tell(self, r: Validation, vs: JSON, cd: Coded, unsettled: list[Undecided]) -> None:
        """The membership depends on content the build does not hold: say which, never a plain no."""
        for u in {(u.canonical(), u.excluding): u for u in unsettled}.values():
            i = u.issue(cd.code, canonical_label(vs), cd.at("code"))
            r.issues.append(i)
            r.messages.append(i.text)
            r.result = False
            if u.canonical() not in r.caused_by:
                r.caused_by.append(u.canonical())
        r.in_value_set = None

    def _not_in_vs(self, r: Validation, vs: JSON, cd: Coded, label: str | None = None) -> None:
        if label is None:
            label = f"{cd.system}|{cd.version}#{cd.code}" if cd.version else f"{cd.system}#{cd.code}"
            if cd.display:
                label += f" ('{cd.display}')"
        _add(r, "error", "code-invalid", NOT_IN_VS, "not-in-vs", cd.at("code"), code=label, vs=_vurl(vs))
        r.in_value_set = False

    def _display_for(self, cs: Provider, concept: FlatConcept, member: Member | None) -> str | None:
        display = member.display if member is not None and member.display else concept.display
        if self.prefs:
            des = cs.designations(concept)
            for want in self.prefs.wanted():
                if cs.language and lang_matches(want, cs.language):
                    return display
                for d in des:
                    if d.get("language") and lang_matches(want, d["language"]):
                        return d.get("value")
        return display

    # -- codeable concepts -------------------------------------------------------------
    def _validate_cc(self, vs: JSON | None, codeds: list[Coded]) -> Validation:
        total = Validation()
        results: list[Validation] = []
        for cd in codeds:
            r = self._validate_one(vs, cd)
            results.append(r)
            total.unknown_systems += [u for u in r.unknown_systems if u not in total.unknown_systems]
            total.caused_by += [u for u in r.caused_by if u not in total.caused_by]
        seen_texts: set[str] = set()
        for r in results:
            for i in r.issues:
                if vs is not None and i.tx_type == "not-in-vs":
                    i = replace(i, severity="information", tx_type="this-code-not-in-vs")
                elif i.tx_type == "status-check" and i.text in seen_texts:
                    continue
                seen_texts.add(i.text)
                total.issues.append(i)
        found = [r for r in results if r.in_value_set is True]
        if found or any(r.in_value_set is None for r in results):
            if found:
                _take_concept(total, found[0])
            total.result = not any(i.is_error for i in total.issues)
            total.messages = [m for r in results for m in r.messages if "was not found in the value set" not in m]
        else:
            total.result = False
            total.messages = [m for r in results for m in r.messages]
            if vs is not None:
                i = messages.issue("error", "code-invalid", "TX_GENERAL_CC_ERROR_MESSAGE", "not-in-vs", vs=_vurl(vs))
                total.issues.insert(0, i)
                total.messages = [i.text] + [m for m in total.messages
                                                           if "was not found in the value set" not in m]
        return total


def _take_concept(total: Validation, found: Validation) -> None:
    """A CodeableConcept's answer says the concept of the coding found."""
    total.code, total.system, total.version, total.display = found.code, found.system, found.version, found.display
    total.normalized_code, total.inactive, total.status = found.normalized_code, found.inactive, found.status


def _answer(r: Validation, cc: JSON | None) -> Validation:
    """The answer as given: with the CodeableConcept asked about, and what a negative answer depends on
    (x-caused-by-unknown-system: it might differ with that code system known) only when it is negative."""
    r.codeable_concept = cc
    if r.result:
        r.caused_by = []
    return r


def _deprecated(cs: Provider, concept: FlatConcept) -> bool:
    return concept.status == "deprecated" or any(
        x.get("url") == STANDARDS_STATUS and x.get("valueCode") == "deprecated" for x in cs.concept_extensions(concept))


def _deprecated_in_vs(member: Member) -> bool:
    for x in member.extensions or []:
        url = x.get("url")
        if url == STANDARDS_STATUS and x.get("valueCode") == "deprecated":
            return True
        if url == "http://hl7.org/fhir/StructureDefinition/valueset-deprecated" and \
                str(x.get("valueBoolean", x.get("valueCode"))).lower() == "true":
            return True
    return False


def _vurl(vs: JSON | None) -> str | None:
    """How messages name a value set."""
    return None if vs is None else canonical_label(vs)


def validate_vs(ctx: Context, params: Params, accept_language: str | None = None,
                instance_id: str | None = None) -> Validation:
    """ValueSet/$validate-code (on the value set whose id is `instance_id`, when given)."""
    return _said_unused(Validator(ctx, params, accept_language).validate_vs(instance_id), params, VS_NO_EFFECT)


def validate_cs(ctx: Context, params: Params, accept_language: str | None = None,
                instance_id: str | None = None) -> Validation:
    """CodeSystem/$validate-code (on the code system whose id is `instance_id`, when given)."""
    instance_url = ctx.instance_url("CodeSystem", instance_id)
    return _said_unused(Validator(ctx, params, accept_language).validate_cs(instance_url), params, CS_NO_EFFECT)


# parameter -> what the answer says when it is given (`date`: a build holds one state of each code system)
VS_NO_EFFECT = VS_VALIDATE.without_effect
CS_NO_EFFECT = CS_VALIDATE.without_effect


def _said_unused(v: Validation, params: Params, no_effect: tuple[tuple[str, str], ...]) -> Validation:
    """`v`, with an informational issue for each parameter given that changes nothing here, so that the
    caller knows it was not taken into account."""
    for name, text in no_effect:
        if params.has(name):
            v.issues.append(Issue("information", "informational", text, expression=[name]))
    return v


def batch_validate(ctx: Context, params: Params, accept_language: str | None = None) -> BatchValidation:
    """ValueSet/$batch-validate-code: one `validation` parameter per request (a Parameters resource,
    or the parts of the parameter), each validated with the top-level parameters as defaults."""
    shared = [p for p in params.items if p.name != "validation"]
    out: list[Validation | Failure] = []
    for p in params.items:
        if p.name != "validation":
            continue
        try:   # each validation is typed as a $validate-code request; a bad one is its own answer
            own = VALIDATE_CODE.from_resource(p.resource if isinstance(p.resource, dict) else
                                              {"resourceType": "Parameters", "parameter": p.part or []}).items
            names = {q.name for q in own}
            merged = Params(own + [q for q in shared if q.name not in names])
            out.append(_said_unused(Validator(ctx, merged, accept_language).validate_vs(), merged, VS_NO_EFFECT))
        except OpError as e:
            out.append(Failure(e.status, e.as_issues()))
    if not out:
        raise messages.error("batch-no-validation", issue_code="required")
    return BatchValidation(out)
