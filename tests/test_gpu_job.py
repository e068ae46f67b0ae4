"""tools/gpu_job.sh refuses bad arguments with one line before it installs or trains anything.

(The job itself was rehearsed end to end on CPU: BUILD_NOTES.md, "Training on a GPU machine".)
"""
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOB = os.path.join(ROOT, "tools", "gpu_job.sh")


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


ABLATE_JOB = os.path.join(ROOT, "tools", "gpu_ablate.sh")


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
    script = (f'source "{ROOT}/tools/gpu_env.sh"; name=unset; out=unset; '
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
