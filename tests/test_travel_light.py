"""gpu/travel_light.sh takes the committed files a GPU job does not read out of what the device
tool sends (tracked, and untracked but not ignored), leaves them on disk, and --undo gives back
the index it found."""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "gpu", "travel_light.sh")
ASIDE = ["exports/vdsr_float32.tflite", "exports/saved_model/saved_model.pb",
         "vdsr_tf/weights/vdsr_x234_float32.tflite", "runs/vdsr_long/checkpoints/ckpt-1.index",
         "runs/vdsr_long/tensorboard/events.out"]
KEPT = ["vdsr_tf/weights/vdsr_x234.weights.h5", "vdsr_tf/core/a.py", "runs/vdsr_long/history.json",
        "gpu/travel_light.sh"]


def _git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def _travelling(repo):
    return set(_git(repo, "ls-files", "-co", "--exclude-standard").split())


@pytest.fixture
def repo(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("no git")
    _git(tmp_path, "init", "-q")
    (tmp_path / ".gitignore").write_text("/runs/\n")
    for name in ASIDE + KEPT:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name != "gpu/travel_light.sh":
            path.write_text(name)
    shutil.copy(SCRIPT, tmp_path / "gpu" / "travel_light.sh")
    _git(tmp_path, "add", "-f", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "tree")
    return tmp_path


def _run(repo, *args):
    return subprocess.run(["bash", str(repo / "gpu" / "travel_light.sh"), *args],
                          capture_output=True, text=True, timeout=60)


def test_light_then_undo(repo):
    before = _travelling(repo)
    r = _run(repo)
    assert r.returncode == 0, r.stderr
    assert "5 committed files set aside" in r.stdout
    assert _travelling(repo) == before - set(ASIDE)
    assert all((repo / name).exists() for name in ASIDE)  # on disk, untouched
    assert _run(repo).returncode == 2  # twice is refused
    r = _run(repo, "--undo")
    assert r.returncode == 0 and "5 files are tracked again" in r.stdout
    assert _travelling(repo) == before
    assert _git(repo, "status", "--porcelain") == ""
    assert "travel_light" not in (repo / ".git" / "info" / "exclude").read_text()


def test_a_rotated_checkpoint_stays_deleted_on_disk_only(repo):
    (repo / ASIDE[3]).unlink()  # a running trainer rotates its committed checkpoint away
    assert _run(repo).returncode == 0
    assert _run(repo, "--undo").returncode == 0
    assert _git(repo, "status", "--porcelain").split() == ["D", ASIDE[3]]


def test_refuses_staged_changes(repo):
    (repo / ASIDE[0]).write_text("changed")
    _git(repo, "add", ASIDE[0])
    r = _run(repo)
    assert r.returncode == 2 and "changes are staged here" in r.stderr
    assert ASIDE[0] in _travelling(repo)


def test_a_commit_made_while_light_is_caught_by_undo(repo):
    assert _run(repo).returncode == 0
    (repo / KEPT[1]).write_text("edited")
    _git(repo, "add", KEPT[1])  # the set-aside removals are staged too: this commit drops them
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "oops")
    r = _run(repo, "--undo")
    assert r.returncode == 0 and "HEAD moved while the tree was light" in r.stdout
    assert set(ASIDE) <= set(_git(repo, "ls-files").split())  # staged again, ready to commit back


def test_nothing_to_set_aside_leaves_no_state(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "gpu").mkdir()
    shutil.copy(SCRIPT, tmp_path / "gpu" / "travel_light.sh")
    (tmp_path / "a.py").write_text("a")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "tree")
    (tmp_path / "b.py").write_text("b")
    _git(tmp_path, "add", "b.py")
    r = _run(tmp_path)
    assert r.returncode == 0 and "no committed file to set aside" in r.stdout
    assert _run(tmp_path, "--undo").returncode == 0
    assert _git(tmp_path, "diff", "--cached", "--name-only").split() == ["b.py"]  # staged work kept


def test_an_exclude_file_without_a_last_newline_keeps_its_line(repo):
    exclude = repo / ".git" / "info" / "exclude"
    exclude.parent.mkdir(exist_ok=True)
    exclude.write_text("mylocal")
    assert _run(repo).returncode == 0
    assert _run(repo, "--undo").returncode == 0
    assert exclude.read_text() == "mylocal\n"
