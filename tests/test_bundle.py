"""Re-bundling without hand edits: weights and card, the TFLite twins and tflite.json, a card's
rows measured again, and README's tables written from the rows (vdsr_tf.export.bundle,
vdsr_tf.evaluation.markdown, tools/bundle_weights.py, tools/readme_tables.py)."""
import json
import os
import subprocess
import sys

import pytest

from vdsr_tf.core import integrity
from vdsr_tf.core.filecache import FileCache
from vdsr_tf.evaluation import markdown
from vdsr_tf.export import bundle
from vdsr_tf.infer import weight_choice
from vdsr_tf.nn import weights as weights_mod

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _row(method, psnr, dataset="Set5", scale=2, degradation="clean"):
    return {"dataset": dataset, "scale": scale, "degradation": degradation, "method": method,
            "psnr": psnr, "ssim": 0.9, "images": 5, "seconds_per_image": 0.1}


@pytest.fixture
def package(tmp_path, monkeypatch):
    """An empty weights folder standing in for vdsr_tf/weights/, and a trained tiny run."""
    from vdsr_tf.nn.model import build_vdsr

    pkg = tmp_path / "pkg"
    pkg.mkdir()
    monkeypatch.setattr(weights_mod, "BUNDLED_WEIGHTS", pkg / "vdsr_x234.weights.h5")
    monkeypatch.setattr(weights_mod, "JPEG_WEIGHTS", pkg / "vdsr_jpeg.weights.h5")
    monkeypatch.setattr(weights_mod, "TFLITE_CARD", pkg / "tflite.json")
    monkeypatch.setattr(weights_mod, "_bundled_models", FileCache())
    run = tmp_path / "run"
    run.mkdir()
    build_vdsr(depth=3, filters=4).save_weights(str(run / "vdsr.weights.h5"))
    (run / "model_card.json").write_text(json.dumps({"model": "VDSR", "steps": 7}))
    return pkg, run


def test_bundle_weights_writes_the_file_and_a_card_that_loading_checks(package):
    pkg, run = package
    rows = [_row("bicubic", 33.0), _row("vdsr", 36.0), _row("paper", 35.0), _row("bicubic", 30.0, scale=3)]
    kept = bundle.select_rows(rows, "vdsr")
    assert [r["method"] for r in kept] == ["bicubic", "vdsr"]  # bicubic of its cells only
    target = bundle.bundle_weights(run, kept, command="train it", note="n")
    card = json.loads((pkg / "vdsr_x234.json").read_text())
    assert card["steps"] == 7 and card["command"] == "train it" and card["evaluation"]["rows"] == kept
    assert card["sha256"] == integrity.sha256(target) and card["bundled_as"] == "paper"
    assert weights_mod.load_model().count_params() > 0  # the hash check passes
    with pytest.raises(FileExistsError, match="--overwrite"):
        bundle.bundle_weights(run, kept, command="again")
    with pytest.raises(ValueError, match="no rows of method 'mine'.*bicubic, vdsr, paper"):
        bundle.select_rows(rows, "mine")
    with pytest.raises(ValueError, match="--json rows"):
        bundle.bundle_weights(run, [{"psnr": 1}], command="x", overwrite=True)


def _export(folder, weights_sha, *, passed=True):
    """An export folder as tools/export.py leaves it, as far as bundling reads it."""
    from vdsr_tf.export.manifest import MANIFEST_FORMAT

    folder.mkdir()
    arts = []
    for i, precision in enumerate(("float32", "int8")):
        path = folder / f"vdsr_{precision}.tflite"
        path.write_bytes(bytes([i]) * 64)
        arts.append({"name": f"tflite_{precision}", "file": path.name, "kind": "luma", "format": "tflite",
                     "precision": precision, "sha256": integrity.sha256(path),
                     "measured": {"passed": passed, "psnr_drop": 0.05812 * i}})
    (folder / "manifest.json").write_text(json.dumps({"format": MANIFEST_FORMAT, "weights": {"sha256": weights_sha},
                                                     "artifacts": arts}))
    return folder


def test_bundle_tflite_copies_the_twins_and_rewrites_their_entry_only(package, tmp_path):
    pkg, run = package
    target = bundle.bundle_weights(run, [_row("vdsr", 36.0)], command="c")
    (pkg / "tflite.json").write_text(json.dumps({"about": "kept", "jpeg": {"kept": True}}))
    entry = bundle.bundle_tflite(_export(tmp_path / "exports", integrity.sha256(target)))
    card = json.loads((pkg / "tflite.json").read_text())
    assert card["about"] == "kept" and card["jpeg"] == {"kept": True} and card["paper"] == entry
    assert entry["int8"] == {"file": "vdsr_x234_int8.tflite", "sha256": integrity.sha256(pkg / "vdsr_x234_int8.tflite"),
                             "set5_psnr_drop_db": 0.0581}
    assert weights_mod.bundled_tflite("paper", "float32") == pkg / "vdsr_x234_float32.tflite"  # its checks pass


@pytest.mark.parametrize("damage, match", [
    ("weights", "exported from other weights"),
    ("file", "FILE CHANGED"),
    ("unverified", "vdsr-tf verify"),
])
def test_bundle_tflite_refuses_a_folder_it_cannot_vouch_for_and_writes_nothing(package, tmp_path, damage, match):
    _, run = package
    target = bundle.bundle_weights(run, [_row("vdsr", 36.0)], command="c")
    sha = "0" * 64 if damage == "weights" else integrity.sha256(target)
    folder = _export(tmp_path / "exports", sha, passed=damage != "unverified")
    if damage == "file":
        (folder / "vdsr_int8.tflite").write_bytes(b"other")
    with pytest.raises(ValueError, match=match):
        bundle.bundle_tflite(folder)
    assert not weights_mod.TFLITE_CARD.exists() and not list(weights_mod.TFLITE_CARD.parent.glob("*.tflite"))


