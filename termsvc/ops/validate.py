"""ValueSet/$validate-code and CodeSystem/$validate-code, with HL7 tx-ecosystem messages."""
from termsvc.fhir.outcome import OpError, issue
from termsvc.fhir.shape import check_codeable_concept, check_coding
from termsvc.ops.compose import Composer, canonical_versions, vs_default_parameters
from termsvc.ops.expand import resolve_value_set
from termsvc.ops.language import LanguagePrefs, lang_matches



class Coded:
    """One coding to validate, and where it sits in the request (for issue expressions)."""

    def __init__(self, system, code, version=None, display=None, path="Coding", code_path=None, system_path=None,
                 display_path=None):
        self.system = system
        self.code = code
        self.version = version
        self.display = display
        self.path = path
        self.code_path = code_path or f"{path}.code"
        self.system_path = system_path or f"{path}.system"
        self.display_path = display_path or f"{path}.display"


class Result:
    def __init__(self):
        self.issues = []
        self.messages = []
        self.params = {}
        self.valid = True
        self.unknown_systems = []      # the coding's own system is unknown
        self.caused_by = []            # a code system the value set needs is unknown

    def add(self, severity, code, text, tx_type=None, expression=None, message_id=None, in_message=None):
        self.issues.append(issue(severity, code, text, tx_type, expression, message_id))
        if in_message is None:
            in_message = severity in ("error", "fatal", "warning")
        if in_message:
            self.messages.append(text)


def _is_absolute(system: str) -> bool:
    return ":" in system and not system.startswith("#")


def _coded_inputs(params):
    """(mode, [Coded]) from code/system/display, coding or codeableConcept."""
    if params.get("codeableConcept") is not None:
        cc = params.get("codeableConcept")
        check_codeable_concept(cc)
        out = []
        for i, c in enumerate(cc.get("coding", []) or []):
            p = f"CodeableConcept.coding[{i}]"
            out.append(Coded(c.get("system"), c.get("code"), c.get("version"), c.get("display"), path=p))
        return "codeableConcept", out, cc
    coding = params.get("coding")
    if coding is not None:
        check_coding(coding)
        return "coding", [Coded(coding.get("system"), coding.get("code"), coding.get("version"),
                                coding.get("display"), path="Coding")], None
    code = params.str("code")
    if code is None:
        raise OpError("Unable to find a code to validate (looked for code, coding and codeableConcept)",
                      code="invalid", tx_type="invalid-data")
    system = params.str("system")
    version = params.str("systemVersion") or params.str("version")
    return "code", [Coded(system, code, version, params.str("display"), path="", code_path="code",
                          system_path="system", display_path="display")], None


