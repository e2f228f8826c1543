"""The store's read side: the per-request time limit, named queries."""
import json
import os
import re

import pytest

from termsvc.build import Progress, SourceSpec, build
from termsvc.deadline import TimeLimitExceeded
from termsvc.store.queries import NotADatabase
from termsvc.store.reader import Store

SLOW = ("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 50000000)"
        " SELECT count(*) FROM n")


@pytest.fixture()
def store(tmp_path):
    db = str(tmp_path / "t.db")
    build(db, [], Progress(quiet=True))
    return Store(db, time_limit_ms=20)


def test_a_query_past_the_request_time_limit_is_interrupted(store):
    with pytest.raises(TimeLimitExceeded, match="time limit of 20 ms"):
        with store.time_limit():
            store.all(SLOW)


def test_the_connection_is_usable_after_an_interruption(store):
    with pytest.raises(TimeLimitExceeded):
        with store.time_limit():
            store.all(SLOW)
    assert store.one("SELECT 1")[0] == 1  # no handler left behind: queries outside a request run freely
    with store.time_limit(limit_ms=5000):
        assert store.one("SELECT count(*) FROM concept")[0] == 0


def _value_set(folder, url):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vs.json").write_text(json.dumps({"resourceType": "ValueSet", "id": "same-id", "url": url,
                                                "status": "active"}))
    return str(folder)


def test_ids_are_unique_per_endpoint_the_last_loaded_keeps_its_own(tmp_path):
    db = str(tmp_path / "t.db")
    build(db, [SourceSpec("fhir", _value_set(tmp_path / "a", "http://x/first"), {"fhir_version": "R5"}),
               SourceSpec("fhir", _value_set(tmp_path / "b", "http://x/r4-shaped"), {"fhir_version": "R4"}),
               SourceSpec("fhir", _value_set(tmp_path / "c", "http://x/last"), {"fhir_version": "R5"})],
          Progress(quiet=True), preexpand=False)
    s = Store(db)
    for endpoint in ("R5", "R4"):   # not an IG edition: served on both endpoints
        assert s.resource_by_fhir_id("ValueSet", "same-id", endpoint)[1] == "http://x/last"
        total, page = s.search_resources("ValueSet", {"_id": "same-id"}, 10, 0, endpoint)
        assert total == 1
    ids = {url: fid for _, fid, url in (s.one("SELECT id, fhir_id, url FROM resource WHERE url=?", (u,))
                                        for u in ("http://x/first", "http://x/r4-shaped", "http://x/last"))}
    assert ids["http://x/last"] == "same-id" and len(set(ids.values())) == 3
    for url, fid in ids.items():    # the others renamed, in their JSON too, and found by their new ids
        assert s.resource_by_fhir_id("ValueSet", fid, "R5")[1] == url
        assert s.resource_json(s.resource_by_fhir_id("ValueSet", fid, "R4")[0])["id"] == fid
        assert re.fullmatch(r"[A-Za-z0-9.-]{1,64}", fid)
    assert s.resource_by_fhir_id("CodeSystem", "same-id", "R5") is None
    assert s.totals() == {"code_systems": 0, "value_sets": 3, "concept_maps": 0, "concepts": 0}


def test_a_file_that_is_not_a_build_is_refused(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"x" * 4096)
    with pytest.raises(NotADatabase) as e:
        Store(str(junk)).check(str(junk))
    assert e.value.path == str(junk)


def test_a_swapped_in_build_is_noticed_at_the_next_look(tmp_path):
    db, other = str(tmp_path / "t.db"), str(tmp_path / "other.db")
    build(db, [], Progress(quiet=True))
    build(other, [], Progress(quiet=True))
    every_time, rarely = Store(db, build_check_ms=0), Store(db, build_check_ms=3_600_000)
    generations = (every_time.generation, rarely.generation)
    os.replace(other, db)   # as `termsvc build` and `termsvc pull` swap a build in
    assert rarely.refresh() is False and rarely.generation == generations[1]   # not looked for yet
    assert every_time.refresh() is True and every_time.generation == generations[0] + 1
    assert rarely.refresh(force=True) is True and rarely.generation == generations[1] + 1
