"""Gathering small images of one shape (``batch/groups.py``): full groups, the waiting window, flushing."""

from __future__ import annotations

from eern_cli.batch.groups import Groups


def test_a_group_runs_when_full_and_keys_do_not_mix():
    groups: Groups[str] = Groups(window=32)
    ready = []
    for name in ["w1", "t1", "w2", "w3", "t2", "w4"]:
        ready += groups.add(name[0], name, size=3)
    assert ready == [["w1", "w2", "w3"]]
    assert len(groups) == 3
    assert groups.flush() == [["t1", "t2"], ["w4"]]
    assert len(groups) == 0 and groups.flush() == []


def test_flush_gives_the_oldest_group_first():
    groups: Groups[str] = Groups(window=32)
    for key, item in [("b", "b1"), ("a", "a1"), ("b", "b2")]:
        assert groups.add(key, item, size=5) == []
    assert groups.flush() == [["b1", "b2"], ["a1"]]


def test_an_image_waits_through_at_most_window_jobs():
    groups: Groups[str] = Groups(window=3)
    assert groups.add("a", "a1", size=10) == []  # job 1
    assert groups.add("b", "b1", size=10) == []  # job 2
    assert groups.add("a", "a2", size=10) == [["a1", "a2"]]  # job 3: a1 has waited through 3 jobs (its own too)
    assert groups.seen() == [["b1"]]  # job 4, one that waits for nothing: b1 has waited through 3
    assert len(groups) == 0
