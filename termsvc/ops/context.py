"""Resolving what a request names, for one request: canonical URLs (request resources - tx-resource -
first, then the store; versions exact, wildcard `1.x`, `1.*`, or the latest), the value set an operation
is about (by id, sent whole, or by url), and the resource an instance-level call names by its id.
"""
import functools
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, overload

import cachetools
import orjson

from termsvc.fhir import messages
from termsvc.fhir.convert import to_r5
from termsvc.fhir.shape import check_resource
from termsvc.ops.codesystems import CodeSystemProvider, InMemoryCodeSystem, ReadOnce, StoredCodeSystem
from termsvc.fhir.params import Params
from termsvc.ops.per_build import PerBuild
from termsvc.results import JSON
from termsvc.store.queries import Queries, Row

T = TypeVar("T")
Provider = CodeSystemProvider[Any]   # a stored or a request's code system (its concepts of either kind)

# per build generation: parsed JSON of stored resources, providers, lists of versions (the threads of a
# process share it: locked)
_cache: cachetools.LRUCache[tuple[Any, ...], object] = cachetools.LRUCache(50_000)
_cache_generation: list[tuple[int, int] | None] = [None]
_cache_lock = threading.Lock()
_MISSING = object()


def build_cached(store: Queries, key: tuple[Any, ...], make: Callable[[], T]) -> T:
    """`make()`, made once per build of `store` (and kept while it is among the 50,000 used last)."""
    gen = (id(store), store.generation)
    with _cache_lock:
        if _cache_generation[0] != gen:
            _cache.clear()
            _cache_generation[0] = gen
        hit = _cache.get(key, _MISSING)
    if hit is not _MISSING:
        return hit   # type: ignore[return-value]  # (what make() made for this key)
    value = make()   # unlocked: it may query, and ask for other cached values
    with _cache_lock:
        if _cache_generation[0] == gen:   # not a value of a build another thread has moved on from
            _cache[key] = value
    return value


CS_COLUMNS = "id, url, version, content, case_sensitive, hierarchy_meaning, supplements, language, concept_count"


class _Stored:
    """What every request resolves in the stored code systems and value sets, per build (`STORED`, read
    without a lock): their rows by url (one query each), and the provider or value set found for each
    (url, version) a request asked for - only for the build's own urls and versions (None or one it
    holds), so bounded by the build; any other version (a pattern) goes through build_cached."""

    def __init__(self, store: Queries):
        self.cs_rows = _by_url(store.all(f"SELECT {CS_COLUMNS} FROM code_system ORDER BY id"))
        self.vs_rows = _by_url(store.all("SELECT id, url, version FROM value_set ORDER BY id"))
        self.code_systems: dict[tuple[str, str | None], Provider | None] = {}
        self.value_sets: dict[tuple[str, str | None], JSON | None] = {}


