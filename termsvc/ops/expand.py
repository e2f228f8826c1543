"""ValueSet/$expand.

A stored value set that was pre-expanded at build time is paged straight out of
the `expansion` table (a keyset read; text filters go through FTS5). Anything
else - request resources, version overrides, supplements - is expanded by the
Composer and rendered by the same code.
"""
import functools
import os
import time
from collections.abc import Container
from dataclasses import dataclass
from typing import Any

from termsvc import deadline
from termsvc.fhir import messages
from termsvc.fhir.operations import ECHOED as ECHOED_ALWAYS, ECHOED_WHEN_USED, EXPAND
from termsvc.fhir.outcome import TooManyCodes
from termsvc.fhir.params import Param, Params
from termsvc.ops.completeness import unclosed
from termsvc.ops.compose import Composer, STANDARDS_STATUS, VersionRules, vs_default_parameters
from termsvc.ops.context import Context, Provider, build_cached, canonical_label
from termsvc.ops.language import LanguagePrefs, PREFERRED_FOR_LANGUAGE, choose_display, display_language
from termsvc.ops.members import Member
from termsvc.ops.sqlpath import FAST_PATH_MIN, pre_expanded_total, query_expansion, stored_expansion, stored_members
from termsvc.ops.text import fts_query, text_filter
from termsvc.results import JSON, Echo, Entry, Expansion, Property
from termsvc.store.queries import Row

ECHOED = EXPAND.echoed(ECHOED_ALWAYS)
# echoed only when they chose the version of a code system the expansion used
VERSION_PARAMETERS = EXPAND.echoed(ECHOED_WHEN_USED)
CONCEPT_PROPS = "http://hl7.org/fhir/concept-properties#"
# what an expansion repeats of its value set (the compose only with includeDefinition: it can be large)
VS_META_KEEP = ("resourceType", "id", "language", "url", "identifier", "version", "name", "title", "status",
                "experimental", "date", "publisher", "contained")


class ExpandOptions:
    # what a request that sets none of them gets (most requests: the value set and nothing more; never changed)
    count: int | None = None
    offset: int = 0
    active_only = exclude_nested = include_designations = include_definition = exclude_not_for_ui = False
    designations: list[str] = []
    properties: list[str] = []
    filter: str | None = None
    display_language_param: str | None = None
    rules = VersionRules.NONE
    supplements: list[str] = []
    versions_match: bool | None = None
    READ = frozenset({"count", "offset", "activeOnly", "excludeNested", "includeDesignations", "includeDefinition",
                      "excludeNotForUI", "designation", "property", "filter", "displayLanguage", "useSupplement",
                      "versionsMatch"}) | VersionRules.PARAMETERS

    def __init__(self, params: Params, accept_language: str | None = None):
        self.params = params
        self.accept_language = accept_language
        self.partial = False   # the first codes of an expansion too large to give whole (limitedExpansion)
        if not params.has_any(self.READ):
            return
        self.count = params.int("count")
        self.offset = params.int("offset", 0) or 0
        self.active_only = params.bool("activeOnly")
        self.exclude_nested = params.bool("excludeNested", False)
        self.include_designations = params.bool("includeDesignations")
        self.include_definition = params.bool("includeDefinition")
        self.exclude_not_for_ui = params.bool("excludeNotForUI")
        self.designations = [d for d in params.all("designation") if isinstance(d, str)]
        self.properties = [p for p in params.all("property") if isinstance(p, str)]
        self.filter = params.str("filter")
        self.display_language_param = params.str("displayLanguage")
        self.rules = VersionRules.from_params(params)
        self.supplements = [s for s in params.all("useSupplement") if isinstance(s, str)]
        self.versions_match = params.bool("versionsMatch") if params.has("versionsMatch") else None

    @functools.cached_property
    def text_query(self) -> str | None:
        """The FTS5 query of the text filter (None: no filter, or one without words)."""
        return fts_query(self.filter) if self.filter else None


