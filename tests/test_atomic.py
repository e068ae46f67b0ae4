"""Atomic writing: the destination is either untouched or complete, never partial."""
import json
import os

import pytest

from vdsr_tf.core import atomic


def test_write_json_and_permissions(tmp_path):
    path = tmp_path / "card.json"
    atomic.write_json(path, {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600
    assert os.listdir(tmp_path) == ["card.json"]


def test_failure_leaves_old_file_and_no_temporaries(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(path, suffix=".bin") as tmp:
            with open(tmp, "wb") as f:
                f.write(b"half")
            raise RuntimeError("killed halfway")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["weights.bin"]


def test_suffix_is_kept_for_format_sniffing_writers(tmp_path):
    with atomic.atomic_path(tmp_path / "x.weights.h5", suffix=".weights.h5") as tmp:
        assert tmp.endswith(".weights.h5")
        assert os.path.dirname(tmp) == str(tmp_path)  # same folder: rename is atomic
        open(tmp, "wb").close()
    assert (tmp_path / "x.weights.h5").exists()


def _dead_pid():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_temporaries_of_dead_writers_are_removed_when_the_output_is_written_again(tmp_path):
    dead = _dead_pid()
    stale_file = tmp_path / f".card.json.{dead}.abcdefgh.tmp"
    stale_dir = tmp_path / f".card.json.{dead}.tmp.xyz"
    other = tmp_path / f".other.json.{dead}.abcdefgh.tmp"
    live = tmp_path / f"{atomic.temp_prefix(tmp_path / 'card.json')}abcdefgh.tmp"
    for p in (stale_file, other, live):
        p.write_bytes(b"half")
    stale_dir.mkdir()
    atomic.write_json(tmp_path / "card.json", {"a": 1})
    assert sorted(os.listdir(tmp_path)) == sorted(["card.json", other.name, live.name])


def test_sigterm_unwinds_like_ctrl_c(tmp_path):
    import signal

    path = tmp_path / "w.bin"
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(atomic.Terminated):
        with atomic.interrupt_on_sigterm():
            with atomic.atomic_path(path, suffix=".bin") as tmp:
                open(tmp, "wb").write(b"half")
                os.kill(os.getpid(), signal.SIGTERM)
    assert os.listdir(tmp_path) == []
    assert signal.getsignal(signal.SIGTERM) == before  # the previous handler is back


def test_stale_checkpoint_temps(tmp_path):
    (tmp_path / "ckpt-12_temp").mkdir()
    (tmp_path / "ckpt-12.index").write_bytes(b"")
    (tmp_path / "notes_temp").mkdir()
    removed = atomic.remove_stale_checkpoint_temps(tmp_path)
    assert [os.path.basename(p) for p in removed] == ["ckpt-12_temp"]
    assert sorted(os.listdir(tmp_path)) == ["ckpt-12.index", "notes_temp"]


def test_atomic_path_without_overwrite_keeps_a_file_that_appeared_meanwhile(tmp_path):
    path = tmp_path / "out.bin"
    with pytest.raises(FileExistsError):
        with atomic.atomic_path(path, overwrite=False) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"new")
            path.write_bytes(b"theirs")  # another writer got there first
    assert path.read_bytes() == b"theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]  # no temporary left
    with atomic.atomic_path(tmp_path / "fresh.bin", overwrite=False) as tmp:
        with open(tmp, "wb") as f:
            f.write(b"mine")
    assert (tmp_path / "fresh.bin").read_bytes() == b"mine"
