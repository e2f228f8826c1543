"""ValueSet/$validate-code and CodeSystem/$validate-code, with HL7 tx-ecosystem messages."""
from termsvc.fhir.outcome import NotFound, OpError, issue
from termsvc.ops.compose import Composer, CycleError
from termsvc.ops.context import split_canonical
from termsvc.ops.expand import resolve_value_set
from termsvc.ops.language import LanguagePrefs, lang_matches

ABSENT = object()


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
        self.params = {}
        self.valid = True
        self.unknown_systems = []

    def add(self, *args, **kw):
        self.issues.append(issue(*args, **kw))


def _is_absolute(system: str) -> bool:
    return ":" in system and not system.startswith("#")


def _coded_inputs(params):
    """(mode, [Coded]) from code/system/display, coding or codeableConcept."""
    if params.get("codeableConcept") is not None:
        cc = params.get("codeableConcept")
        out = []
        for i, c in enumerate(cc.get("coding", []) or []):
            p = f"CodeableConcept.coding[{i}]"
            out.append(Coded(c.get("system"), c.get("code"), c.get("version"), c.get("display"), path=p))
        return "codeableConcept", out, cc
    coding = params.get("coding")
    if isinstance(coding, dict):
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
        self.prefs = LanguagePrefs(params.str("displayLanguage") or accept_language)
        self.lenient = params.bool("lenient-display-validation", False)
        self.active_only = params.bool("activeOnly")
        self.abstract_ok = params.bool("abstract", True)
        self.infer = params.bool("inferSystem")
        system_versions = {}
        for v in params.all("system-version"):
            if isinstance(v, str) and "|" in v:
                u, ver = split_canonical(v)
                system_versions[u] = ver
        force = {}
        for v in params.all("force-system-version"):
            if isinstance(v, str) and "|" in v:
                u, ver = split_canonical(v)
                force[u] = ver
        self.composer = Composer(ctx, system_versions, force, max_size=None,
                                 supplements=[s for s in params.all("useSupplement") if isinstance(s, str)])

    # -- entry points -----------------------------------------------------------------
    def validate_vs(self, instance_id=None) -> dict:
        vs = resolve_value_set(self.ctx, self.params, instance_id)
        mode, codeds, cc = _coded_inputs(self.params)
        self.composer.note_vs(vs)
        try:
            if mode == "codeableConcept":
                return self._render(self._validate_cc(vs, codeds), mode, cc)
            return self._render(self._validate_one(vs, codeds[0]), mode, None)
        except CycleError as e:
            raise OpError(e.text, status=400, code="processing", tx_type="vs-invalid")

    def validate_cs(self, instance_cs=None) -> dict:
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
    def _validate_one(self, vs, cd: Coded, in_cc=False) -> Result:
        r = Result()
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
                    r.add("error", "not-found", text, "cannot-infer", None)
                    self._not_in_vs(r, vs, cd, label=f"#{cd.code}")
                    r.valid = False
                    return r
            if cd.system is None:
                if vs is None:
                    raise OpError("No system was provided for the code to validate", tx_type="invalid-data")
                r.add("warning", "invalid", "Coding has no system. A code with no system has no defined meaning, "
                      "and it cannot be validated. A system should be provided", "invalid-data", cd.path or "code")
                self._not_in_vs(r, vs, cd, label=f"#{cd.code}")
                r.valid = False
                return r
        r.params["system"] = cd.system
        if not _is_absolute(cd.system):
            r.add("error", "invalid", "Coding.system must be an absolute reference, not a local reference",
                  "invalid-data", cd.system_path)
            r.add("error", "not-found", f"A definition for CodeSystem '{cd.system}' could not be found, so the code "
                  "cannot be validated", "not-found", cd.system_path, message_id="UNKNOWN_CODESYSTEM")
            r.unknown_systems.append(cd.system)
            if vs is not None:
                self._not_in_vs(r, vs, cd)
            r.valid = False
            return r
        cs = self.composer.code_system_for(cd.system, self._wanted_version(cd), vs)
        if cs is None:
            if self.ctx.value_set(cd.system) is not None:
                r.add("error", "invalid", f"The Coding references a value set, not a code system ('{cd.system}')",
                      "invalid-data", cd.system_path)
            else:
                version = self._wanted_version(cd)
                label = cd.system + (f"|{version}" if version else "")
                known = [v for v in self.ctx.code_system_versions(cd.system) if v]
                if version and known:
                    text = (f"A definition for CodeSystem '{cd.system}' version '{version}' could not be found, so the"
                            f" code cannot be validated. Valid versions: {', '.join(sorted(known))}")
                else:
                    text = f"A definition for CodeSystem {label} could not be found, so the code cannot be validated"
                r.add("error", "not-found", text, "not-found", cd.system_path, message_id="UNKNOWN_CODESYSTEM")
                r.unknown_systems.append(label)
            if vs is not None:
                self._not_in_vs(r, vs, cd)
            r.valid = False
            return r
        if cs.version:
            r.params["version"] = cs.version
        concept, normalized = cs.find(cd.code)
        member = None
        in_vs = True
        if vs is not None:
            member, _ = self.composer.contains(vs, cd.system, concept.code if concept else cd.code, cd.version)
            in_vs = member is not None
        if concept is None:
            if cs.content in ("fragment", "example") or cs.content == "not-present":
                r.add("warning", "code-invalid",
                      f"Unknown Code '{cd.code}' in the CodeSystem '{cs.url}' version '{cs.version}' - note that the "
                      f"code system is labeled as a {cs.content}, so the code may be valid in some other fragment",
                      "invalid-code", cd.code_path, message_id="UNKNOWN_CODE_IN_FRAGMENT")
                return r
            if vs is not None and not in_vs:
                self._not_in_vs(r, vs, cd)
            r.add("error", "code-invalid", f"Unknown code '{cd.code}' in the CodeSystem '{cs.url}' version "
                  f"'{cs.version}'", "invalid-code", cd.code_path, message_id="Unknown_Code_in_Version")
            r.valid = False
            return r
        if normalized:
            r.params["code"] = cd.code
            r.params["normalized-code"] = concept.code
            r.add("information", "business-rule",
                  f"The code '{cd.code}' differs from the correct code '{concept.code}' by case. Although the code "
                  f"system '{cs.vurl()}' is case insensitive, implementers are strongly encouraged to use the correct "
                  "case anyway", "code-rule", cd.code_path, message_id="CODE_CASE_DIFFERENCE")
        display = self._display_for(cs, concept, member)
        if display:
            r.params["display"] = display
        if concept.inactive:
            r.params["inactive"] = True
            status = concept.status or "inactive"
            if status != "inactive":
                r.params["status"] = status
            if self.active_only:
                r.add("error", "business-rule", f"The concept '{concept.code}' is valid but is not active",
                      "code-rule", cd.code_path, message_id="STATUS_CODE_WARNING_CODE")
                r.valid = False
            status_text = status if status == "inactive" else f"{status} and inactive"
            r.add("warning", "business-rule", f"The concept '{concept.code}' has a status of {status_text} and its "
                  "use should be reviewed", "code-comment", cd.path or "code", message_id="INACTIVE_CONCEPT_FOUND")
        elif concept.status == "deprecated":
            r.add("warning", "business-rule", f"The concept '{concept.code}' is deprecated and its use should be "
                  "reviewed", "code-comment", cd.path or "code")
        if vs is not None and not in_vs:
            self._not_in_vs(r, vs, cd)
            r.valid = False
        elif vs is not None and concept.abstract and not self.abstract_ok:
            r.add("error", "business-rule", f"Code '{cd.system}#{concept.code}' is abstract, and not allowed in this "
                  "context", "code-rule", cd.code_path, message_id="ABSTRACT_CODE_NOT_ALLOWED")
            self._not_in_vs(r, vs, cd)
            r.valid = False
        if cd.display is not None and r.valid is not False:
            self._check_display(r, cs, concept, cd, member)
        elif cd.display is not None:
            self._check_display(r, cs, concept, cd, member, quiet=True)
        self._status_warnings(r, cs, cd)
        return r

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

    def _status_warnings(self, r, cs, cd):
        for name, canonical in self.composer.warnings:
            pass

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

    def _check_display(self, r, cs, concept, cd, member, quiet=False):
        given = cd.display
        choices = []  # (value, language)
        if concept.display:
            choices.append((concept.display, cs.language))
        if member is not None and member.display and member.display != concept.display:
            choices.append((member.display, None))
        for d in cs.designations(concept):
            if d.get("value"):
                choices.append((d["value"], d.get("language")))
        norm = given.strip().lower()
        wanted = self.prefs.wanted() if self.prefs else []

        def lang_ok(lang):
            return not wanted or any(lang_matches(w, lang) for w in wanted) or lang is None and not cs.language
        if any(v.strip().lower() == norm and lang_ok(l) for v, l in choices):
            return
        if any(v.strip().lower() == norm for v, _ in choices) and not wanted:
            return
        sev = "warning" if (self.lenient or True) else "error"
        if self.params.has("lenient-display-validation") and not self.lenient:
            sev = "error"
        langs = "', '".join(wanted) if wanted else "--"
        valid = [(v, l) for v, l in choices if not wanted or lang_matches(wanted[0], l) or (l is None and cs.language
                                                                                             and lang_matches(wanted[0], cs.language))]
        if wanted and not valid:
            default = concept.display
            if any(v.strip().lower() == norm for v, _ in choices):
                text = (f"There are no valid display names found for the code {cd.system}#{concept.code} for language(s)"
                        f" '{langs}'. The display is '{given}' which is a valid display for the default language")
                r.add("information", "invalid", text, "display-comment", cd.display_path)
                return
            text = (f"Wrong Display Name '{given}' for {cd.system}#{concept.code}. There are no valid display names "
                    f"found for language(s) '{langs}'. Default display is '{default}'")
        else:
            if not valid:
                valid = choices
            shown = [f"'{v}'" + (f" ({l})" if l else "") for v, l in _dedupe(valid)]
            if len(shown) == 1:
                text = f"Wrong Display Name '{given}' for {cd.system}#{concept.code}. Valid display is {shown[0]}"
            else:
                text = (f"Wrong Display Name '{given}' for {cd.system}#{concept.code}. Valid display is one of "
                        f"{len(shown)} choices: {' or '.join(shown)}")
            text += f" (for the language(s) '{langs}')"
        if quiet:
            return
        r.add(sev, "invalid", text, "invalid-display", cd.display_path,
              message_id="Display_Name_for__should_be_one_of__instead_of")
        if sev == "error":
            r.valid = False

    # -- codeable concepts -------------------------------------------------------------
    def _validate_cc(self, vs, codeds) -> Result:
        total = Result()
        any_valid = False
        first_valid = None
        for cd in codeds:
            r = self._validate_one(vs, cd, in_cc=True)
            total.unknown_systems += r.unknown_systems
            if r.valid:
                any_valid = True
                if first_valid is None:
                    first_valid = r
            for i in r.issues:
                if vs is not None and not r.valid and _tx_type(i) == "not-in-vs":
                    i = dict(i, severity="information")
                    i["details"] = dict(i["details"], coding=[dict(i["details"]["coding"][0], code="this-code-not-in-vs")])
                total.issues.append(i)
        if any_valid:
            total.params.update({k: v for k, v in first_valid.params.items()})
            total.valid = True
            total.issues = [i for i in total.issues if i["severity"] != "error" or _tx_type(i) not in ("invalid-code",)]
        else:
            total.valid = False
            if codeds:
                last = codeds[-1]
                for k in ("code", "system", "version", "display"):
                    pass
            if vs is not None:
                total.issues.insert(0, issue("error", "code-invalid",
                                             f"No valid coding was found for the value set '{_vurl(vs)}'", "not-in-vs",
                                             None, message_id="TX_GENERAL_CC_ERROR_MESSAGE"))
        return total

    # -- output ------------------------------------------------------------------------
    def _render(self, r: Result, mode, cc) -> dict:
        out = []
        p = r.params
        if mode == "codeableConcept":
            out.append({"name": "codeableConcept", "valueCodeableConcept": cc})
        if "code" in p and (mode != "codeableConcept" or r.valid):
            out.append({"name": "code", "valueCode": p["code"]})
        if "display" in p and (mode != "codeableConcept" or r.valid):
            out.append({"name": "display", "valueString": p["display"]})
        if p.get("inactive"):
            out.append({"name": "inactive", "valueBoolean": True})
        if r.issues:
            out.append({"name": "issues", "resource": {"resourceType": "OperationOutcome", "issue": r.issues}})
        messages = [i["details"]["text"] for i in r.issues if i["severity"] in ("error", "warning", "fatal")]
        if messages and (not r.valid or True):
            out.append({"name": "message", "valueString": "; ".join(messages)})
        if "normalized-code" in p:
            out.append({"name": "normalized-code", "valueCode": p["normalized-code"]})
        out.append({"name": "result", "valueBoolean": bool(r.valid)})
        if "status" in p:
            out.append({"name": "status", "valueCode": p["status"]})
        if "system" in p and (mode != "codeableConcept" or r.valid):
            out.append({"name": "system", "valueUri": p["system"]})
        if "version" in p and (mode != "codeableConcept" or r.valid):
            out.append({"name": "version", "valueString": p["version"]})
        for u in r.unknown_systems:
            out.append({"name": "x-caused-by-unknown-system", "valueCanonical": u})
        return {"resourceType": "Parameters", "parameter": out}


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