def expand(ctx: Context, params: Params, accept_language: str | None = None, instance_id: str | None = None,
           max_size: int | None = None) -> Expansion:
    """The expansion of the value set the parameters name.

    Without paging it has at most `max_size` codes (the setting max_expansion; None or 0: no
    limit), or the client's `_limit` when that is lower (the HL7 validator's word for the most codes
    it wants). Past that it is too costly (VALUESET_TOO_COSTLY, 422); a client that asked for
    `limitedExpansion` (or `_incomplete`, as the HL7 validator says) gets the first codes instead,
    marked incomplete with the valueset-toocostly extension and without a total."""
    display_language(params)   # the request's own, checked (a value set's defaults are its own business)
    vs = ctx.resolve_value_set(params, instance_id)
    shape = _shape(ctx, vs)
    defaults = [Param(n, k, v) for n, k, v in shape.defaults if not params.has(n)]
    if defaults:
        params = Params(params.items + defaults)
    opts = ExpandOptions(params, accept_language)
    limit = min((n for n in (max_size, params.int("_limit")) if n), default=None)
    try:
        return _expansion(ctx, vs, shape, opts, limit)
    except TooManyCodes as e:
        if not (params.bool("limitedExpansion") or params.bool("_incomplete")):
            hint = messages.text("too-many-codes-hint", detail=e.text, limit=limit)
            raise TooManyCodes(messages.text("VALUESET_TOO_COSTLY", url=canonical_label(vs), limit=limit),
                               message_id="VALUESET_TOO_COSTLY", diagnostics=hint) from None
    opts.count, opts.offset, opts.partial = limit, 0, True   # the first `limit` codes, said to be incomplete
    return _expansion(ctx, vs, shape, opts, None)


@dataclass(slots=True, frozen=True)
class Shape:
    """What an expansion needs to know of its value set's definition, whatever the request."""
    defaults: list[tuple[str, str, Any]]   # the expansion parameters it sets for itself: (name, value key, value)
    versioned: set[str]       # the systems whose entries say their version
    tree: bool                # whether its expansion is a tree (when its code systems have a hierarchy)
    tree_filtered: bool       # the same under a text filter


def _shape(ctx: Context, vs: JSON) -> Shape:
    """The Shape of vs: made once per build for a stored value set."""
    def make() -> Shape:
        return Shape(vs_default_parameters(vs), _versioned_systems(vs), *_hierarchical(vs))
    vs_id = ctx.stored_value_set_id(vs)
    return make() if vs_id is None or ctx.store is None else build_cached(ctx.store, ("vs-shape", vs_id), make)


def _expansion(ctx: Context, vs: JSON, shape: Shape, opts: ExpandOptions, max_size: int | None) -> Expansion:
    prefs = _language_prefs(opts, vs)
    paged = opts.count is not None or opts.offset
    tree = not (opts.exclude_nested or paged) and (shape.tree_filtered if opts.filter else shape.tree)
    rules = opts.rules
    as_stored = not (rules.defaults or rules.force or rules.check or rules.value_sets or opts.supplements
                     or ctx.tx or opts.versions_match is not None)
    entries = Entries(opts, prefs, shape.versioned)
    # a stored value set asked for as stored: what its composition gives is the same for every request
    # of a build (made once and kept), as is what its pre-expansion holds
    vs_id = ctx.stored_value_set_id(vs) if as_stored else None
    stored = stored_expansion(ctx, vs, opts, max_size, tree=tree, plain=entries.plain) if vs_id is not None else None
    contains = closure = None
    nested = False
    page: list[Member]   # (the members shown, when the entries are made of members)
    store = ctx.store
    if stored is not None:
        assert store is not None   # (a pre-expansion is the store's)
        rows, total, used = stored
        composer, closure = build_cached(store, ("pre-expanded", vs_id, opts.active_only, rules.to_latest),
                                         lambda: _pre_expanded(ctx, vs, opts, used))
        if entries.plain:   # the entries straight from the rows
            contains = entries.plain_rows(rows)
        else:
            page = stored_members(ctx, rows, with_designations=entries.reads_designations)
    else:
        composer = _composer(ctx, opts, None if paged else max_size)
        composer.note_vs(vs)
        queried = query_expansion(ctx, composer, vs, opts, max_size) if as_stored and ctx.store is not None else None
        if queried is not None:
            page, total = queried
        else:
            pre_total = pre_expanded_total(store, vs_id) if vs_id is not None and store is not None else None
            if pre_total is not None and pre_total < FAST_PATH_MIN:
                # kept for the small value sets (the memory it takes is bounded by their pre-expansions')
                key = ("composition", vs_id, composer.max_size, opts.active_only, rules.to_latest)
                assert store is not None
                composer, members, closure = build_cached(store, key, lambda: _composition(ctx, composer, vs))
            else:
                members = composer.members(vs)
            if opts.exclude_not_for_ui:
                members = [m for m in members if not m.abstract]
            if opts.filter:
                members = text_filter(members, opts.filter)
            total = len(members)
            if max_size and not paged and total > max_size:
                raise TooManyCodes(messages.text("expansion-too-large", url=canonical_label(vs), total=total,
                                                 limit=max_size))
            first_cs = members[0].cs if members else None
            nested = tree and first_cs is not None and first_cs.has_hierarchy()
            page = members[opts.offset:opts.offset + opts.count] if opts.count is not None else members[opts.offset:]
    identifier, timestamp = new_identifier(), timestamp_now()
    fragments, reason = closure or _closure(ctx, composer, vs)
    echo = _echo_parameters(opts, prefs, composer, fragments)
    if contains is None:
        contains = entries.nest(page) if nested else entries.entries(page)
    return Expansion(_repeated(vs, opts), identifier, timestamp, contains, echo,
                     total=None if opts.partial else total,
                     offset=opts.offset if paged and not opts.partial else None,
                     partial=opts.partial, unclosed_reason=reason, property_defs=entries.property_defs)


