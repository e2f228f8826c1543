"""The store's read side: the per-request time limit."""
import pytest

from termsvc.build import Progress, build
from termsvc.deadline import TimeLimitExceeded
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
