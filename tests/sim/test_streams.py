import numpy as np

from rassim.sim.streams import Streams


def test_same_seed_same_draws() -> None:
    a = Streams(42).generator("host0.cpu").random(5)
    b = Streams(42).generator("host0.cpu").random(5)
    assert (a == b).all()


def test_streams_are_keyed_by_name_not_by_order() -> None:
    first = Streams(7)
    first.generator("host0.memory")
    first_draws = first.generator("host0.vm0.guest").random(8)

    second = Streams(7)  # a new component asks first: the guest's draws must not move
    second.generator("host0.new_component")
    second.generator("host0.memory")
    assert (second.generator("host0.vm0.guest").random(8) == first_draws).all()


def test_different_names_and_seeds_differ() -> None:
    streams = Streams(7)
    assert not np.array_equal(streams.generator("a").random(8), streams.generator("b").random(8))
    assert not np.array_equal(
        Streams(1).generator("a").random(8), Streams(2).generator("a").random(8)
    )


def test_generator_is_cached() -> None:
    streams = Streams(0)
    assert streams.generator("x") is streams.generator("x")


def test_accepts_a_spawned_seed_sequence() -> None:
    child = np.random.SeedSequence(5).spawn(2)[1]
    a = Streams(child).generator("x").random(3)
    b = Streams(np.random.SeedSequence(5).spawn(2)[1]).generator("x").random(3)
    assert (a == b).all()