class Validator:
    def __init__(self, ctx, params, accept_language=None):
        self.ctx = ctx
        self.params = params
        self.explicit_language = params.str("displayLanguage") or accept_language
        self.prefs = LanguagePrefs(self.explicit_language)
        self.membership_only = params.bool("valueset-membership-only")
        self.lenient = params.bool("lenient-display-validation", False)
        self.active_only = params.bool("activeOnly")
        self.abstract_ok = params.bool("abstract", True)
        self.infer = params.bool("inferSystem")
        self.composer = Composer(ctx, canonical_versions(params.all("system-version")),
                                 canonical_versions(params.all("force-system-version")), max_size=None,
                                 active_only=self.active_only,
                                 supplements=[s for s in params.all("useSupplement") if isinstance(s, str)],
                                 default_to_latest=params.bool("default-to-latest-version"))

    # -- entry points -----------------------------------------------------------------
    def validate_vs(self, instance_id=None) -> dict:
        vs = resolve_value_set(self.ctx, self.params, instance_id)
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
                return self._render(self._validate_cc(vs, codeds), mode, cc)
            return self._render(self._validate_one(vs, codeds[0]), mode, None)
        except VSNotFound as e:  # the value set cannot be evaluated: that is the answer
            r = Result()
            r.add("error", "not-found", e.text, "not-found", None, message_id="Unable_to_resolve_value_Set_")
            r.valid = False
            return self._render(r, mode, cc)

    def validate_cs(self, instance_cs=None) -> dict:
        self._vs_urls = set()
        mode, codeds, cc = _coded_inputs(self.params)
        url = self.params.str("url") or (codeds[0].system if codeds else None)
        if instance_cs is not None:
            url = instance_cs
        for c in codeds:
            if c.system is None and mode == "code":
                c.system = url
        if mode == "codeableConcept":
            return self._render(self._validate_cc(None, codeds), mode, cc)
        return self._render(self._validate_one(None, codeds[0]), mode, None)

    # -- one coding ---------------------------------------------------------------------
    def _validate_one(self, vs, cd: Coded) -> Result:
        r = Result()
        self._check_coding(r, vs, cd)
        r.caused_by = [s for s in self.composer.unknown_systems if s != cd.system]
        r.in_vs = not any(_tx_type(i) in ("not-in-vs", "invalid-code", "not-found", "cannot-infer", "invalid-data")
                          for i in r.issues)
        self._status_issues(r)
        return r

    def _check_coding(self, r, vs, cd: Coded):
        vs_label = _vurl(vs) if vs is not None else None
        r.params["code"] = cd.code
        if cd.system is None:
            if vs is not None and self.infer:
                systems = self._infer_systems(vs, cd.code)
                if len(systems) == 1:
                    cd.system = systems[0]
                elif len(systems) > 1:
                    text = (f"The System URI could not be determined for the code '{cd.code}' in the ValueSet "
                            f"'{vs_label}': value set expansion has multiple matches: [{', '.join(systems)}]")
                    r.add("error", "not-found", text, "cannot-infer", None,
                          message_id="Unable_to_resolve_system__value_set_has_multiple_matches")
                    self._not_in_vs(r, vs, cd, label=f"#{cd.code}")
                    return
            if cd.system is None:
                if vs is None:
                    raise OpError("No system was provided for the code to validate", tx_type="invalid-data")
                r.add("warning", "invalid", "Coding has no system. A code with no system has no defined meaning, "
                      "and it cannot be validated. A system should be provided", "invalid-data", cd.path or "code",
                      message_id="Coding_has_no_system__cannot_validate")
                self._not_in_vs(r, vs, cd, label=f"#{cd.code}")
                return
        r.params["system"] = cd.system
        if not _is_absolute(cd.system):
            r.add("error", "invalid", "Coding.system must be an absolute reference, not a local reference",
                  "invalid-data", cd.system_path, message_id="Terminology_TX_System_Relative")
            r.add("error", "not-found", f"A definition for CodeSystem '{cd.system}' could not be found, so the code "
                  "cannot be validated", "not-found", cd.system_path, message_id="UNKNOWN_CODESYSTEM")
            r.unknown_systems.append(cd.system)
            if vs is not None:
                self._not_in_vs(r, vs, cd)
            r.valid = False
            return
        cs = self.composer.code_system_for(cd.system, self._wanted_version(cd), vs)
        if cs is None:
            if self.ctx.value_set(cd.system) is not None:
                r.add("error", "invalid", f"The Coding references a value set, not a code system ('{cd.system}')",
                      "invalid-data", cd.system_path, message_id="Terminology_TX_System_ValueSet2")
            else:
                version = self._wanted_version(cd)
                known = [v for v in self.ctx.code_system_versions(cd.system) if v]
                if version and known:
                    text = (f"A definition for CodeSystem '{cd.system}' version '{version}' could not be found, so the"
                            f" code cannot be validated. Valid versions: {', '.join(sorted(known))}")
                    r.unknown_systems.append(f"{cd.system}|{version}")
                else:
                    text = f"A definition for CodeSystem {cd.system} could not be found, so the code cannot be validated"
                    r.unknown_systems.append(cd.system)
                r.add("error", "not-found", text, "not-found", cd.system_path, message_id="UNKNOWN_CODESYSTEM")
            if vs is not None:
                self._not_in_vs(r, vs, cd)
            r.valid = False
            return
        if cs.version:
            r.params["version"] = cs.version
        concept, normalized = cs.find(cd.code)
        member = None
        in_vs = True
        if vs is not None:
            member, _ = self._contains(vs, cd.system, concept.code if concept else cd.code, cd.version)
            in_vs = member is not None
        if concept is None:
            if cs.content in ("fragment", "example", "not-present"):
                r.add("warning", "code-invalid",
                      f"Unknown Code '{cd.code}' in the CodeSystem '{cs.url}' version '{cs.version}' - note that the "
                      f"code system is labeled as a {cs.content}, so the code may be valid in some other fragment",
                      "invalid-code", cd.code_path, message_id="UNKNOWN_CODE_IN_FRAGMENT")
                if vs is not None and not in_vs and cs.vurl() not in self.composer.used_codesystems:
                    self._not_in_vs(r, vs, cd)  # the value set does not draw on this code system at all
                return
            if vs is not None and not in_vs:
                self._not_in_vs(r, vs, cd)
            if not self.membership_only:
                r.add("error", "code-invalid", f"Unknown code '{cd.code}' in the CodeSystem '{cs.url}' version "
                      f"'{cs.version}'", "invalid-code", cd.code_path, message_id="Unknown_Code_in_Version")
            r.valid = False
            return
        if normalized:
            r.params["normalized-code"] = concept.code
            r.add("information", "business-rule",
                  f"The code '{cd.code}' differs from the correct code '{concept.code}' by case. Although the code "
                  f"system '{cs.vurl()}' is case insensitive, implementers are strongly encouraged to use the correct "
                  "case anyway", "code-rule", cd.code_path, message_id="CODE_CASE_DIFFERENCE")
        display = self._display_for(cs, concept, member)
        if display:
            r.params["display"] = display
        vs_active_only = vs is not None and (vs.get("compose") or {}).get("inactive") is False
        if concept.inactive:
            r.params["inactive"] = True
            status = concept.status or "inactive"
            if status != "inactive":
                r.params["status"] = status
            if self.active_only or vs_active_only:
                r.add("error", "business-rule", f"The concept '{concept.code}' is valid but is not active",
                      "code-rule", cd.code_path, message_id="STATUS_CODE_WARNING_CODE")
                r.valid = False
            status_text = status if status == "inactive" else f"{status} and inactive"
            r.add("warning", "business-rule", f"The concept '{concept.code}' has a status of {status_text} and its "
                  "use should be reviewed", "code-comment", cd.path or "code",
                  message_id="INACTIVE_CONCEPT_FOUND")
        if member is not None and _deprecated_in_vs(member):
            r.add("warning", "business-rule", f"The presence of the concept '{concept.code}' in the system "
                  f"'{cd.system}' in the value set {vs_label} is marked with a status of deprecated and its use "
                  "should be reviewed", "code-comment", cd.code_path, message_id="CONCEPT_DEPRECATED_IN_VALUESET",
                  in_message=False)
        if vs is not None and not in_vs:
            self._not_in_vs(r, vs, cd)
        elif vs is not None and concept.abstract and not self.abstract_ok:
            r.add("error", "business-rule", f"Code '{cd.system}#{concept.code}' is abstract, and not allowed in this "
                  "context", "code-rule", cd.code_path, message_id="ABSTRACT_CODE_NOT_ALLOWED")
            self._not_in_vs(r, vs, cd)
        if cd.display is not None and not self.membership_only:
            self._check_display(r, cs, concept, cd, member)

    def _contains(self, vs, system, code, version):
        try:
            member, cs = self.composer.contains(vs, system, code, version)
        except OpError as e:
            if e.status == 404:
                raise VSNotFound(e.text)
            raise
        return member, cs

    def _status_issues(self, r):
        seen = set()
        for name, canonical in self.composer.warnings:
            kind = name.split("-", 1)[1]
            message_id = "MSG_" + kind.upper()
            if kind == "version-substituted":
                text = (f"The code system version {canonical} is not known; its latest version was used"
                        " (default-to-latest-version)")
                message_id = None
            else:
                what = ("ValueSet" if canonical in self.composer.used_valuesets or canonical in self._vs_urls
                        else "CodeSystem")
                text = f"Reference to {kind} {what} {canonical}"
            if text not in seen:
                seen.add(text)
                r.add("information", "business-rule", text, "status-check", None, message_id=message_id)

    def _wanted_version(self, cd):
        return self.composer.force_versions.get(cd.system) or cd.version or self.composer.system_versions.get(cd.system)

    def _infer_systems(self, vs, code):
        systems = []
        for inc in (vs.get("compose") or {}).get("include", []) or []:
            s = inc.get("system")
            if s and s not in systems:
                m, _ = self.composer.contains({"compose": {"include": [inc]}}, s, code)
                if m is not None:
                    systems.append(s)
        return systems

    def _not_in_vs(self, r, vs, cd, label=None):
        if label is None:
            label = f"{cd.system}#{cd.code}"
            if cd.display:
                label += f" ('{cd.display}')"
        r.add("error", "code-invalid", f"The provided code '{label}' was not found in the value set '{_vurl(vs)}'",
              "not-in-vs", cd.code_path, message_id="None_of_the_provided_codes_are_in_the_value_set_one")
        r.valid = False

    def _display_for(self, cs, concept, member):
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

    def _check_display(self, r, cs, concept, cd, member):
        given = cd.display
        choices = []  # (value, language)
        if concept.display:
            choices.append((concept.display, cs.language))
        if member is not None and member.display and member.display != concept.display:
            choices.append((member.display, None))
        for d in cs.designations(concept):
            if d.get("value"):
                choices.append((d["value"], d.get("language")))
        if member is not None and member.designations:
            for d in member.designations:
                if d.get("value"):
                    choices.append((d["value"], d.get("language")))
        norm = given.strip().lower()
        wanted = self.prefs.wanted() if self.prefs else []

        def in_lang(lang):
            if not wanted:
                return True
            lang = lang or cs.language
            return lang is None or any(lang_matches(w, lang) for w in wanted)

        valid = [(v, l) for v, l in choices if in_lang(l)]
        if any(v.strip().lower() == norm for v, _ in valid):
            return
        sev = "warning" if self.lenient else "error"
        langs = ",".join(wanted) if wanted else "--"
        if wanted and not valid:
            if any(v.strip().lower() == norm for v, _ in choices):
                text = (f"There are no valid display names found for the code {cd.system}#{concept.code} for language(s)"
                        f" '{langs}'. The display is '{given}' which is a valid display for the default language")
                r.add("information", "invalid", text, "invalid-display", cd.display_path, in_message=True,
                      message_id="NO_VALID_DISPLAY_FOUND_NONE_FOR_LANG_OK")
                return
            text = (f"Wrong Display Name '{given}' for {cd.system}#{concept.code}. There are no valid display names "
                    f"found for language(s) '{langs}'. Default display is '{concept.display}'")
        else:
            shown = [f"'{v}'" + (f" ({l or cs.language})" if (l or cs.language) else "") for v, l in _dedupe(valid)]
            if len(shown) == 1:
                text = f"Wrong Display Name '{given}' for {cd.system}#{concept.code}. Valid display is {shown[0]}"
            else:
                text = (f"Wrong Display Name '{given}' for {cd.system}#{concept.code}. Valid display is one of "
                        f"{len(shown)} choices: {' or '.join(shown)}")
            text += f" (for the language(s) '{langs}')"
        r.add(sev, "invalid", text, "invalid-display", cd.display_path,
              message_id="NO_VALID_DISPLAY_FOUND_NONE_FOR_LANG_ERR" if wanted and not valid
              else "Display_Name_for__should_be_one_of__instead_of")
        if sev == "error":
            r.valid = False

    # -- codeable concepts -------------------------------------------------------------
    def _validate_cc(self, vs, codeds) -> Result:
        total = Result()
        results = []
        for cd in codeds:
            r = self._validate_one(vs, cd)
            results.append(r)
            total.unknown_systems += [u for u in r.unknown_systems if u not in total.unknown_systems]
            total.caused_by += [u for u in r.caused_by if u not in total.caused_by]
        valid = [r for r in results if r.in_vs]
        seen_texts = set()
        for r in results:
            for i in r.issues:
                if vs is not None and _tx_type(i) == "not-in-vs":
                    i = dict(i, severity="information")
                    i["details"] = dict(i["details"], coding=[dict(i["details"]["coding"][0], code="this-code-not-in-vs")])
                elif _tx_type(i) == "status-check":
                    if i["details"]["text"] in seen_texts:
                        continue
                seen_texts.add(i["details"]["text"])
                total.issues.append(i)
        if valid:
            first = valid[0]
            total.params.update(first.params)
            total.valid = not any(i["severity"] in ("error", "fatal") for i in total.issues)
            total.messages = [m for r in results for m in r.messages if "was not found in the value set" not in m]
        else:
            total.valid = False
            total.messages = [m for r in results for m in r.messages]
            if vs is not None:
                text = f"No valid coding was found for the value set '{_vurl(vs)}'"
                total.issues.insert(0, issue("error", "code-invalid", text, "not-in-vs", None,
                                             message_id="TX_GENERAL_CC_ERROR_MESSAGE"))
                total.messages = [text] + [m for m in total.messages if "was not found in the value set" not in m]
        return total

    # -- output ------------------------------------------------------------------------
    def _render(self, r: Result, mode, cc) -> dict:
        out = []
        p = r.params
        show = mode != "codeableConcept" or "code" in p
        if mode == "codeableConcept":
            out.append({"name": "codeableConcept", "valueCodeableConcept": cc})
        if "code" in p and show:
            out.append({"name": "code", "valueCode": p["code"]})
        if "display" in p and show:
            out.append({"name": "display", "valueString": p["display"]})
        if p.get("inactive") and show:
            out.append({"name": "inactive", "valueBoolean": True})
        if r.issues:
            out.append({"name": "issues", "resource": {"resourceType": "OperationOutcome", "issue": r.issues}})
        if r.messages:
            out.append({"name": "message", "valueString": "; ".join(dict.fromkeys(r.messages))})
        if "normalized-code" in p and show:
            out.append({"name": "normalized-code", "valueCode": p["normalized-code"]})
        out.append({"name": "result", "valueBoolean": bool(r.valid)})
        if "status" in p and show:
            out.append({"name": "status", "valueCode": p["status"]})
        if "system" in p and show:
            out.append({"name": "system", "valueUri": p["system"]})
        if "version" in p and show:
            out.append({"name": "version", "valueString": p["version"]})
        for u in r.unknown_systems:
            out.append({"name": "x-unknown-system", "valueCanonical": u})
        for u in (r.caused_by if not r.valid else ()):  # the answer might differ with that system known
            out.append({"name": "x-caused-by-unknown-system", "valueCanonical": u})
        return {"resourceType": "Parameters", "parameter": out}


