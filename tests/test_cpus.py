"""The usable CPUs behind every default of parallel work: affinity, within a container's
quota (cgroup v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``)."""

from __future__ import annotations

import os

import pytest

from spectralnn._cpus import usable_cpus


@pytest.fixture
def six_cpus(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(6)), raising=False)


def _v2(root, text):
    (root / "cpu.max").write_text(text)
    return root


def _v1(root, quota, period):
    (root / "cpu").mkdir()
    (root / "cpu" / "cpu.cfs_quota_us").write_text(quota)
    (root / "cpu" / "cpu.cfs_period_us").write_text(period)
    return root


def test_affinity_without_a_quota(six_cpus, tmp_path):
    assert usable_cpus(tmp_path) == 6
    assert usable_cpus(_v2(tmp_path, "max 100000\n")) == 6


@pytest.mark.parametrize("text, expected", [("200000 100000\n", 2), ("150000 100000", 2),
                                            ("50000 100000", 1), ("900000 100000", 6)])
def test_a_cgroup_v2_quota_caps_the_affinity_rounded_up(six_cpus, tmp_path, text, expected):
    assert usable_cpus(_v2(tmp_path, text)) == expected


def test_a_cgroup_v1_quota_caps_the_affinity(six_cpus, tmp_path):
    assert usable_cpus(_v1(tmp_path, "300000\n", "100000\n")) == 3


def test_v1_without_a_quota_and_unreadable_files_leave_the_affinity(six_cpus, tmp_path):
    (tmp_path / "a").mkdir()
    assert usable_cpus(_v1(tmp_path / "a", "-1\n", "100000\n")) == 6
    (tmp_path / "b").mkdir()
    assert usable_cpus(_v2(tmp_path / "b", "garbage")) == 6
    (tmp_path / "c").mkdir()
    assert usable_cpus(_v2(tmp_path / "c", "100000 0")) == 6


def test_without_affinity_the_cpu_count_counts(monkeypatch, tmp_path):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 5)
    assert usable_cpus(tmp_path) == 5
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert usable_cpus(tmp_path) == 1


def test_the_real_machine_gives_at_least_one_and_at_most_the_cpu_count():
    assert 1 <= usable_cpus() <= (os.cpu_count() or 1)


def test_reproduce_defaults_to_the_usable_cpus_at_most_eight(monkeypatch):
    from spectralnn.experiments import runner

    monkeypatch.setattr(runner, "usable_cpus", lambda: 3)
    assert runner.default_jobs() == 3
    monkeypatch.setattr(runner, "usable_cpus", lambda: 64)
    assert runner.default_jobs() == runner.MAX_DEFAULT_JOBS == 8


def test_sweeps_default_to_the_usable_cpus(monkeypatch):
    from spectralnn.sweeps import backends

    monkeypatch.setattr(backends, "usable_cpus", lambda: 3)
    assert backends.check_backend("processes", None, None) == 3
    assert backends.check_backend("inprocess", None, None) == 1
