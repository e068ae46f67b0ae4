"""evaluate(): dataset discovery (Huang layout, plain HR folder), rows, table, JSON, the tool."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vdsr_tf.core import matlab, metrics
from vdsr_tf.evaluation import scoring
from vdsr_tf.infer import upscaler
from vdsr_tf.nn.model import build_vdsr

ROOT = Path(__file__).resolve().parents[1]
ROW_KEYS = {"dataset", "scale", "degradation", "method", "psnr", "ssim", "images", "seconds_per_image"}


def _picture(h, w, channels, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 120 + 70 * np.sin(xx / 4.0 + seed) * np.cos(yy / 6.0)
    img = base[..., None] + rng.normal(0, 8, (h, w, channels)) + np.arange(channels) * 15
    img = np.clip(img, 0, 255).round().astype(np.uint8)
    return img[..., 0] if channels == 1 else img


def _pictures():
    return {"img_001": _picture(38, 44, 3, 1), "img_002": _picture(36, 31, 1, 2)}


def _huang(tmp_path, scales=(2, 3), name="Tiny", drop_lr=()):
    root = tmp_path / name
    for s in scales:
        sub = root / f"image_SRF_{s}"
        sub.mkdir(parents=True)
        for stem, img in _pictures().items():
            hr = matlab.modcrop(img, s)
            Image.fromarray(hr).save(sub / f"{stem}_SRF_{s}_HR.png")
            if stem not in drop_lr:
                Image.fromarray(matlab.imresize(hr, 1 / s)).save(sub / f"{stem}_SRF_{s}_LR.png")
    (root / "image_SRF_2" / "readme.txt").write_text("not an image")
    return root


def _plain(tmp_path, name="Plain"):
    root = tmp_path / name
    root.mkdir()
    for stem, img in _pictures().items():
        Image.fromarray(img).save(root / f"{stem}.png")
    (root / "notes.txt").write_text("ignored")
    return root


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    model = build_vdsr(depth=3, filters=8)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            layer.set_weights([rng.normal(0, 0.05, w.shape).astype(np.float32) for w in ws])
    path = tmp_path_factory.mktemp("w") / "tiny.weights.h5"
    model.save_weights(str(path))
    return path


def _expected(pictures, scale, upscale):
    scores = []
    for img in pictures.values():
        hr = matlab.modcrop(img, scale)
        sr = upscale(matlab.imresize(hr, 1 / scale), scale)
        scores.append(metrics.score(sr, hr, shave=scale))
    return np.mean([p for p, _ in scores]), np.mean([s for _, s in scores])


def test_list_pairs_huang_and_plain(tmp_path):
    huang = _huang(tmp_path, drop_lr=("img_002",))
    pairs = scoring.list_pairs(huang, 2)
    assert [p.name for p in pairs] == ["img_001", "img_002"]
    assert pairs[0].lr.name == "img_001_SRF_2_LR.png"
    assert pairs[1].lr is None  # made by Matlab bicubic
    with pytest.raises(ValueError, match="image_SRF_4"):
        scoring.list_pairs(huang, 4)
    plain = _plain(tmp_path)
    assert [(p.name, p.lr) for p in scoring.list_pairs(plain, 3)] == [("img_001", None), ("img_002", None)]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no test images"):
        scoring.list_pairs(tmp_path / "empty", 2)
    with pytest.raises(ValueError, match="not found"):
        scoring.list_pairs(tmp_path / "missing", 2)
    with pytest.raises(ValueError, match="evaluation scale must be an int >= 2, got 1"):
        scoring.list_pairs(plain, 1)
    with pytest.raises(ValueError, match="evaluation scale must be an int >= 2, got 2.5"):
        scoring.list_pairs(plain, 2.5)


def test_evaluate_both_layouts_bicubic_and_model(tmp_path, tiny_weights):
    from vdsr_tf.nn.weights import load_model

    huang, plain = _huang(tmp_path), _plain(tmp_path)
    lines = []
    rows = scoring.evaluate([huang, plain], (2, 3), ["bicubic", tiny_weights], progress=lines.append)
    assert [(r["dataset"], r["scale"], r["method"]) for r in rows] == [
        (d, s, m) for d in ("Tiny", "Plain") for s in (2, 3) for m in ("bicubic", "tiny")
    ]
    model = load_model(tiny_weights)
    for r in rows:
        assert set(r) == ROW_KEYS
        assert r["images"] == 2 and r["seconds_per_image"] >= 0
        if r["method"] == "bicubic":
            upscale = upscaler.bicubic_upscale
        else:
            upscale = lambda lr, s: upscaler.super_resolve(lr, s, model=model)
        p, s = _expected(_pictures(), r["scale"], upscale)
        assert r["psnr"] == pytest.approx(p, abs=1e-9)
        assert r["ssim"] == pytest.approx(s, abs=1e-9)
    # The Huang LR files here are the Matlab bicubic of HR, so both layouts agree.
    by_key = {(r["dataset"], r["scale"], r["method"]): r for r in rows}
    for s in (2, 3):
        for m in ("bicubic", "tiny"):
            assert by_key[("Tiny", s, m)]["psnr"] == pytest.approx(by_key[("Plain", s, m)]["psnr"], abs=1e-9)
    assert any("[Tiny x2 bicubic] 1/2 img_001" in line for line in lines)
    assert any("mean" in line for line in lines)
    # A keras.Model in memory is scored like its weights file.
    again = scoring.evaluate(plain, [2], model)
    assert again[0]["method"] == model.name
    assert again[0]["psnr"] == pytest.approx(by_key[("Plain", 2, "tiny")]["psnr"], abs=1e-9)


def test_evaluate_rejects_bad_input(tmp_path):
    huang = _huang(tmp_path, scales=(2,))
    bad = np.zeros((5, 5, 3), np.uint8)
    Image.fromarray(bad).save(huang / "image_SRF_2" / "img_001_SRF_2_LR.png")
    with pytest.raises(ValueError, match="img_001_SRF_2_LR.png"):
        scoring.evaluate(huang, [2], "bicubic")
    with pytest.raises(ValueError, match="image_SRF_3"):
        scoring.evaluate(huang, [2, 3], "bicubic")
    with pytest.raises(ValueError, match="at least one"):
        scoring.evaluate([], [2], "bicubic")
    with pytest.raises(ValueError, match="distinct"):
        scoring.evaluate(_plain(tmp_path), [2], ["bicubic", "bicubic"])
    with pytest.raises(FileNotFoundError, match="nope.mat"):
        scoring.evaluate(_plain(tmp_path, "P2"), [2], tmp_path / "nope.mat")


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_an_image_too_small_to_score_is_refused_by_name_at_the_exact_limit(tmp_path, scale):
    limit = -(-metrics.min_scored_side(scale) // scale) * scale  # smallest multiple of scale that scores
    folder = tmp_path / "small"
    folder.mkdir()
    rng = np.random.default_rng(scale)
    Image.fromarray(rng.integers(0, 256, (limit, limit, 3), dtype=np.uint8)).save(folder / "ok.png")
    rows = scoring.evaluate(folder, [scale], "bicubic")
    assert rows[0]["images"] == 1 and np.isfinite(rows[0]["psnr"])
    for shape in [(limit - 1, limit + 9), (1, 50), (2, 2)]:
        Image.fromarray(rng.integers(0, 256, (*shape, 3), dtype=np.uint8)).save(folder / "tiny.png")
        with pytest.raises(ValueError, match=rf"tiny\.png' is {shape[0]}x{shape[1]} pixels: too small "
                                             rf"to score at x{scale}, which needs {limit}x{limit}"):
            scoring.evaluate(folder, [scale], "bicubic")


def test_format_table_and_json(tmp_path):
    rows = [
        {"dataset": "Set5", "scale": 2, "method": "bicubic", "psnr": 33.6512, "ssim": 0.92934,
         "images": 5, "seconds_per_image": 0.01},
        {"dataset": "Set5", "scale": 2, "method": "VDSR_Official", "psnr": 37.4711, "ssim": 0.95791,
         "images": 5, "seconds_per_image": 2.5},
        {"dataset": "Mine", "scale": 3, "method": "bicubic", "psnr": float("inf"), "ssim": 1.0,
         "images": 1, "seconds_per_image": 0.02},
    ]
    table = scoring.format_table(rows)
    lines = table.splitlines()
    assert lines[0].split() == ["dataset", "scale", "bicubic", "VDSR_Official", "paper", "bicubic", "paper", "VDSR"]
    assert "33.65/0.9293" in lines[2] and "37.47/0.9579" in lines[2] and "37.53/0.9587" in lines[2]
    assert lines[3].split()[:4] == ["Mine", "x3", "inf/1.0000", "-"]

    out = tmp_path / "rows.json"
    scoring.write_rows(out, rows)
    data = json.loads(out.read_text())
    assert data[0] == rows[0] and data[2]["psnr"] is None
    assert [p.name for p in tmp_path.iterdir()] == ["rows.json"]  # no temp file left
    with pytest.raises(ValueError, match="does not exist"):
        scoring.write_rows(tmp_path / "missing" / "rows.json", rows)


def test_tool_end_to_end(tmp_path):
    plain = _plain(tmp_path)
    out = tmp_path / "eval.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    cmd = [sys.executable, str(ROOT / "tools" / "evaluate.py"), f"--data={plain}", "--scales=2,3",
           "--weights=bicubic", f"--json={out}"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "[Plain x3 bicubic] 2/2 img_002" in done.stdout
    assert "dataset" in done.stdout and "Plain" in done.stdout
    rows = json.loads(out.read_text())
    assert [(r["scale"], r["method"]) for r in rows] == [(2, "bicubic"), (3, "bicubic")]
    assert set(rows[0]) == ROW_KEYS

    bad = subprocess.run(cmd[:2] + [f"--data={tmp_path / 'missing'}", "--weights=bicubic"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode != 0
    assert "not found" in bad.stderr


PAPER_BICUBIC = scoring.PAPER_TABLE3["bicubic"]


@pytest.mark.slow
def test_bicubic_alone_loads_no_tensorflow_and_refuses_ensemble(tmp_path):
    plain = _plain(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    script = ("import sys; from absl import app; from vdsr_tf.cli import evaluate\n"
              "try: app.run(evaluate.main, argv=sys.argv)\n"
              "except SystemExit as e: print('loaded:', 'tensorflow' in sys.modules, 'keras' in sys.modules, "
              "'exit:', e.code, file=sys.stderr)\n")
    base = [sys.executable, "-c", script, f"--data={plain}", "--scales=2", "--weights=bicubic"]
    done = subprocess.run(base, capture_output=True, text=True, env=env, timeout=300)
    assert "[Plain x2 bicubic] 2/2" in done.stdout and "loaded: False False exit: 0" in done.stderr, done.stderr
    done = subprocess.run(base + ["--ensemble"], capture_output=True, text=True, env=env, timeout=300)
    assert "bicubic is the only method asked for: add --weights" in done.stderr and "exit: 1" in done.stderr
    assert "[Plain" not in done.stdout


def test_set5_bicubic_matches_the_paper(shared_data):
    folder = shared_data / "benchmark" / "Set5"
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    for row in scoring.evaluate(folder, (2, 3, 4), "bicubic"):
        paper_psnr, paper_ssim = PAPER_BICUBIC[("Set5", row["scale"])]
        assert abs(row["psnr"] - paper_psnr) < 0.03, row
        assert abs(row["ssim"] - paper_ssim) < 0.002, row


@pytest.mark.slow
def test_set5_official_weights_match_the_paper(shared_data):
    folder = shared_data / "benchmark" / "Set5"
    weights = shared_data / "weights" / "VDSR_Official.mat"
    if not (folder.is_dir() and weights.is_file()):
        pytest.skip("Set5 or VDSR_Official.mat not present")
    for row in scoring.evaluate(folder, (2, 3, 4), weights):
        paper_psnr, _ = scoring.PAPER_TABLE3["VDSR"][("Set5", row["scale"])]
        assert abs(row["psnr"] - paper_psnr) < 0.1, row


def test_tool_refuses_bad_outputs_and_degradations_before_any_work(tmp_path):
    plain = _plain(tmp_path)
    image = sorted(plain.glob("*.png"))[0]
    before = image.read_bytes()
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    base = [sys.executable, str(ROOT / "tools" / "evaluate.py"), f"--data={plain}", "--scales=2", "--weights=bicubic"]
    existing = tmp_path / "old.json"
    existing.write_text("[]")
    for extra, message in (([f"--json={image}", "--overwrite"], "input folder"),
                           ([f"--json={existing}"], "exists; pass --overwrite"),
                           ([f"--json={tmp_path / 'nodir' / 'x.json'}"], "does not exist"),
                           ([f"--json={tmp_path}"], "is a folder"),
                           (["--degradation=jpeg:20-95"], "one fixed setting"),
                           (["--degradation=webp:50"], "not a degradation")):
        done = subprocess.run(base + extra, capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 1, (extra, done.stderr)
        assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "[Plain" not in done.stdout  # refused before the first image
    assert image.read_bytes() == before and existing.read_text() == "[]"
    done = subprocess.run(base + [f"--json={existing}", "--overwrite", "--degradation=clean,jpeg:50"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = json.loads(existing.read_text())
    assert [r["degradation"] for r in rows] == ["clean", "jpeg:50"]
    assert rows[1]["psnr"] < rows[0]["psnr"]
