"""The bundled sets' TFLite twins: speed="fast" / --fast runs their int8 model, backend="tflite"
without weights their float32 one (issue 26 items 2 and 8); checked against their card, chosen
per picture like the Keras weights."""
import json
import os

import numpy as np
import pytest
from PIL import Image, ImageFilter

from vdsr_tf.cli import main
from vdsr_tf.core import integrity
from vdsr_tf.infer import upscaler
from vdsr_tf.nn import weights as weights_mod

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def picture(seed=0, size=(48, 40)):
    return np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)


@pytest.mark.parametrize("precision", weights_mod.TFLITE_PRECISIONS)
@pytest.mark.parametrize("name", weights_mod.BUNDLED_NAMES)
def test_each_bundled_set_has_its_tflite_models_from_its_own_weights(name, precision):
    path = weights_mod.bundled_tflite(name, precision)
    card = json.loads(weights_mod.TFLITE_CARD.read_text())[name]
    assert path.name == card[precision]["file"] and integrity.sha256(path) == card[precision]["sha256"]
    assert card["weights_sha256"] == integrity.sha256(weights_mod.bundled_weights(name))
    export = os.path.join(ROOT, card["export"])
    if os.path.exists(export):  # in a checkout: byte for byte the export folder's model
        artefacts = json.load(open(export))["artifacts"]
        assert card[precision]["sha256"] in [a.get("sha256") for a in artefacts
                                             if a.get("file") == f"vdsr_{precision}.tflite"]


def test_fast_runs_the_int8_model_and_stays_close_to_float(monkeypatch):
    img = np.asarray(Image.fromarray(picture()).filter(ImageFilter.GaussianBlur(2)))
    fast = upscaler.super_resolve(img, 2, speed="fast")
    tflite = upscaler.super_resolve(img, 2, backend="tflite")
    normal = upscaler.super_resolve(img, 2)
    assert np.abs(tflite.astype(int) - normal).max() <= 1  # the float32 twin: the Keras result, to rounding
    diff = np.abs(fast.astype(int) - normal)
    assert 0 < diff.mean() < 2.0  # int8: not the float network, but close to it on a smooth picture


def test_labels_and_refusals():
    assert upscaler.Upscaler(speed="fast").weights_label == "paper int8"
    assert upscaler.Upscaler(backend="tflite", weights="jpeg", ensemble=True).weights_label == "jpeg tflite+"
    for bad, match in [(dict(speed="fast", weights="my.weights.h5"), "bundled int8 models"),
                       (dict(speed="fast", precision="bfloat16"), "chooses the backend and precision"),
                       (dict(speed="turbo"), "speed must be one of"),
                       (dict(backend="tflite", precision="bfloat16"), "applies to backend='keras'")]:
        with pytest.raises(ValueError, match=match):
            upscaler.Upscaler(**bad)


def test_a_changed_or_stale_int8_file_is_refused(tmp_path, monkeypatch):
    card = json.loads(weights_mod.TFLITE_CARD.read_text())
    data = bytearray(weights_mod.bundled_tflite("paper", "int8").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / card["paper"]["int8"]["file"]).write_bytes(bytes(data))
    (tmp_path / "tflite.json").write_text(json.dumps(card))
    monkeypatch.setattr(weights_mod, "TFLITE_CARD", tmp_path / "tflite.json")
    with pytest.raises(integrity.IntegrityError, match="damaged or was changed"):
        weights_mod.bundled_tflite("paper", "int8")
    card["paper"]["weights_sha256"] = "0" * 64
    (tmp_path / "tflite.json").write_text(json.dumps(card))
    with pytest.raises(integrity.IntegrityError, match="converted from other weights"):
        weights_mod.bundled_tflite("paper", "int8")


def test_cli_fast(tmp_path, capsys):
    src = tmp_path / "a.jpg"
    Image.fromarray(picture(1)).save(src, quality=75)
    assert main(["upscale", str(src), "-o", str(tmp_path / "b.png"), "-s", "2", "--fast"]) == 0
    err = capsys.readouterr().err
    assert "weights jpeg int8 (JPEG quality" in err and Image.open(tmp_path / "b.png").size == (96, 80)
    for extra in (["--bicubic"], ["--precision", "bfloat16"], ["--weights", "mine.h5"]):
        assert main(["upscale", str(src), "-o", str(tmp_path / "c.png"), "-s", "2", "--fast", *extra]) == 2
        assert "--fast" in capsys.readouterr().err
    assert not (tmp_path / "c.png").exists()


def test_tile_line_has_an_eta():
    from vdsr_tf.cli.upscale import _duration

    assert [_duration(s) for s in (4.4, 65, 3725)] == ["4 s", "1m05s", "1h02m"]