def test_replace_rows_swaps_one_methods_rows_in_place_and_nothing_else(package):
    pkg, run = package
    old = [_row("bicubic", 30.0), _row("paper", 35.0), _row("jpeg", 34.0),
           _row("paper", 33.0, degradation="jpeg:75"), _row("jpeg", 34.5, degradation="jpeg:75")]
    bundle.bundle_weights(run, old, command="c", name="jpeg")
    sha = json.loads((pkg / "vdsr_jpeg.json").read_text())["sha256"]
    new = [_row("paper", 35.5), _row("paper", 33.2, degradation="jpeg:75"), _row("jpeg", 99.0)]
    assert bundle.replace_rows("jpeg", new, "paper") == 2
    card = json.loads((pkg / "vdsr_jpeg.json").read_text())
    assert [r["psnr"] for r in card["evaluation"]["rows"]] == [30.0, 35.5, 34.0, 33.2, 34.5]
    assert card["sha256"] == sha
    with pytest.raises(ValueError, match=r"no 'paper' row for \('Set5', 2, 'jpeg:75'\)"):
        bundle.replace_rows("jpeg", new[:1], "paper")
    with pytest.raises(ValueError, match="no counterpart"):
        bundle.replace_rows("jpeg", new + [_row("paper", 1.0, scale=4)], "paper")
    with pytest.raises(ValueError, match="no rows of method 'vdsr'"):
        bundle.replace_rows("jpeg", new, "vdsr")


def test_jpeg_table_bolds_the_set_the_rule_gives(monkeypatch):
    rows = [_row(m, v, degradation=d) for d, vals in [("clean", (30, 36, 35)), ("jpeg:90", (29, 33, 34))]
            for m, v in zip(("bicubic", "paper", "jpeg"), vals)]
    table = markdown.jpeg_table(rows, ["clean", "jpeg:90"])
    assert table.splitlines()[0] == "| Set, scale | lossless | JPEG q90 |"
    assert table.splitlines()[2] == "| Set5 x2 | 30.00 / **36.00** / 35.00 | 29.00 / 33.00 / **34.00** |"
    monkeypatch.setattr(weight_choice, "JPEG_QUALITY_LIMITS", {2: 85, 3: 94, 4: 94})  # the line's scale counts
    assert "29.00 / **33.00** / 34.00" in markdown.jpeg_table(rows, ["clean", "jpeg:90"])
    with pytest.raises(ValueError, match="no 'bicubic' row for Set5 x2 at jpeg:75"):
        markdown.jpeg_table(rows, ["jpeg:75"])


def test_ensemble_table_shows_plain_plus_and_gain():
    rows = [_row("paper", 37.32), _row("paper+", 37.49), _row("jpeg", 36.0), _row("jpeg+", 36.2),
            _row("jpeg", 33.0, degradation="jpeg:75"), _row("jpeg+", 33.12, degradation="jpeg:75")]
    table = markdown.ensemble_table(rows)
    line = table.splitlines()[2]
    assert line == "| Set5 x2 | 37.32 | 37.49 | +0.17 | 36.00 | 36.20 | +0.20 | 33.00 | 33.12 | +0.12 |"
    # a paper re-bundle measures paper+ again: the jpeg groups keep their cells, the paper group is new
    again = [_row("paper", 37.40), _row("paper+", 37.61)]
    line = markdown.ensemble_table(again, previous=table).splitlines()[2]
    assert line == "| Set5 x2 | 37.40 | 37.61 | +0.21 | 36.00 | 36.20 | +0.20 | 33.00 | 33.12 | +0.12 |"
    with pytest.raises(ValueError, match="no 'jpeg' row for Set5 x2 at clean"):
        markdown.ensemble_table(again)


def test_replace_block_keeps_the_markers_and_refuses_a_missing_or_doubled_one():
    text = "a\n<!-- t -->\nold\n<!-- /t -->\nb\n"
    assert markdown.replace_block(text, "t", "new") == "a\n<!-- t -->\n\nnew\n\n<!-- /t -->\nb\n"
    for bad in ("a <!-- t --> b", text + "<!-- t -->", "<!-- /t --> x <!-- t -->"):
        with pytest.raises(ValueError, match="t -->"):
            markdown.replace_block(bad, "t", "new")


def test_readme_jpeg_table_is_the_one_the_jpeg_card_gives():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    expected = markdown.replace_block(readme, "jpeg-table", markdown.jpeg_table(bundle.card_rows("jpeg")))
    assert readme == expected, "README's JPEG table differs from vdsr_tf/weights/vdsr_jpeg.json: " \
                               "run tools/readme_tables.py"


def test_tools_refuse_in_one_line(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True)

    out = run("tools/bundle_weights.py", "--tflite_from", str(tmp_path), "--replace_rows", "x.json")
    assert out.returncode == 1 and "exactly one of --workdir" in out.stderr
    out = run("tools/bundle_weights.py", "--tflite_from", str(tmp_path))
    assert out.returncode == 1 and "no manifest.json" in out.stderr
    out = run("tools/readme_tables.py", "--readme", str(tmp_path / "none.md"), "--check")
    assert out.returncode == 1 and "cannot read" in out.stderr and "none.md" in out.stderr
    assert not list(tmp_path.iterdir())  # nothing was written into the folder given
