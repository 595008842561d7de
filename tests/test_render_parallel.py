"""Rendering in several processes (generate/parallel.py): the same bytes and the same errors as
one process, whatever the split; a failed child never loses its chunk."""

from __future__ import annotations

import os
import signal

import pytest
from conftest import run_cli, run_subprocess
from test_render import broken_templates, snapshot
from test_render_atomic import changed_fleet, tree_bytes

from modalfleet.fleet.load import load_fleet
from modalfleet.generate import parallel, render
from modalfleet.generate.render import RenderError, render_tree, template_search_path

forking = pytest.mark.skipif(not parallel.can_fork(), reason="forks on Linux only")


def test_chunks_are_consecutive_runs_of_nearly_equal_length():
    items = list(range(10))
    assert parallel.chunks(items, 3) == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert parallel.chunks(items, 1) == [items]
    assert parallel.chunks([1, 2], 5) == [[1], [2]]
    assert parallel.chunks([], 4) == [[]]


@pytest.mark.parametrize("text", ["0", "-2", "two", "1.5"])
def test_a_jobs_setting_that_is_not_a_positive_whole_number_is_refused(monkeypatch, text):
    monkeypatch.setenv("MODALFLEET_JOBS", text)
    with pytest.raises(parallel.JobsError, match=f"MODALFLEET_JOBS='{text}': give a whole"):
        parallel.job_count(10_000)


@forking
def test_the_job_count_follows_the_setting_else_the_cpus_and_the_work(monkeypatch):
    monkeypatch.setenv("MODALFLEET_JOBS", "3")
    assert parallel.job_count(10) == 3
    assert parallel.job_count(2) == 2  # never more processes than items
    monkeypatch.delenv("MODALFLEET_JOBS")
    monkeypatch.setattr(parallel, "available_cpus", lambda: 4)
    assert parallel.job_count(parallel.MIN_CHUNK * 3) == 3
    assert parallel.job_count(parallel.MIN_CHUNK - 1) == 1
    assert parallel.job_count(parallel.MIN_CHUNK * 100) == 4
    monkeypatch.setattr(parallel, "available_cpus", lambda: 64)
    assert parallel.job_count(parallel.MIN_CHUNK * 100) == parallel.MAX_JOBS


def _sum_with_pid(part):
    return sum(part), os.getpid()


@forking
def test_chunks_after_the_first_run_in_children_and_come_back_in_order():
    results = parallel.run_chunks(_sum_with_pid, [[1, 2], [3], [4, 5, 6]])
    assert [total for total, _ in results] == [3, 3, 15]
    pids = [pid for _, pid in results]
    assert pids[0] == os.getpid()
    assert len(set(pids)) == 3
    with pytest.raises(ChildProcessError):  # every child was waited for: no zombies
        os.waitpid(-1, os.WNOHANG)


@forking
def test_a_child_killed_midway_has_its_chunk_run_again_here():
    parent = os.getpid()

    def dies_in_a_child(part):
        if os.getpid() != parent and 9 in part:
            os.kill(os.getpid(), signal.SIGKILL)
        return [item * 2 for item in part], os.getpid()

    results = parallel.run_chunks(dies_in_a_child, [[1], [9], [3]])
    assert [doubled for doubled, _ in results] == [[2], [18], [6]]
    assert results[1][1] == parent  # the lost chunk, done again in this process
    assert results[2][1] != parent


@forking
def test_the_error_raised_is_the_first_chunks_in_order_as_in_one_process():
    def fails_on_odd(part):
        for item in part:
            if item % 2:
                raise ValueError(f"item {item}")
        return part

    with pytest.raises(ValueError, match="^item 3$"):
        parallel.run_chunks(fails_on_odd, [[2, 4], [6, 3], [5]])
    with pytest.raises(ValueError, match="^item 1$"):  # the parent's own chunk fails first
        parallel.run_chunks(fails_on_odd, [[1], [6, 3], [5]])
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


@forking
@pytest.mark.parametrize("jobs", ["2", "3", "7"])
def test_a_split_render_is_byte_identical_to_one_process(fleet_dir, monkeypatch, jobs):
    fleet = load_fleet(fleet_dir).fleet
    templates = template_search_path(fleet_dir)
    monkeypatch.setenv("MODALFLEET_JOBS", "1")
    alone = render_tree(fleet, templates)
    monkeypatch.setenv("MODALFLEET_JOBS", jobs)
    split = render_tree(fleet, templates)
    assert list(split) == list(alone)
    assert len(split) == 24
    assert split == alone


