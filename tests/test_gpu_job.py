"""gpu/gpu_job.sh refuses bad arguments with one line before it installs or trains anything.

(The job itself was rehearsed end to end on CPU: BUILD_NOTES.md, "Training on a GPU machine".)
"""
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOB = os.path.join(ROOT, "gpu", "gpu_job.sh")


def _job(*args, carry=None):
    env = dict(os.environ, PYTHON="false")  # an interpreter that fails: nothing may get that far
    extra = ["--carry", str(carry)] if carry is not None else []
    return subprocess.run(["bash", JOB, *extra, *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture
def carry(tmp_path):
    (tmp_path / "wheels").mkdir()
    (tmp_path / "Set5").mkdir()
    (tmp_path / "train_luma.npz").write_bytes(b"")
    return tmp_path


@pytest.mark.parametrize("args, message", [
    ((), "--max_minutes N"),
    (("--max_minutes", "0"), "--max_minutes N"),
    (("--max_minutes", "ten"), "--max_minutes N"),
    (("--max_minutes", "2", "--name", "a/b"), "--name may hold"),
    (("--max_minutes", "2", "--data", "x"), "--data is set by the job"),
    (("--max_minutes", "2", "--backend=tensorflow"), "--backend=tensorflow is set by the job"),
])
def test_bad_arguments(carry, args, message):
    r = _job(*args, carry=carry)
    assert r.returncode == 2
    assert message in r.stderr and r.stderr.count("\n") == 1
    assert r.stdout == ""


def test_missing_carry_folder_names_the_tool_that_makes_it(tmp_path):
    r = _job("--max_minutes", "2", carry=tmp_path / "absent")
    assert r.returncode == 2
    assert "train_luma.npz is missing" in r.stderr and "prepare_gpu_job.sh" in r.stderr


ABLATE_JOB = os.path.join(ROOT, "gpu", "gpu_ablate.sh")


def _ablate_job(*args, carry=None):
    env = dict(os.environ, PYTHON="false")
    extra = ["--carry", str(carry)] if carry is not None else []
    return subprocess.run(["bash", ABLATE_JOB, *extra, *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("args, message", [
    (("--budget", "100"), "--study residual|depth|scales is required"),
    (("--study", "width", "--budget", "100"), "--study residual|depth|scales is required, got 'width'"),
    (("--study", "depth"), "--budget PATCH_PASSES"),
    (("--study", "depth", "--budget", "0"), "--budget PATCH_PASSES"),
    (("--study", "depth", "--budget", "1e6"), "--budget PATCH_PASSES"),
    (("--study", "depth", "--budget", "9", "--name", "a b"), "--name may hold"),
    (("--study", "depth", "--budget", "9", "--eval_data", "x"), "--eval_data is set by the job"),
    (("--study", "depth", "--budget", "9", "--backend=tensorflow"), "--backend=tensorflow is set by the job"),
])
def test_study_job_bad_arguments(carry, args, message):
    r = _ablate_job(*args, carry=carry)
    assert r.returncode == 2
    assert message in r.stderr and r.stderr.count("\n") == 1
    assert r.stdout == ""


def test_study_job_missing_carry_folder_names_the_tool_that_makes_it(tmp_path):
    r = _ablate_job("--study", "residual", "--budget", "64", carry=tmp_path / "absent")
    assert r.returncode == 2
    assert r.stderr.startswith("gpu_ablate.sh: ") and "train_luma.npz is missing" in r.stderr
    assert "prepare_gpu_job.sh" in r.stderr


def _take(names, *args):
    """Runs gpu_env.sh's gpu_take_flag on ``args``; returns (status, stdout, stderr)."""
    script = (f'source "{ROOT}/gpu/gpu_env.sh"; name=unset; out=unset; '
              f'gpu_take_flag "{names}" "$@"; echo "took=$gpu_took name=$name out=$out"')
    r = subprocess.run(["bash", "-c", script, "gpu_test", *args], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout.strip(), r.stderr.strip()


@pytest.mark.parametrize("args, took, name, out", [
    (("--name", "run1", "--out", "o"), 2, "run1", "unset"),
    (("--name=run1",), 1, "run1", "unset"),
    (("--name=",), 1, "", "unset"),
    (("--out=a=b",), 1, "unset", "a=b"),
    (("--named", "x"), 0, "unset", "unset"),       # only whole flag names
    (("name", "x"), 0, "unset", "unset"),          # not a flag
    (("--depth", "5"), 0, "unset", "unset"),       # not one of the names: passed through
])
def test_shared_flag_parser_takes_only_the_named_flags(args, took, name, out):
    status, stdout, _ = _take("name out", *args)
    assert status == 0
    assert stdout == f"took={took} name={name} out={out}"


def test_shared_flag_parser_refuses_a_flag_without_its_value():
    status, stdout, stderr = _take("name out", "--out")
    assert status == 2 and stdout == ""
    assert stderr == "gpu_test: --out needs a value"


def _shell(tmp_path, body, env=None):
    """Runs ``body`` after sourcing gpu_env.sh (with set -euo pipefail, as the jobs do)."""
    script = f'set -euo pipefail; repo="{tmp_path}"; source "{ROOT}/gpu/gpu_env.sh"; {body}'
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                       env={**os.environ, **(env or {})})
    return r.returncode, r.stdout, r.stderr


def test_job_folders_default_to_out_else_gpu_out(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    r = subprocess.run(["bash", "-c", f'set -eu; repo="{tmp_path}"; source "{ROOT}/gpu/gpu_env.sh"; out=; '
                        f'workdir=; gpu_folders job1 run; echo "$out|$workdir"'],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.stdout.strip() == f"{tmp_path}/gpu_out/job1|{tmp_path}/gpu_out/job1/run"
    status, stdout, _ = _shell(tmp_path, f'out=; workdir="{tmp_path}/w"; gpu_folders job2 study; '
                               'echo "$out|$workdir"', env={"OUT": str(tmp_path / "device_out")})
    assert status == 0 and stdout.strip() == f"{tmp_path}/device_out/job2|{tmp_path}/w"  # --workdir wins
    assert (tmp_path / "device_out" / "job2").is_dir() and (tmp_path / "w").is_dir()


def test_job_run_keeps_the_commands_status_and_log_and_collect_copies_what_exists(tmp_path):
    (tmp_path / "src" / "cells" / "a").mkdir(parents=True)
    (tmp_path / "src" / "card.json").write_text("{}")
    (tmp_path / "src" / "cells" / "a" / "h.json").write_text("[]")
    body = ('gpu_run "$repo/log" fake.py bash -c "echo working; exit 3"; echo "status=$gpu_status"; '
            'gpu_collect "$repo/src" "$repo/dst" card.json missing.png cells/a/h.json; '
            'echo "copied=${gpu_copied[*]}"')
    status, stdout, _ = _shell(tmp_path, body)
    assert status == 0  # a failing command does not end the job before it collects and reports
    assert "status=3" in stdout and "copied=card.json cells/a/h.json" in stdout
    log = (tmp_path / "log").read_text()
    assert "working" in log and "fake.py exit status 3" in log
    assert (tmp_path / "dst" / "cells" / "a" / "h.json").read_text() == "[]"
    assert not list((tmp_path / "dst").rglob("*.tmp"))
