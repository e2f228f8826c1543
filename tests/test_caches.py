"""The engine's per-build cache (ops.context.build_cached): a value made once per build, never one of a
build that was swapped out while it was made (another thread of the process noticed the new build)."""
from termsvc.ops.context import build_cached


class FakeStore:
    """What the cache reads of a store: its build generation."""

    def __init__(self):
        self.generation = 1


def test_a_value_is_made_once_per_build():
    store, made = FakeStore(), []

    def make():
        made.append(store.generation)
        return f"value of build {store.generation}"
    assert build_cached(store, ("k",), make) == build_cached(store, ("k",), make) == "value of build 1"
    store.generation = 2   # a new build swapped in
    assert build_cached(store, ("k",), make) == "value of build 2"
    assert made == [1, 2]


def test_a_value_made_while_the_build_changed_is_not_kept():
    store = FakeStore()

    def make_while_swapping():
        store.generation = 2   # meanwhile another thread noticed a new build, and asked for something of it
        build_cached(store, ("other",), lambda: "other value of build 2")
        return "value of build 1"
    assert build_cached(store, ("k",), make_while_swapping) == "value of build 1"   # its caller gets it
    assert build_cached(store, ("k",), lambda: "value of build 2") == "value of build 2"