@forking
def test_a_template_error_in_a_childs_chunk_is_reported_as_in_one_process(
    fleet_dir, tmp_path, monkeypatch
):
    # Only the last strategy's seedvr2 file fails: a file the third process renders.
    folder, line = broken_templates(
        tmp_path,
        "base.py.j2",
        "import modal",
        '{% if strategy_name == "performance-optimized" and model.name == "seedvr2" %}'
        "{{ no_such_thing }}{% endif %}",
    )
    before = snapshot(fleet_dir / "generated")
    messages = []
    for jobs in ("1", "3"):
        monkeypatch.setenv("MODALFLEET_JOBS", jobs)
        result = run_cli("render", "--templates", str(folder), root=fleet_dir)
        assert result.exit_code == 1
        messages.append(result.stderr)
    assert messages[0] == messages[1]
    expected = f"base.py.j2:{line}: template error: UndefinedError: 'no_such_thing' is undefined"
    assert expected in messages[1]
    assert snapshot(fleet_dir / "generated") == before


def test_a_bad_jobs_setting_stops_render_with_a_clear_error(fleet_dir):
    env = {**os.environ, "MODALFLEET_JOBS": "lots"}
    ran = run_subprocess("render", "--check", "--root", str(fleet_dir), env=env)
    assert ran.returncode == 1
    assert ran.stderr == (
        "render: MODALFLEET_JOBS='lots': give a whole number of processes, 1 or more\n"
    )


def test_render_error_is_what_render_tree_raises_for_a_bad_setting(fleet_dir, monkeypatch):
    monkeypatch.setenv("MODALFLEET_JOBS", "0")
    fleet = load_fleet(fleet_dir).fleet
    with pytest.raises(RenderError, match="MODALFLEET_JOBS='0'"):
        render_tree(fleet, template_search_path(fleet_dir))


# ---- writing: each process writes the temporary files of its own run


@forking
def test_a_split_render_writes_the_same_tree_and_counts_as_one_process(tmp_path, monkeypatch):
    trees, outputs = [], []
    for jobs in ("1", "3"):
        root = changed_fleet(tmp_path / jobs)
        monkeypatch.setenv("MODALFLEET_JOBS", jobs)
        result = run_cli("render", root=root)
        assert result.exit_code == 0, result.text
        outputs.append(result.output)
        trees.append(tree_bytes(root / "generated"))
    assert outputs[0] == outputs[1] == "written 8, unchanged 12, removed 4\n"
    assert trees[0] == trees[1]
    assert not [name for name in trees[1] if name.endswith(".tmp") or "lock" in name]


@forking
def test_a_write_that_fails_in_a_child_leaves_the_tree_and_no_temporary_file(tmp_path, monkeypatch):
    root = changed_fleet(tmp_path / "fleet")
    before = tree_bytes(root / "generated")
    real_open = open

    def failing_open(file, mode="r", *args, **kwargs):
        if "w" in mode and "performance-optimized/.lora.py" in str(file):
            raise OSError(28, "No space left on device")
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(render, "open", failing_open, raising=False)
    monkeypatch.setenv("MODALFLEET_JOBS", "3")
    result = run_cli("render", root=root)
    assert result.exit_code == 1
    assert result.stderr == (
        f"render: {root / 'generated/performance-optimized/lora.py'}: No space left on device; "
        "generated/ left as it was\n"
    )
    assert tree_bytes(root / "generated") == before


@forking
def test_a_child_killed_after_writing_has_its_run_redone_and_leaves_nothing_behind(
    tmp_path, monkeypatch
):
    reference = changed_fleet(tmp_path / "reference")
    assert run_cli("render", root=reference).exit_code == 0
    root = changed_fleet(tmp_path / "fleet")
    parent, real_stage = os.getpid(), render._Staged.stage
    redone = []

    def stage_then_die(self, generated, relative, text):
        real_stage(self, generated, relative, text)
        if relative == "performance-optimized/lora.py":
            if os.getpid() != parent:
                os.kill(os.getpid(), signal.SIGKILL)  # its temporary file is written by now
            redone.append(relative)

    monkeypatch.setattr(render._Staged, "stage", stage_then_die)
    monkeypatch.setenv("MODALFLEET_JOBS", "3")
    result = run_cli("render", root=root)
    assert (result.exit_code, result.output) == (0, "written 8, unchanged 12, removed 4\n")
    assert tree_bytes(root / "generated") == tree_bytes(reference / "generated")
    assert redone == ["performance-optimized/lora.py"]  # by this process, after the child died