class VSNotFound(Exception):
    def __init__(self, text):
        super().__init__(text)
        self.text = text


def _deprecated_in_vs(member) -> bool:
    for x in member.extensions or []:
        url = x.get("url")
        if url == "http://hl7.org/fhir/StructureDefinition/structuredefinition-standards-status" and \
                x.get("valueCode") == "deprecated":
            return True
        if url == "http://hl7.org/fhir/StructureDefinition/valueset-deprecated" and \
                str(x.get("valueBoolean", x.get("valueCode"))).lower() == "true":
            return True
    return False


def _dedupe(pairs):
    seen, out = set(), []
    for v, l in pairs:
        if (v, l) not in seen:
            seen.add((v, l))
            out.append((v, l))
    return out


def _tx_type(i):
    try:
        return i["details"]["coding"][0]["code"]
    except (KeyError, IndexError):
        return None


def _vurl(vs):
    if vs is None:
        return None
    if not vs.get("url"):
        return "(contained)"
    return f"{vs['url']}|{vs['version']}" if vs.get("version") else vs["url"]


def validate_vs(ctx, params, accept_language=None, instance_id=None) -> dict:
    return Validator(ctx, params, accept_language).validate_vs(instance_id)


def validate_cs(ctx, params, accept_language=None, instance_url=None) -> dict:
    return Validator(ctx, params, accept_language).validate_cs(instance_url)


def batch_validate(ctx, params, accept_language=None) -> dict:
    """ValueSet/$batch-validate-code: one `validation` parameter per request (a Parameters resource,
    or the parts of the parameter), each validated with the top-level parameters as defaults."""
    from termsvc.fhir.params import Params
    shared = [p for p in params.items if p.name != "validation"]
    out = []
    for p in params.items:
        if p.name != "validation":
            continue
        if isinstance(p.resource, dict):
            own = Params.from_resource(p.resource).items
        else:
            own = Params.from_resource({"resourceType": "Parameters", "parameter": p.part or []}).items
        names = {q.name for q in own}
        merged = Params(own + [q for q in shared if q.name not in names])
        try:
            result = Validator(ctx, merged, accept_language).validate_vs()
        except OpError as e:
            result = e.to_outcome()
        out.append({"name": "validation", "resource": result})
    if not out:
        raise OpError("$batch-validate-code needs one 'validation' parameter per code to validate", code="required")
    return {"resourceType": "Parameters", "parameter": out}
