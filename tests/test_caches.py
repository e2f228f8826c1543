"""The engine's per-build caches (ops.context.build_cached, ops.per_build.PerBuild): a value made once per
build, never one of a build that was swapped out while it was made (another thread of the process noticed
the new build)."""
from termsvc.ops.context import build_cached
from termsvc.ops.per_build import PerBuild


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



def test_a_per_build_value_is_made_once_per_build_and_store():
    made = []

    def make(store):
        made.append((store, store.generation))
        return f"value of build {store.generation}"
    value = PerBuild(make)
    one, other = FakeStore(), FakeStore()
    assert value.get(one) == value.get(one) == "value of build 1"
    other.generation = 7
    assert value.get(other) == "value of build 7"   # each store its own
    assert value.get(one) == "value of build 1"
    one.generation = 2                               # a new build swapped in
    assert value.get(one) == "value of build 2"
    assert made == [(one, 1), (other, 7), (one, 2)]


def test_a_per_build_value_made_while_the_build_changed_is_made_again():
    store = FakeStore()

    def make_while_swapping(s):
        if s.generation == 1:
            s.generation = 2   # meanwhile a new build was noticed
            return "value of build 1"
        return f"value of build {s.generation}"
    value = PerBuild(make_while_swapping)
    assert value.get(store) == "value of build 1"    # its caller gets it
    assert value.get(store) == "value of build 2"    # but it is not kept for the new build