@forking
def test_a_template_error_in_one_run_removes_the_temporary_files_of_the_others(
    tmp_path, monkeypatch
):
    # The first run (this process) writes its changed files, then the last run's seedvr2 fails.
    root = changed_fleet(tmp_path / "fleet")
    folder, _ = broken_templates(
        tmp_path,
        "base.py.j2",
        "import modal",
        '{% if strategy_name == "performance-optimized" and model.name == "seedvr2" %}'
        "{{ no_such_thing }}{% endif %}",
    )
    before = tree_bytes(root / "generated")
    monkeypatch.setenv("MODALFLEET_JOBS", "3")
    result = run_cli("render", "--templates", str(folder), root=root)
    assert result.exit_code == 1
    assert "template error: UndefinedError: 'no_such_thing' is undefined" in result.stderr
    assert tree_bytes(root / "generated") == before


@forking
def test_of_two_failing_files_the_one_first_in_the_serial_order_is_reported(
    fleet_dir, tmp_path, monkeypatch
):
    # Runs group models: flux-schnell's files are this process's, seedvr2's the last child's.
    # This process fails first in time, but baseline/seedvr2 comes first in the serial order.
    folder, line = broken_templates(
        tmp_path,
        "base.py.j2",
        "import modal",
        '{% if strategy_name == "performance-optimized" and model.name == "flux-schnell" %}'
        '{{ undefined_late }}{% elif strategy_name == "baseline" and model.name == "seedvr2" %}'
        "{{ undefined_early }}{% endif %}",
    )
    for jobs in ("1", "3"):
        monkeypatch.setenv("MODALFLEET_JOBS", jobs)
        for command in (["render"], ["render", "--check"]):
            result = run_cli(*command, "--templates", str(folder), root=fleet_dir)
            assert result.exit_code == 1
            assert result.stderr == (
                f"render: {folder}/base.py.j2:{line}: template error: UndefinedError: "
                "'undefined_early' is undefined\n"
            ), (jobs, command)


# ---- the edges of the splitting itself


def _big_result(part):
    return os.getpid(), bytes(3 * 2**20) + bytes(part)  # several reads of the pipe


@forking
def test_a_result_larger_than_one_read_of_the_pipe_arrives_whole_from_the_child():
    (first, _), (second, data) = parallel.run_chunks(_big_result, [[1], [2, 3]])
    assert first == os.getpid() and second != os.getpid()  # not redone here
    assert data == bytes(3 * 2**20) + bytes([2, 3])


@forking
def test_two_parts_use_one_child():
    pids = [pid for _, pid in parallel.run_chunks(_sum_with_pid, [[1], [2]])]
    assert pids[0] == os.getpid() and pids[1] != os.getpid()


def test_without_fork_everything_runs_in_this_process(monkeypatch):
    monkeypatch.setattr(parallel.sys, "platform", "darwin")
    monkeypatch.setenv("MODALFLEET_JOBS", "3")
    assert parallel.can_fork() is False
    assert parallel.job_count(10_000) == 1
    results = parallel.run_chunks(_sum_with_pid, [[1], [2], [3]])
    assert results == [(1, os.getpid()), (2, os.getpid()), (3, os.getpid())]


@forking
def test_one_job_requested_is_one_and_the_count_is_a_whole_number(monkeypatch):
    monkeypatch.setenv("MODALFLEET_JOBS", "1")
    assert parallel.job_count(10_000) == 1
    monkeypatch.delenv("MODALFLEET_JOBS")
    monkeypatch.setattr(parallel, "available_cpus", lambda: 4)
    found = parallel.job_count(parallel.MIN_CHUNK * 3 - 1)
    assert found == 2 and type(found) is int


def test_the_cpu_count_without_an_affinity_mask(monkeypatch):
    monkeypatch.delattr(parallel.os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: None)
    assert parallel.available_cpus() == 1
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 6)
    assert parallel.available_cpus() == 6


@forking
def test_an_interrupt_while_collecting_stops_the_children_and_closes_every_pipe(monkeypatch):
    open_fds = len(os.listdir("/proc/self/fd"))

    def interrupted(read_end):
        raise KeyboardInterrupt

    monkeypatch.setattr(parallel, "_read_all", interrupted)
    with pytest.raises(KeyboardInterrupt):
        parallel.run_chunks(_sum_with_pid, [[1], [2], [3]])
    with pytest.raises(ChildProcessError):  # both children stopped and waited for
        os.waitpid(-1, os.WNOHANG)
    assert len(os.listdir("/proc/self/fd")) == open_fds