def _by_url(rows: list[Row]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {}
    for r in rows:
        out.setdefault(r[1], []).append(r)
    return out


def _held(rows_by_url: dict[str, list[Row]], url: str, version: str | None) -> bool:
    """Whether (url, version) names the build's own: a url it holds, no version or one of that url's."""
    rows = rows_by_url.get(url)
    return rows is not None and (version is None or any(r[2] == version for r in rows))


STORED = PerBuild(_Stored)


@overload
def split_canonical(canonical: str) -> tuple[str, str | None]: ...
@overload
def split_canonical(canonical: str | None) -> tuple[str | None, str | None]: ...
def split_canonical(canonical: str | None) -> tuple[str | None, str | None]:
    if canonical and "|" in canonical:
        u, v = canonical.split("|", 1)
        return u, (v or None)
    return canonical, None


def vurl(resource: JSON) -> str | None:
    """A canonical resource's `url|version` (its url when it has no version; None without a url)."""
    if not resource.get("url"):
        return None
    url: str = resource["url"]
    return f"{url}|{resource['version']}" if resource.get("version") else url


def canonical_label(resource: JSON) -> str:
    """How messages name a canonical resource: `url|version`; one without a url (a value set contained
    in another, or sent whole in the request) by its local reference, `#id`."""
    label = vurl(resource)
    if label is not None:
        return label
    return f"#{resource['id']}" if resource.get("id") else "(a resource without url or id)"


@functools.lru_cache(maxsize=4096)   # the same few versions, compared in every request
def version_key(v: str | None) -> tuple[tuple[int, int, str], ...]:
    """A sort key of versions: numeric parts as numbers (1.10 after 1.9)."""
    if v is None:
        return ()
    parts = re.split(r"[.\-+]", v)
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


def version_matches(wanted: str | None, actual: str | None) -> bool:
    """Exact, or a wildcard pattern: 1.x / 1.* / 1.2.x ('x' and '*' match one or more trailing parts)."""
    if wanted is None:
        return True
    if actual is None:
        return False
    if wanted == actual:
        return True
    if wanted.startswith("http://snomed.info/sct/") and "/version/" not in wanted:
        return actual.startswith(wanted.rstrip("/") + "/version/")  # an edition: any of its releases
    if "x" in wanted.split(".") or "*" in wanted:
        wp = wanted.split(".")
        ap = actual.split(".")
        for i, w in enumerate(wp):
            if w in ("x", "*"):
                return True if i == len(wp) - 1 else (i < len(ap))
            if i >= len(ap) or ap[i] != w:
                return False
        return len(ap) == len(wp)
    return False


def canonical_versions(values: Iterable[object]) -> dict[str | None, str | None]:
    """{url: version} from `url|version` parameters (system-version and its kin)."""
    out: dict[str | None, str | None] = {}
    for v in values:
        if isinstance(v, str) and "|" in v:
            u, ver = split_canonical(v)
            out[u] = ver
    return out


def pick_version(candidates: list[T], wanted: str | None,
                 version_of: Callable[[Any], str | None] = lambda c: c.get("version")) -> T | None:
    """The candidate with the wanted version (or pattern), else the latest."""
    if not candidates:
        return None
    if wanted is not None:
        matching = [c for c in candidates if version_matches(wanted, version_of(c))]
        if not matching:
            return None
        candidates = matching
    if len(candidates) == 1:
        return candidates[0]
    return max(candidates, key=lambda c: version_key(version_of(c)))


class Context:
    def __init__(self, store: Queries | None, tx_resources: list[JSON] | None = None, fhir_version: str = "R5"):
        self.store = store
        self.fhir_version = fhir_version
        self.tx: dict[tuple[str, str], list[JSON]] = {}
        self.contained: dict[str, JSON] = {}
        for r in tx_resources or []:
            self.add_resource(r)
        self._cs_cache: dict[tuple[str, str | None], Provider] = {}

    def add_resource(self, r: object) -> None:
        if not isinstance(r, dict):
            return
        rt = r.get("resourceType")
        for c in r.get("contained", []) or []:
            if isinstance(c, dict) and c.get("id"):
                self.contained["#" + c["id"]] = c
        if rt in ("CodeSystem", "ValueSet", "ConceptMap") and r.get("url"):
            r = to_r5(r)
            self.tx.setdefault((rt, r["url"]), []).append(r)
        for c in r.get("contained", []) or []:
            if isinstance(c, dict) and c.get("url"):
                self.add_resource(c)

    # -- code systems ---------------------------------------------------------------
    def code_system_versions(self, url: str) -> list[str | None]:
        out = [r.get("version") for r in self.tx.get(("CodeSystem", url), [])
               if r.get("content") != "supplement"]
        if self.store is not None:
            out += [v for (v,) in self._stored_cs_rows(url, versions_only=True)]
        return out

    def _stored_cs_rows(self, url: str | None, versions_only: bool = False) -> list[Row]:
        store = self.store
        if store is None or url is None:
            return []
        rows = STORED.get(store).cs_rows.get(url, [])
        if versions_only:
            return [(r[2],) for r in rows if r[3] != "supplement"]
        return rows

    def code_system(self, url: str | None, version: str | None = None,
                    supplements: list[JSON] | None = None) -> Provider | None:
        """A provider for url (and version), or None when not known."""
        if not url:
            return None
        if version is None and "|" in url:
            url, version = split_canonical(url)
        key = (url, version)
        cs = self._cs_cache.get(key)
        if cs is None:
            cs = self._find_code_system(url, version)
            if cs is None:
                return None
            self._cs_cache[key] = cs
        if supplements:
            cs = cs.with_supplements(supplements)
        return cs

    def _find_code_system(self, url: str, version: str | None) -> Provider | None:
        sent = self.tx.get(("CodeSystem", url)) if self.tx else None
        if sent:
            hit = pick_version([r for r in sent if r.get("content") != "supplement"], version)
            if hit is not None:
                return InMemoryCodeSystem(hit)
        if self.store is None:
            return None
        # the stored provider for (url, version) is the same for every request of a build
        stored = STORED.get(self.store)
        if not _held(stored.cs_rows, url, version):
            return build_cached(self.store, ("cs", url, version), lambda: self._stored_code_system(url, version))
        key = (url, version)
        if key in stored.code_systems:   # (never removed: a dict of the build)
            return stored.code_systems[key]
        cs = stored.code_systems[key] = self._stored_code_system(url, version)
        return cs

    def _stored_code_system(self, url: str, version: str | None) -> StoredCodeSystem | None:
        store = self.store
        assert store is not None
        rows = [r for r in self._stored_cs_rows(url) if r[3] != "supplement"]
        if version is None and any(r[3] != "fragment" for r in rows):
            rows = [r for r in rows if r[3] != "fragment"]  # a full release wins over a fragment
        if version is None and len(rows) > 1 and all((r[2] or "").startswith("http") for r in rows):
            # URI versions (SNOMED CT editions) do not sort: the last edition loaded is the one
            # that builds on the others (an extension on the International edition)
            row: Row | None = max(rows, key=lambda r: r[0])
        else:
            row = pick_version(rows, version, version_of=lambda r: r[2])
        if row is None:
            return None
        resource = build_cached(store, ("res", row[0]), lambda: store.resource_json(row[0]))
        assert resource is not None   # (a code system's row and its resource are written together)
        built = build_cached(store, ("cs-read", row[0]), ReadOnce)   # one per code system, whatever the key
        return StoredCodeSystem(store, row, resource, built=built)

    def supplement(self, canonical: str) -> JSON | None:
        url, version = split_canonical(canonical)
        cands = [r for r in self.tx.get(("CodeSystem", url), []) if r.get("content") == "supplement"]
        hit = pick_version(cands, version)
        if hit is not None:
            return hit
        if self.store is not None:
            rows = [r for r in self._stored_cs_rows(url) if r[3] == "supplement"]
            row = pick_version(rows, version, version_of=lambda r: r[2])
            if row is not None:
                return self._stored_supplement_json(row)
        return None

    def _stored_supplement_json(self, row: Row) -> JSON:
        store = self.store
        assert store is not None

        def make() -> JSON:
            cs = store.resource_json(row[0])
            assert cs is not None
            concepts = []
            for cid, code, display in store.all("SELECT id, code, display FROM concept WHERE cs_id=?",
                                                (row[0],)):
                c: JSON = {"code": code}
                if display:
                    c["display"] = display
                des = [{k: v for k, v in (("language", lang), ("value", v)) if v}
                       for lang, v in store.all("SELECT language, value FROM designation WHERE concept_id=?",
                                                (cid,))]
                if des:
                    c["designation"] = des
                concepts.append(c)
            cs["concept"] = concepts
            return cs
        return build_cached(store, ("supp", row[0]), make)

    # -- value sets -----------------------------------------------------------------
    def value_set(self, canonical: str | None, version: str | None = None) -> JSON | None:
        if not canonical:
            return None
        if canonical.startswith("#"):
            return self.contained.get(canonical)
        url, v = split_canonical(canonical)
        version = version or v
        local = self.tx.get(("ValueSet", url))
        hit = pick_version(local, version) if local else None
        if hit is not None:
            return hit
        if self.store is not None:
            # the stored value set of (url, version) is the same for every request of a build
            stored = STORED.get(self.store)
            if _held(stored.vs_rows, url, version):
                key = (url, version)
                if key in stored.value_sets:   # (never removed: a dict of the build)
                    vs = stored.value_sets[key]
                else:
                    vs = stored.value_sets[key] = self._stored_value_set(url, version)
            else:
                vs = build_cached(self.store, ("vs", url, version), lambda: self._stored_value_set(url, version))
            if vs is not None:
                return vs
        return implicit_value_set(self, url, version)

    def _stored_value_set(self, url: str, version: str | None) -> JSON | None:
        store = self.store
        assert store is not None
        rows = STORED.get(store).vs_rows.get(url, [])
        row = pick_version(rows, version, version_of=lambda r: r[2])
        if row is None:
            return None
        vs = build_cached(store, ("res", row[0]), lambda: store.resource_json(row[0]))
        assert vs is not None   # (a value set's row and its resource are written together)
        vs.setdefault("_store_id", row[0])
        return vs

    def resolve_value_set(self, params: Params, instance_id: str | None = None) -> JSON:
        """The value set an operation is about: the one whose id is `instance_id` (an instance-level call),
        else the `valueSet` sent (used for this request), else the one `url` (or `context`) names in the
        version `valueSetVersion`. A 404 when it is not known, a 400 when none is named."""
        if instance_id is not None:
            vs = self.value_set_by_id(instance_id)
            if vs is None:
                raise messages.error("instance-not-found", status=404, issue_code="not-found", tx_type="not-found",
                                     type="ValueSet", id=instance_id)
            return vs
        vs = params.get("valueSet")
        if isinstance(vs, dict):
            if vs.get("resourceType") != "ValueSet":
                raise messages.error("value-set-parameter")
            vs = to_r5(check_resource(vs, "valueSet"))
            self.add_resource(vs)
            return vs
        url = params.str("url") or params.str("context")
        if not url:
            raise messages.error("no-value-set", issue_code="required")
        found = self.value_set(url, params.str("valueSetVersion"))
        if found is None:
            version = params.str("valueSetVersion")
            raise messages.error("Unable_to_resolve_value_Set_", status=404, issue_code="not-found",
                                 tx_type="not-found", url=url + ("|" + version if version else ""))
        return found

    def instance_url(self, rtype: str, instance_id: str | None) -> str | None:
        """The canonical URL of the stored CodeSystem or ConceptMap an instance-level call names by the id
        this endpoint serves it under (None for a call on the type); a 404 when there is none."""
        if instance_id is None:
            return None
        row = self.store.resource_by_fhir_id(rtype, instance_id, self.fhir_version) if self.store is not None \
            else None
        if row is None:
            raise messages.error("instance-not-found", status=404, issue_code="not-found", tx_type="not-found",
                                 type=rtype, id=instance_id)
        url: str | None = row[1]
        return url

    def value_set_by_id(self, fhir_id: str) -> JSON | None:
        """A stored value set by the id this endpoint serves it under (unique per endpoint)."""
        store = self.store
        if store is None:
            return None
        row = store.resource_by_fhir_id("ValueSet", fhir_id, self.fhir_version)
        if row is None:
            return None
        vs = build_cached(store, ("res", row[0]), lambda: store.resource_json(row[0]))
        assert vs is not None   # (its row and its JSON are written together)
        vs.setdefault("_store_id", row[0])
        return vs

    def stored_value_set_id(self, vs: JSON) -> int | None:
        """The store id of a value set that came from the store (None for request resources)."""
        store_id: int | None = vs.get("_store_id")
        return store_id

    # -- concept maps ---------------------------------------------------------------
    def concept_map(self, canonical: str, version: str | None = None) -> JSON | None:
        url, v = split_canonical(canonical)
        version = version or v
        hit = pick_version(self.tx.get(("ConceptMap", url), []), version)
        if hit is not None:
            return hit
        store = self.store
        if store is not None:
            rows = build_cached(store, ("cmrows", url), lambda: store.all(
                "SELECT id, version FROM concept_map WHERE url=?", (url,)))
            row = pick_version(rows, version, version_of=lambda r: r[1])
            if row is not None:
                return self.stored_concept_map(row[0])
        return None

    def stored_concept_map(self, cm_id: int) -> JSON:
        store = self.store
        assert store is not None   # (a stored map's id comes from the store)
        cm = build_cached(store, ("res", cm_id), lambda: store.resource_json(cm_id))
        assert cm is not None
        cm.setdefault("_store_id", cm_id)
        return cm

    def request_concept_maps(self) -> list[JSON]:
        return [r for (rt, _), items in self.tx.items() if rt == "ConceptMap" for r in items]


def implicit_value_set(ctx: Context, url: str, version: str | None) -> JSON | None:
    """Value sets defined by a URL pattern: SNOMED CT `?fhir_vs`, and a code system's `valueSet`."""
    base, _, query = url.partition("?")
    if query.startswith("fhir_vs"):
        include: JSON = {"system": base}
        if version:
            include["version"] = version
        q = urllib.parse.unquote(query[len("fhir_vs"):].lstrip("="))
        if q.startswith("isa/"):
            include["filter"] = [{"property": "concept", "op": "is-a", "value": q[4:]}]
        elif q.startswith("refset/"):
            include["filter"] = [{"property": "concept", "op": "in", "value": q[7:]}]
        elif q.startswith("ecl/"):
            include["filter"] = [{"property": "constraint", "op": "=", "value": q[4:]}]
        elif q:
            return None
        if ctx.code_system(base) is None:
            return None
        return {"resourceType": "ValueSet", "url": url, "status": "active",
                "compose": {"include": [include]}}
    store = ctx.store
    if store is not None:
        rows = build_cached(store, ("cs-vs", url), lambda: store.all(
            "SELECT url, version FROM resource WHERE type='CodeSystem' AND json LIKE ?",
            ('%"valueSet":' + orjson.dumps(url).decode() + "%",)))
        if rows:
            cs_url, cs_version = rows[0]
            return {"resourceType": "ValueSet", "url": url, "version": cs_version, "status": "active",
                    "compose": {"include": [{"system": cs_url}]}}
    return None
