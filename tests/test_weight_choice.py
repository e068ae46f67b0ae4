"""The two bundled sets by name, and which one a picture gets without weights=
(vdsr_tf.infer.weight_choice): JPEGs by content up to the measured quality, everything else paper."""
import json

import numpy as np
import pytest
from PIL import Image

from vdsr_tf import build_vdsr, cli
from vdsr_tf.core import integrity
from vdsr_tf.core.filecache import FileCache
from vdsr_tf.evaluation import scoring
from vdsr_tf.infer import upscaler, weight_choice
from vdsr_tf.nn import weights as weights_mod


def _picture(h=40, w=36, seed=0):
    rng = np.random.default_rng(seed)
    from vdsr_tf.core import matlab

    small = rng.random((h // 6 + 2, w // 6 + 2, 3))
    return np.clip(matlab.imresize(small, output_shape=(h, w)) * 255, 0, 255).astype(np.uint8)


@pytest.fixture
def two_sets(monkeypatch, tmp_path):
    """Tiny, different 'paper' and 'jpeg' models bundled in tmp_path with their cards."""
    import keras

    paths = {}
    for seed, name, attr in ((0, "vdsr_x234", "BUNDLED_WEIGHTS"), (1, "vdsr_jpeg", "JPEG_WEIGHTS")):
        keras.utils.set_random_seed(seed)
        path = tmp_path / f"{name}.weights.h5"
        build_vdsr(depth=3, filters=8).save_weights(str(path))
        (tmp_path / f"{name}.json").write_text(json.dumps({"sha256": integrity.sha256(path)}))
        monkeypatch.setattr(weights_mod, attr, path)
        paths[attr] = path
    monkeypatch.setattr(weights_mod, "_bundled_models", FileCache())
    monkeypatch.setattr(upscaler, "_defaults", FileCache())
    return paths


def _jpeg_file(path, quality=50, img=None):
    Image.fromarray(_picture() if img is None else img).save(path, "JPEG", quality=quality)
    return path


def test_jpegs_are_recognised_by_content_not_name(two_sets, tmp_path):
    disguised = _jpeg_file(tmp_path / "photo.png", 50)
    assert weight_choice.choose(disguised) == ("jpeg", 50)
    png_named_jpg = tmp_path / "scan.jpg"
    Image.fromarray(_picture()).save(png_named_jpg, "PNG")
    assert weight_choice.choose(png_named_jpg) == ("paper", None)
    with Image.open(disguised) as im:
        assert weight_choice.choose(im) == ("jpeg", 50)
        assert weight_choice.choose(im.convert("RGB"))[0] == "paper"  # a converted copy has no format
    assert weight_choice.choose(_picture()) == ("paper", None)
    assert weight_choice.choose(tmp_path / "missing.jpg") == ("paper", None)


def test_high_qualities_get_the_paper_weights(two_sets, tmp_path, monkeypatch):
    monkeypatch.setattr(weight_choice, "JPEG_QUALITY_LIMIT", 80)
    assert weight_choice.choose(_jpeg_file(tmp_path / "a.jpg", 80))[0] == "jpeg"
    assert weight_choice.choose(_jpeg_file(tmp_path / "b.jpg", 81)) == ("paper", 81)


def test_without_the_jpeg_set_every_picture_gets_paper(two_sets, tmp_path, monkeypatch):
    monkeypatch.setattr(weights_mod, "JPEG_WEIGHTS", tmp_path / "absent.weights.h5")
    assert weight_choice.choose(_jpeg_file(tmp_path / "a.jpg", 40)) == ("paper", 40)
    with pytest.raises(FileNotFoundError, match="no bundled VDSR weights 'jpeg'"):
        weights_mod.load_model("jpeg")


def test_super_resolve_default_runs_the_chosen_set(two_sets, tmp_path):
    jpeg = _jpeg_file(tmp_path / "a.jpg", 50)
    png = tmp_path / "b.png"
    Image.fromarray(_picture(seed=3)).save(png)
    as_array = lambda img: np.asarray(img)
    assert np.array_equal(as_array(upscaler.super_resolve(jpeg, 2)),
                          as_array(upscaler.super_resolve(jpeg, 2, weights="jpeg")))
    assert not np.array_equal(as_array(upscaler.super_resolve(jpeg, 2)),
                              as_array(upscaler.super_resolve(jpeg, 2, weights="paper")))
    assert np.array_equal(as_array(upscaler.super_resolve(png, 2)),
                          as_array(upscaler.super_resolve(png, 2, weights="paper")))
    result, label = upscaler.Upscaler().run(jpeg, 2)
    assert label == "jpeg (JPEG quality 50)"
    assert np.array_equal(np.asarray(result), as_array(upscaler.super_resolve(jpeg, 2, weights="jpeg")))
    assert upscaler.Upscaler(weights="jpeg").run(png, 2)[1] == "jpeg"


def test_cli_line_names_the_weights(two_sets, tmp_path, capsys):
    jpeg = _jpeg_file(tmp_path / "a.jpg", 50)
    png = tmp_path / "b.png"
    Image.fromarray(_picture()).save(png)
    assert cli.main(["upscale", str(jpeg), str(png), "-o", str(tmp_path / "out"), "--scale", "2"]) == 0
    err = capsys.readouterr().err
    assert "weights jpeg (JPEG quality 50)" in err and "weights paper" in err
    assert cli.main(["upscale", str(jpeg), "-o", str(tmp_path / "o2.png"), "--scale", "2",
                     "--weights", "paper"]) == 0
    assert "weights paper" in capsys.readouterr().err


def test_evaluate_scores_the_default_choice_per_column(two_sets, tmp_path):
    folder = tmp_path / "Plain"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(_picture(48, 44, seed=i)).save(folder / f"im{i}.png")
    rows = scoring.evaluate(folder, [2], [None, "paper", "jpeg", "bicubic"], degradations="clean,jpeg:40")
    cell = {(r["degradation"], r["method"]): r["psnr"] for r in rows}
    assert {d for d, _ in cell} == {"clean", "jpeg:40"}
    assert cell[("clean", "vdsr")] == cell[("clean", "paper")]  # lossless: the paper weights
    assert cell[("jpeg:40", "vdsr")] == cell[("jpeg:40", "jpeg")]  # a JPEG: the JPEG weights
    assert cell[("jpeg:40", "bicubic")] < cell[("clean", "bicubic")]
    table = scoring.format_table(rows)
    header = table.splitlines()[0].split()
    assert header == ["dataset", "scale", "method", "clean", "jpeg:40"]
    assert sum(1 for line in table.splitlines() if line.split()[:3] == ["Plain", "x2", "bicubic"]) == 1


def _rows(diffs):
    """evaluate rows: paper 30 dB everywhere, the JPEG set 30 + diffs[q][cell] at jpeg:q."""
    rows = []
    for q, per_cell in diffs.items():
        for (dataset, scale), d in zip((("Set5", 2), ("Set14", 4)), per_cell):
            for method, psnr in (("paper", 30.0), ("jpeg", 30.0 + d), ("bicubic", 20.0)):
                rows.append({"dataset": dataset, "scale": scale, "degradation": f"jpeg:{q}",
                             "method": method, "psnr": psnr})
    return rows


def test_quality_limit_is_the_last_quality_where_no_cell_loses_more_than_the_tolerance():
    rows = _rows({50: (1.0, 0.8), 90: (0.3, 0.1), 93: (0.02, -0.04), 94: (0.01, -0.06), 95: (-0.2, -0.1)})
    rows.append({"dataset": "Set5", "scale": 2, "degradation": "clean", "method": "jpeg", "psnr": 1.0})
    assert weight_choice.quality_limit(rows) == 93  # q94 loses 0.06 on one cell; lossless rows ignored
    assert weight_choice.quality_limit(rows, tolerance=0.1) == 94
    # once a quality fails, higher ones never count again (the choice is a threshold)
    assert weight_choice.quality_limit(_rows({50: (1.0, 1.0), 75: (-0.5, 0.0), 90: (0.2, 0.2)})) == 50
    assert weight_choice.quality_limit(_rows({30: (-1.0, 0.0)})) is None
    # per scale: the Set5 x2 cell alone holds to q94, the Set14 x4 cell to q93
    assert weight_choice.quality_limit(rows, scale=2) == 94
    assert weight_choice.quality_limit(rows, scale=4) == 93


def test_each_scale_gets_its_own_limit_and_fractional_scales_the_stricter_neighbour(two_sets, tmp_path, monkeypatch):
    monkeypatch.setattr(weight_choice, "JPEG_QUALITY_LIMITS", {2: 94, 3: 93, 4: 90})
    monkeypatch.setattr(weight_choice, "JPEG_QUALITY_LIMIT", 90)
    assert [weight_choice.quality_limit_for(s) for s in (1.2, 2, 2.5, 3, 3.5, 4, 8, None)] == \
        [94, 94, 93, 93, 90, 90, 90, 90]
    q94 = _jpeg_file(tmp_path / "a.jpg", 94)
    assert [weight_choice.choose(q94, s)[0] for s in (2, 2.5, 4, None)] == ["jpeg", "paper", "paper", "paper"]
    # super_resolve and an Upscaler choose for the scale they are asked for
    jpeg_x2 = np.asarray(upscaler.super_resolve(q94, 2, weights="jpeg"))
    assert np.array_equal(np.asarray(upscaler.super_resolve(q94, 2)), jpeg_x2)
    assert np.array_equal(np.asarray(upscaler.super_resolve(q94, 4)),
                          np.asarray(upscaler.super_resolve(q94, 4, weights="paper")))
    up = upscaler.Upscaler()
    assert [up.run(q94, s)[1] for s in (2, 4)] == ["jpeg (JPEG quality 94)", "paper (JPEG quality 94)"]


def test_the_bundled_limit_is_the_one_the_bundled_jpeg_card_measured():
    card_path = weights_mod.bundled_card_path(weights_mod.JPEG_WEIGHTS)
    if not card_path.exists():
        pytest.skip("this installation ships no JPEG weights")
    rows = json.loads(card_path.read_text())["evaluation"]["rows"]
    assert {"jpeg", "paper"} <= {r["method"] for r in rows}
    # re-bundled weights that move the crossover must move the constants with them
    assert weight_choice.quality_limit(rows) == weight_choice.JPEG_QUALITY_LIMIT
    assert {s: weight_choice.quality_limit(rows, scale=s) for s in (2, 3, 4)} == weight_choice.JPEG_QUALITY_LIMITS
    assert weight_choice.JPEG_QUALITY_LIMIT == min(weight_choice.JPEG_QUALITY_LIMITS.values())