def new_identifier() -> str:
    """A new random (version 4) UUID as a URN: what uuid.uuid4() gives, without its object."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40   # version 4
    b[8] = (b[8] & 0x3F) | 0x80   # RFC 4122 variant
    h = b.hex()
    return f"urn:uuid:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_last_second = [(-1, "")]   # (second since the epoch, its timestamp): the requests of one second share it


def timestamp_now() -> str:
    """Now, in UTC to the second (an expansion's timestamp)."""
    now = int(time.time())
    second, text = _last_second[0]
    if second != now:
        text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        _last_second[0] = (now, text)
    return text


def _composer(ctx: Context, opts: ExpandOptions, max_size: int | None) -> Composer:
    return Composer(ctx, opts.rules, max_size=max_size, supplements=opts.supplements, active_only=opts.active_only,
                    versions_match=opts.versions_match)


def _pre_expanded(ctx: Context, vs: JSON, opts: ExpandOptions, used: tuple[str, ...]
                  ) -> tuple[Composer, tuple[list[str], str | None]]:
    """(composer, closure) of an expansion read from the pre-expansion of vs, whose used code systems
    are `used`: the composer is not used further (it is shared once cached)."""
    composer = _composer(ctx, opts, None)
    composer.note_vs(vs)
    for url in used:
        composer.used_codesystems.setdefault(url, None)
    return composer, _closure(ctx, composer, vs)


def _composition(ctx: Context, composer: Composer, vs: JSON
                 ) -> tuple[Composer, list[Member], tuple[list[str], str | None]]:
    """(composer, members, closure) of the composition of vs: the composer is not used further (it is
    shared once cached)."""
    members = composer.members(vs)
    return composer, members, _closure(ctx, composer, vs)


def _closure(ctx: Context, composer: Composer, vs: JSON) -> tuple[list[str], str | None]:
    """(used fragments, why the expansion is not closed or None): a fragment cannot say a code is not in
    the code system."""
    open_parts = unclosed(composer, vs)
    reason = "; ".join(dict.fromkeys(u.expansion_reason() for u in open_parts)) if open_parts else None
    return _used_fragments(ctx, composer), reason


def _repeated(vs: JSON, opts: ExpandOptions) -> JSON:
    """What an expansion repeats of its value set: its extensions (not its standards status), its
    metadata, and with includeDefinition its compose."""
    out: JSON = {}
    exts = [x for x in vs.get("extension", []) or [] if x.get("url") != STANDARDS_STATUS]
    if exts:
        out["extension"] = exts
    out.update((k, vs[k]) for k in VS_META_KEEP if k in vs and k != "resourceType")
    if opts.include_definition and vs.get("compose"):
        out["compose"] = vs["compose"]
    return out


def _hierarchical(vs: JSON) -> tuple[bool, bool]:
    """Is the expansion of vs a tree (when its code systems have a hierarchy), and under a text filter?
    When it takes whole code systems or filters of them - not an enumeration, an import or an exclude.
    A text filter prunes the tree of a value set that selects by filter, which stays a tree (the
    matching codes, each under its parent when that matches too); over a whole code system it is a
    search of the code system, whose matches are a flat list (as the reference server answers both)."""
    compose = vs.get("compose") or {}
    incs = compose.get("include", []) or []
    tree = bool(incs) and not compose.get("exclude") and all(
        inc.get("system") and not inc.get("concept") and not inc.get("valueSet") for inc in incs)
    return tree, tree and all(inc.get("filter") for inc in incs)


def _versioned_systems(vs: JSON) -> set[str]:
    """Systems the compose names in more than one version (its members then say which)."""
    compose = vs.get("compose") or {}
    parts = (compose.get("include", []) or []) + (compose.get("exclude", []) or [])
    if len(parts) < 2:
        return set()
    seen: dict[str, set[str | None]] = {}
    for inc in parts:
        if inc.get("system"):
            seen.setdefault(inc["system"], set()).add(inc.get("version"))
    return {s for s, versions in seen.items() if len(versions) > 1}


def _language_prefs(opts: ExpandOptions, vs: JSON) -> LanguagePrefs:
    if opts.display_language_param:
        return LanguagePrefs(opts.display_language_param)
    if opts.accept_language:
        return LanguagePrefs(opts.accept_language)
    if vs.get("language"):
        return LanguagePrefs(vs["language"])
    return LanguagePrefs(None)


def _used_fragments(ctx: Context, composer: Composer) -> list[str]:
    """The used code systems (url|version) that are fragments."""
    out = []
    for url, cs in composer.used_codesystems.items():
        cs = cs or ctx.code_system(url)
        if cs is not None and cs.content == "fragment":
            out.append(url)
    return out


def _echo_parameters(opts: ExpandOptions, prefs: LanguagePrefs, composer: Composer, fragments: list[str]
                     ) -> list[Echo]:
    """The parameters the expansion says it used: those of the request it echoes, the display language,
    the code systems, fragments, value sets and supplements used, and the status warnings."""
    out = []
    for p in opts.params.items:
        if p.resource is not None or not p.key or p.name == "displayLanguage":
            continue
        if p.name in ECHOED or (p.name in VERSION_PARAMETERS and isinstance(p.value, str)
                                and (p.name, p.value.split("|")[0]) in composer.used_version_params):
            out.append(Echo(p.name, "valueUri" if p.key == "valueCanonical" else p.key, p.value))
    if prefs:
        key = "valueCode"
        sent = opts.params.first("displayLanguage")
        if sent is not None and sent.key:
            key = sent.key
        out.append(Echo("displayLanguage", key, prefs.echo()))
    if composer.versions_match or composer.merged_across_versions:
        out.append(Echo("versionsMatch", "valueBoolean", True))
    out += [Echo("used-codesystem", "valueUri", url) for url in composer.used_codesystems]
    out += [Echo("used-fragment", "valueUri", url) for url in fragments]
    for url in composer.used_valuesets:
        if url and not url.startswith("#"):
            out.append(Echo("used-valueset", "valueUri", url))
    for s in composer.used_supplements:
        out.append(Echo("used-supplement", "valueUri", s))
    for name, canonical in composer.warnings:
        out.append(Echo(name, "valueUri", canonical))
    return out


# -- the codes as the expansion shows them -------------------------------------------

SD = "http://hl7.org/fhir/StructureDefinition/"
# concept extensions that expansions report as properties: url -> (property code, uri, value key)
EXTENSION_PROPERTIES = {
    SD + "codesystem-conceptOrder": ("order", CONCEPT_PROPS + "order", "valueDecimal"),
    SD + "itemWeight": ("weight", CONCEPT_PROPS + "itemWeight", "valueDecimal"),
    SD + "codesystem-label": ("label", CONCEPT_PROPS + "label", "valueString"),
    SD + "structuredefinition-standards-status": ("status", CONCEPT_PROPS + "status", "valueCode"),
}
# the same set by the value set on its compose concepts
VS_EXTENSION_PROPERTIES = {
    SD + "valueset-conceptOrder": ("order", CONCEPT_PROPS + "order", "valueDecimal"),
    SD + "itemWeight": ("weight", CONCEPT_PROPS + "itemWeight", "valueDecimal"),
    SD + "valueset-label": ("label", CONCEPT_PROPS + "label", "valueString"),
}
# concept extensions that expansions carry along
CARRIED_EXTENSIONS = {SD + "rendering-style", SD + "rendering-xhtml", SD + "valueset-deprecated",
                      SD + "valueset-concept-definition"}


class Entries:
    """The codes of an expansion as it shows them: the display in the language asked for, the designations
    and properties asked for, the concept extensions it carries along; and the definitions of the
    properties they carry."""

    def __init__(self, opts: ExpandOptions, prefs: LanguagePrefs, versioned: set[str] | frozenset[str] = frozenset()):
        self.opts = opts
        self.prefs = prefs
        self.versioned = versioned    # systems whose entries say their version
        self.property_defs: list[JSON] = []
        self._seen_props: set[str] = set()
        self._listed = bool(opts.include_designations or opts.designations)   # designations shown
        self._choose = bool(prefs)    # a language asked for: the display is chosen among the designations
        self._read = self._choose or self._listed   # designations read
        # neither designations nor properties asked for: an entry is its member's own elements (and the
        # status property of a concept that is not active) unless extensions say more
        self.plain = not (self._read or opts.properties)
        self.reads_designations = self._read

    def _prop_def(self, cs: Provider | None, code: str, uri: str | None = None) -> None:
        if code in self._seen_props:
            return
        if code == "definition":
            uri = CONCEPT_PROPS + "definition"
        elif uri is None and cs is not None:
            for d in cs.property_defs:
                if d.get("code") == code:
                    uri = d.get("uri")
        self._seen_props.add(code)
        definition: JSON = {"code": code}
        if uri:
            definition["uri"] = uri
        self.property_defs.append(definition)

    def plain_entry(self, system: str, version: str | None, code: str, display: str | None, abstract: bool,
                    inactive: bool, status: str | None) -> Entry:
        """The entry of a code without extensions, when `plain` (what entry() gives such a code)."""
        return Entry(system, code, version if version and system in self.versioned else None, display or None,
                     abstract, inactive, None, self._status_property(status) if status else None, None)

    def _status_property(self, status: str | None) -> list[Property] | None:
        """The status property of a concept that is not active."""
        if not status or status.lower() == "active":
            return None
        self._prop_def(None, "status", CONCEPT_PROPS + "status")
        return [Property("status", "valueCode", status)]

    def plain_rows(self, rows: list[Row]) -> list[Entry]:
        """The entries of pre-expansion rows (sqlpath.PLAIN_COLUMNS), when `plain`: a stored concept has no
        extensions; the status is its stored concept's (NULL for a member without one)."""
        versioned = self.versioned
        out = []
        for start in range(0, len(rows), 256):
            deadline.check()
            for system, version, code, display, inactive, abstract, status in rows[start:start + 256]:
                out.append(Entry(system, code, version if version and system in versioned else None,
                                 display or None, bool(abstract), bool(inactive), None,
                                 self._status_property(status) if status else None, None))
        return out

    def entries(self, members: list[Member], parents: Container[int] = ()) -> list[Entry]:
        """The entries of members, in their order: the plain ones made here, without a call each. A plain
        entry with nothing of the request in it (no version shown, no codes under it: not at a position in
        `parents`) is kept by its member and given again while the member lasts (a stored concept's lasts
        as long as the build); it is never changed."""
        out: list[Entry] = []
        append = out.append
        versioned, full = self.versioned, self.entry
        for start in range(0, len(members), 256):
            deadline.check()
            if not self.plain:   # (designations or properties asked for: each entry made whole)
                out += map(full, members[start:start + 256])
                continue
            for i, m in enumerate(members[start:start + 256], start):
                kept = m.entry
                if kept is not None and i not in parents and not (m.version and m.system in versioned):
                    append(kept)
                    continue
                concept, cs = m.concept, m.cs
                if m.extensions:
                    append(full(m))
                    continue
                if concept is None or cs is None:
                    status = None
                elif concept.extensions or cs.supplements:
                    append(full(m))
                    continue
                else:
                    status = concept.status
                version = m.version
                entry = Entry(m.system, m.code, version if version and m.system in versioned else None,
                              m.display or None, m.abstract, m.inactive, None,
                              self._status_property(status) if status and status != "active" else None, None)
                if entry.version is None and entry.properties is None and i not in parents:
                    m.entry = entry
                append(entry)
        return out

    def entry(self, m: Member) -> Entry:
        cs = m.cs
        concept = m.concept
        if self.plain and not m.extensions:
            if concept is None or cs is None:
                return self.plain_entry(m.system, m.version, m.code, m.display, m.abstract, m.inactive, None)
            if not concept.extensions and not cs.supplements:
                return self.plain_entry(m.system, m.version, m.code, m.display, m.abstract, m.inactive,
                                        concept.status)
        ext_props: dict[str, tuple[str, str, Any]] = {}
        carried: list[JSON] = []
        if concept is not None and cs is not None:
            if concept.status and concept.status.lower() != "active":
                ext_props["status"] = (CONCEPT_PROPS + "status", "valueCode", concept.status)
            for x in cs.concept_extensions(concept):
                url = x.get("url")
                if url in EXTENSION_PROPERTIES:
                    code, uri, key = EXTENSION_PROPERTIES[url]
                    ext_props[code] = (uri, key, next((v for k, v in x.items() if k.startswith("value")), None))
                elif url in CARRIED_EXTENSIONS and url not in {c.get("url") for c in carried}:
                    carried.append(x)
        for x in m.extensions or []:  # the value set's own word wins
            url = x.get("url")
            if url in VS_EXTENSION_PROPERTIES:
                code, uri, key = VS_EXTENSION_PROPERTIES[url]
                ext_props[code] = (uri, key, next((v for k, v in x.items() if k.startswith("value")), None))
            elif url in CARRIED_EXTENSIONS or url == STANDARDS_STATUS:
                carried = [c for c in carried if c.get("url") != url] + [x]
        designations = []
        if self._read and concept is not None and cs is not None:
            designations = cs.designations(concept)
        if m.designations:
            designations = designations + list(m.designations)
        if self._choose:
            display, used, changed = choose_display(self.prefs, cs.language if cs is not None else None, m.display,
                                                    designations)
        else:   # the value set's or code system's own
            display, used, changed = m.display, None, False
        shown = None
        if self._listed:
            shown = []
            if changed and m.display:
                d = {"use": PREFERRED_FOR_LANGUAGE, "value": m.display}
                if cs is not None and cs.language:
                    d = {"language": cs.language, **d}
                shown.append(d)
            for d in designations:
                if d is used:
                    continue
                if self.opts.designations and not _designation_wanted(d, self.opts.designations):
                    continue
                shown.append(d)
        props = []
        if self.opts.properties and concept is not None and cs is not None:
            for code in self.opts.properties:
                if code == "definition":
                    if concept.definition:
                        props.append(Property("definition", "valueString", concept.definition))
                        self._prop_def(cs, code)
                    continue
                for pcode, value_key, value in cs.properties(concept):
                    if pcode == code and value_key:
                        props.append(Property(code, value_key, value))
                        self._prop_def(cs, code)
        for code, (uri, key, value) in ext_props.items():
            if code in self.opts.properties:
                continue
            props.append(Property(code, key, value))
            self._prop_def(cs, code, uri)
        return Entry(m.system, m.code, m.version if m.version and m.system in self.versioned else None,
                     display or None, m.abstract, m.inactive, shown or None, props or None, carried or None)

    def nest(self, members: list[Member]) -> list[Entry]:
        """The entries as a tree: each under its first parent in the expansion (same system and version)."""
        at: dict[tuple[str, str | None], dict[str, int]] = {}   # (system, version) -> code -> position
        groups: list[dict[str, int]] = []   # each member's
        group: dict[str, int] = {}
        system: str | None = None
        version: str | None = None
        for i, m in enumerate(members):
            if m.system != system or m.version != version or not i:   # (the members of an include come together)
                system, version = m.system, m.version
                group = at.setdefault((system, version), {})
            group[m.code] = i
            groups.append(group)
        parent_of: list[int | None] = []
        for m, group in zip(members, groups):
            parent = None
            concept, cs = m.concept, m.cs
            if concept is not None and cs is not None:
                code = m.code
                for p in cs.parent_codes(concept):
                    if p != code:
                        parent = group.get(p)
                        if parent is not None:
                            break
            parent_of.append(parent)
        made = self.entries(members, {p for p in parent_of if p is not None})
        roots = []
        for entry, parent in zip(made, parent_of):
            if parent is None:
                roots.append(entry)
            else:
                under = made[parent]
                if under.contains is None:
                    under.contains = [entry]
                else:
                    under.contains.append(entry)
        return roots


def _designation_wanted(d: JSON, wanted: list[str]) -> bool:
    for w in wanted:
        system, _, code = w.partition("|")
        if system == "urn:ietf:bcp:47":
            if (d.get("language") or "").lower() == code.lower():
                return True
        else:
            use = d.get("use") or {}
            if use.get("system") == system and use.get("code") == code:
                return True
    return False
