"""Export round trips on a tiny VDSR (depth 3, 8 filters): SavedModel, TFLite, end to end, verify."""
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vdsr_tf import build_vdsr, export
from vdsr_tf.core import integrity, metrics
from vdsr_tf.core.filecache import FileCache
from vdsr_tf.data import patches as data_lib
from vdsr_tf.export import gpu_analyzer, parity
from vdsr_tf.infer import runtimes, upscaler

ROOT = Path(__file__).resolve().parents[1]
E2E_SIZE, E2E_SCALE = (24, 32), 2.0
TILE = 24


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(export folder, weights file, keras model) exported once for the module."""
    import keras

    tmp = tmp_path_factory.mktemp("export")
    keras.utils.set_random_seed(3)
    model = build_vdsr(depth=3, filters=8)
    weights = tmp / "tiny.weights.h5"
    model.save_weights(weights)
    out = tmp / "exports"
    config = export.ExportConfig(weights=weights, e2e_size=E2E_SIZE, e2e_scale=E2E_SCALE, tile_size=TILE,
                                 calibration_count=12, calibration_size=32, scales=(2,))
    # The GPU analyzer's side venv (seconds per file) is tested in test_gpu_analyzer.py.
    old = os.environ.get(gpu_analyzer.ANALYZER_ENV)
    os.environ[gpu_analyzer.ANALYZER_ENV] = "off"
    try:
        export.export_all(out, config)
    finally:
        if old is None:
            del os.environ[gpu_analyzer.ANALYZER_ENV]
        else:
            os.environ[gpu_analyzer.ANALYZER_ENV] = old
    return out, weights, model


def test_manifest_lists_every_artefact_with_measurements(tiny):
    out, weights, _ = tiny
    manifest = json.loads((out / "manifest.json").read_text())
    names = [a["name"] for a in manifest["artifacts"]]
    assert names == ["saved_model", "tflite_float32", "tflite_float16", "tflite_dynamic_int8",
                     "tflite_int8", "tile24_float32", "tile24_float16", "tile24_int8", "tflite_e2e"]
    assert manifest["weights"]["file"] == weights.name
    assert manifest["weights"]["depth"] == 3 and manifest["weights"]["filters"] == 8
    for art in manifest["artifacts"]:
        assert (out / art["file"]).exists()
        assert art["size_bytes"] > 0 and len(art["sha256"]) == 64
        assert art["measured"]["passed"], art
        if art["format"] == "tflite":
            # Builtin ops only: no Flex / custom ops.
            assert not any(op.startswith(("Flex", "CUSTOM", "DELEGATE")) for op in art["ops"]), art["ops"]
    luma = manifest["artifacts"][1]
    assert luma["inputs"][0]["shape"] == [-1, -1, -1, 1] and luma["inputs"][0]["dtype"] == "float32"
    int8 = manifest["artifacts"][4]
    assert int8["float_layers"] == list(export.INT8_FLOAT_LAYERS)
    assert int8["ops"].get("QUANTIZE", 0) >= 1
    e2e = manifest["artifacts"][-1]
    assert e2e["inputs"][0]["shape"] == [1, 24, 32, 3] and e2e["outputs"][0]["shape"] == [1, 48, 64, 3]
    for art in manifest["artifacts"][5:8]:  # the static tile models, for GPU delegates and NPUs
        assert art["kind"] == "tile" and art["tile"] == TILE and art["halo"] == 3
        assert [i["name"] for i in art["inputs"]] == ["input", "mask"]
        assert art["inputs"][1]["shape"] == [1, TILE, TILE, 1]
        assert art["ops"]["MUL"] == 2 and art["ops"]["CONV_2D"] == 3  # each hidden layer masked
        assert art["gpu_delegate"]["static_shapes"] and art["gpu_delegate"]["dynamic_tensors"] == 0
        assert "not_run" in art["gpu_delegate"]["analyzer"]
    assert not luma["gpu_delegate"]["static_shapes"]  # the whole-picture models are dynamic


@pytest.mark.parametrize("precision", ["float32", "float16", "dynamic_int8", "int8"])
def test_tflite_dynamic_shapes_and_parity(tiny, precision):
    out, _, model = tiny
    pred = runtimes.TFLitePredictor(out / export.tflite_filename(precision))
    assert pred.model.shape_signature == (-1, -1, -1, 1)  # batch, H and W dynamic
    assert pred.receptive_radius == 3
    # In-distribution inputs (bicubic-degraded pictures, like the int8 calibration data).
    patches, _ = data_lib.calibration_patches(None, count=3, size=48, seed=7)
    for x in [patches[0][:, :37, :45], patches[1][:, :16, :16], patches[2][:, 5:42, 2:47]]:
        x = np.ascontiguousarray(x)
        shape = x.shape
        y = pred(x)
        assert y.shape == shape and y.dtype == np.float32
        ref = model.predict(x, verbose=0)
        tol = {"float32": 1e-5, "float16": 2e-3, "dynamic_int8": 0.05, "int8": 0.05}[precision]
        assert np.max(np.abs(y - ref)) <= tol


def test_saved_model_parity(tiny):
    out, _, model = tiny
    pred = runtimes.SavedModelPredictor(out / "saved_model")
    assert pred.receptive_radius == 3
    x = np.random.default_rng(1).uniform(0, 1, (1, 29, 33, 1)).astype(np.float32)
    np.testing.assert_allclose(pred(x), model.predict(x, verbose=0), atol=1e-5)


def test_super_resolve_tflite_backend_tiled(tiny):
    out, _, model = tiny
    img = np.random.default_rng(2).integers(0, 256, (40, 44, 3), dtype=np.uint8)
    ref = upscaler.super_resolve(img, 2, model=model, tile=None)
    for backend, path in (("tflite", out / "vdsr_float32.tflite"), ("saved_model", out / "saved_model")):
        got = upscaler.super_resolve(img, 2, weights=path, backend=backend, tile=80)
        assert got.shape == ref.shape and got.dtype == np.uint8
        assert np.max(np.abs(got.astype(int) - ref)) <= 1


def test_e2e_model_matches_super_resolve(tiny):
    out, _, model = tiny
    e2e = runtimes.TFLiteModel(out / export.e2e_filename(E2E_SIZE, E2E_SCALE))
    img = np.random.default_rng(4).integers(0, 256, (1, 24, 32, 3), dtype=np.uint8)
    got = e2e(img)
    assert got.shape == (1, 48, 64, 3) and got.dtype == np.uint8
    ref = upscaler.super_resolve(img[0], E2E_SCALE, model=model, tile=None)
    diff = np.abs(got[0].astype(int) - ref)
    assert np.mean(diff <= 1) >= 0.999
    with pytest.raises(ValueError, match="input shape"):
        e2e(np.zeros((1, 20, 20, 3), np.uint8))
    with pytest.raises(ValueError, match="end-to-end"):
        runtimes.TFLitePredictor(e2e.path)


def test_verify_passes_then_fails_on_a_damaged_artefact(tiny, tmp_path):
    out, weights, _ = tiny
    ok, rows = export.verify(out, scales=(2,))
    assert ok and all(r["passed"] for r in rows)

    damaged = tmp_path / "damaged"
    shutil.copytree(out, damaged)
    # A valid TFLite file of a *different* network, with the manifest's sha256 updated,
    # so only the measured parity can catch it.
    other = build_vdsr(depth=3, filters=8)
    export.export_saved_model(other, tmp_path / "other_sm")
    (damaged / "vdsr_float32.tflite").write_bytes(export.convert_tflite(tmp_path / "other_sm", "float32"))
    manifest = json.loads((damaged / "manifest.json").read_text())
    for art in manifest["artifacts"]:
        if art["file"] == "vdsr_float32.tflite":
            art["sha256"] = integrity.sha256(damaged / art["file"])
    (damaged / "manifest.json").write_text(json.dumps(manifest))
    ok, rows = export.verify(damaged, scales=(2,))
    assert not ok
    by_name = {r["name"]: r for r in rows}
    assert not by_name["tflite_float32"]["passed"] and not by_name["tflite_float32"]["changed"]
    assert "max|diff|" in by_name["tflite_float32"]["summary"]
    assert by_name["saved_model"]["passed"] and by_name["tflite_e2e"]["passed"]

    # The command-line tool exits non-zero on it.
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "verify_export.py"), str(damaged),
                           "--scales=2", f"--test_data={tmp_path / 'absent'}"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL vdsr_float32.tflite" in proc.stdout


def _flip_one_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_changed_export_is_refused_on_load_and_by_verify_before_measuring(tiny, tmp_path, monkeypatch):
    out, _, _ = tiny
    damaged = tmp_path / "damaged"
    shutil.copytree(out, damaged)
    _flip_one_byte(damaged / "vdsr_int8.tflite")
    (damaged / "saved_model" / "fingerprint.pb").unlink()
    with pytest.raises(integrity.IntegrityError, match=r"vdsr_int8\.tflite.*sha256.*manifest\.json"):
        runtimes.TFLitePredictor(damaged / "vdsr_int8.tflite")
    with pytest.raises(integrity.IntegrityError, match="saved_model"):
        runtimes.SavedModelPredictor(damaged / "saved_model")
    with pytest.raises(integrity.IntegrityError, match="vdsr_int8"):
        upscaler.make_predictor(weights=damaged / "vdsr_int8.tflite", backend="tflite")
    runtimes.TFLitePredictor(damaged / "vdsr_float32.tflite")  # an intact neighbour loads
    runtimes.TFLitePredictor(damaged / "vdsr_int8.tflite", verify=False)  # opt-out for the exporter

    called = []
    real_measure = parity.measure
    monkeypatch.setattr(parity, "measure", lambda *a, **k: called.append(1) or real_measure(*a, **k))
    ok, rows = export.verify(damaged, scales=(2,))
    assert not ok and not called  # nothing was measured
    by_name = {r["name"]: r for r in rows}
    assert by_name["tflite_int8"]["passed"] is False and "FILE CHANGED" in by_name["tflite_int8"]["summary"]
    assert by_name["saved_model"]["passed"] is False and by_name["saved_model"]["changed"]
    assert by_name["tflite_float32"]["passed"] is None and not by_name["tflite_float32"]["changed"]


def _rewritten_tflite(src, dst, edit):
    """``src`` with ``edit(model)`` applied to its flatbuffer object tree, written to ``dst``
    (no manifest beside it): damage placed where it matters, the same on every run."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(src))
    edit(model, model.subgraphs[0])
    flatbuffer_utils.write_model(model, str(dst))
    return dst


def _tensor(graph, part):
    return next(t for t in graph.tensors if part in t.name.decode())


def test_a_damaged_model_without_a_manifest_fails_in_one_line_naming_it(tiny, tmp_path):
    out, _, _ = tiny
    img = np.random.default_rng(5).integers(0, 256, (20, 24, 3), dtype=np.uint8)

    def nan_kernel(model, graph):  # the last conv's kernel: every output pixel NaN
        buffer = model.buffers[_tensor(graph, "conv_03_1/convolution").buffer]
        buffer.data = np.frombuffer(np.full(buffer.data.size // 4, np.nan, np.float32).tobytes(), np.uint8)

    lone = _rewritten_tflite(out / "vdsr_float32.tflite", tmp_path / "lone.tflite", nan_kernel)
    # Before: an all-black picture and exit 0.
    with pytest.raises(ValueError, match=r"^TFLite model '.*lone\.tflite' returned NaN or inf \(1920 of 1920 values of "
                                         r"a 40x48 tile\): the network or its file is damaged; "
                                         r"restore or re-create it$"):
        upscaler.super_resolve(img, 2, weights=lone, backend="tflite")

    def float_bias(model, graph):  # int8 conv with a float32 bias: loads, then XNNPACK refuses
        next(t for t in graph.tensors if t.type == 2).type = 0  # INT32 -> FLOAT32

    int8 = _rewritten_tflite(out / "vdsr_int8.tflite", tmp_path / "int8.tflite", float_bias)
    pred = runtimes.TFLitePredictor(int8)  # loads: the damage shows on the first call
    with pytest.raises(ValueError, match=r"^'.*int8\.tflite' cannot run \(RuntimeError: .+\); the file is "
                                         r"damaged or not a model this library wrote: re-export it$") as caught:
        upscaler.super_resolve(img, 2, model=pred)
    assert "\n" not in str(caught.value)  # LiteRT's multi-line text cut to its first line

    sm = tmp_path / "saved_model"
    shutil.copytree(out / "saved_model", sm)
    variables = next((sm / "variables").glob("variables.data-*"))
    variables.write_bytes(variables.read_bytes()[: variables.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"^'.*saved_model' is not a readable SavedModel: IndexError: Read less bytes"):
        runtimes.SavedModelPredictor(sm)  # was: IndexError from the checkpoint reader


def test_verify_refuses_other_reference_weights(tiny, tmp_path):
    out, _, _ = tiny
    other = tmp_path / "other.weights.h5"
    build_vdsr(depth=3, filters=8).save_weights(other)
    with pytest.raises(ValueError, match="not the weights the exports came from"):
        export.verify(out, weights=other, scales=(2,))


def test_calibration_patches_synthetic():
    patches, source = data_lib.calibration_patches(None, count=6, size=24)
    assert len(patches) == 6 and "synthetic" in source
    for p in patches:
        assert p.shape == (1, 24, 24, 1) and p.dtype == np.float32
        assert -0.2 <= p.min() and p.max() <= 1.2  # bicubic overshoots a little


def test_export_config_checks_and_normalises_its_fields():
    config = export.ExportConfig(e2e_size="32x48", scales=[np.int64(2), 3], precisions=["int8"])
    assert config.e2e_size == (32, 48) and config.scales == (2, 3) and config.precisions == ("int8",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.scales = (4,)
    with pytest.raises(ValueError, match=r"precision must be one of .* got 'int4'"):
        export.ExportConfig(precisions=("int4",))
    with pytest.raises(ValueError, match=r"precision must be one of \('float32', 'float16'\), got 'int8'"):
        export.ExportConfig(e2e_precision="int8")
    with pytest.raises(ValueError, match="size must be 'HxW'"):
        export.ExportConfig(e2e_size="1x1")
    with pytest.raises(TypeError, match="scales must hold Integral values, got 2.5"):
        export.ExportConfig(scales=(2.5,))
    with pytest.raises(TypeError, match="precisions must be a sequence, got str 'int8'"):
        export.ExportConfig(precisions="int8")
    with pytest.raises(ValueError, match="calibration_count must be an int >= 1, got 0"):
        export.ExportConfig(calibration_count=0)
    with pytest.raises(ValueError, match="scale must be <= 8"):
        export.ExportConfig(e2e_scale=16)
    with pytest.raises(ValueError, match=r"tile_precisions must be among .* got 'int4'"):
        export.ExportConfig(tile_precisions=("int4",))
    with pytest.raises(ValueError, match="tile_size must be an int >= 3, got -5"):
        export.ExportConfig(tile_size=-5)


def test_a_tile_inside_its_halo_is_refused_before_the_folder_exists(tiny, tmp_path):
    _, weights, _ = tiny
    with pytest.raises(ValueError, match=r"a 6-pixel tile keeps nothing inside the network's 3-pixel halo"):
        export.export_all(tmp_path / "out", weights=weights, tile_size=6)
    assert not (tmp_path / "out").exists()


def test_measurement_images_refuse_a_shipped_lr_of_the_wrong_size(tmp_path):
    from PIL import Image

    sub = tmp_path / "Set" / "image_SRF_2"
    sub.mkdir(parents=True)
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(sub / "a_SRF_2_HR.png")
    Image.fromarray(np.zeros((9, 10, 3), np.uint8)).save(sub / "a_SRF_2_LR.png")
    with pytest.raises(ValueError, match=r"a_SRF_2_LR\.png.*needs an LR of \(10, 10\) at x2"):
        export.measurement_images(tmp_path / "Set", (2,))
    images, name = export.measurement_images(None, (3,), synthetic_size=30, synthetic_count=1)
    assert name.startswith("synthetic") and [(s, n) for s, n, _, _ in images] == [(3, "synthetic_0")]
    assert images[0][2].shape == (30, 30, 3) and images[0][3].shape == (10, 10, 3)


def test_argument_errors(tiny, tmp_path):
    out, _, _ = tiny
    assert export.parse_size("256x192") == (256, 192) and export.parse_size("64") == (64, 64)
    for bad in ["0x5", "axb", "1x2x3", ""]:
        with pytest.raises(ValueError, match="size must be 'HxW' with (positive integers|integers >= 2)"):
            export.parse_size(bad)
    with pytest.raises(ValueError, match="precision must be one of .* got 'int4'"):
        export.convert_tflite(out / "saved_model", "int4")
    with pytest.raises(ValueError, match="precision 'int8' needs representative calibration inputs"):
        export.convert_tflite(out / "saved_model", "int8")
    with pytest.raises(FileNotFoundError):
        runtimes.TFLitePredictor(tmp_path / "missing.tflite")
    with pytest.raises(ValueError, match="SavedModel folder"):
        runtimes.SavedModelPredictor(out / "vdsr_float32.tflite")
    pred = runtimes.TFLitePredictor(out / "vdsr_float32.tflite")
    with pytest.raises(ValueError, match=r"\(1, h, w, 1\)"):
        pred(np.zeros((1, 8, 8, 3), np.float32))
    with pytest.raises(TypeError, match="float"):
        pred(np.zeros((1, 8, 8, 1), np.uint8))
    with pytest.raises(ValueError, match="backend"):
        runtimes.get_predictor("onnx", out / "vdsr_float32.tflite")
    with pytest.raises(FileNotFoundError, match="no manifest.json in .*: run tools/export.py first"):
        export.verify(tmp_path)


def test_sigterm_during_export_leaves_no_temporaries(tiny, tmp_path):
    _, weights, _ = tiny
    out = tmp_path / "exp"
    # SIGTERM arrives while the end-to-end model's temporary SavedModel is on disk.
    script = (
        "import os, runpy, signal, sys, time\n"
        "import tensorflow as tf\n"
        "def killed(*a, **k):\n"
        "    out = [a[6:] for a in sys.argv if a.startswith('--out=')][0]\n"
        "    print('temporaries:', [n for n in os.listdir(out) if n.startswith('.')], file=sys.stderr)\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    time.sleep(30)\n"
        "tf.lite.TFLiteConverter.from_saved_model = killed\n"
        "sys.argv = [sys.argv[1]] + sys.argv[2:]\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", script, str(ROOT / "tools" / "export.py"),
                           f"--out={out}", f"--weights={weights}", "--precisions=",
                           "--e2e_size=16x16", "--tile_size=0", f"--test_data={tmp_path / 'absent'}"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 143, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1] == "export: terminated"
    assert "temporaries: ['.vdsr_e2e_16x16_x2.tflite." in proc.stderr  # there when it came
    # The temporary SavedModel went with the unwinding, and so did the folder the export made:
    # an interrupted export claims nothing.
    assert not out.exists()


def _export_tool(*args, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, str(ROOT / "tools" / "export.py"), *map(str, args),
                           "--precisions=", "--e2e_size=none", f"--test_data={tmp_path / 'absent'}"],
                          capture_output=True, text=True, env=env, timeout=300)


def test_export_tool_refuses_a_used_folder_a_file_and_a_bad_weights_file_in_one_line(tiny, tmp_path):
    """Issue 22, items 1, 9 and 11: --out is never written into unasked, never a file, and a
    refused export leaves no folder behind."""
    _, weights, _ = tiny
    used = tmp_path / "used"
    used.mkdir()
    (used / "manifest.json").write_text("mine")
    proc = _export_tool(f"--out={used}", f"--weights={weights}", tmp_path=tmp_path)
    assert proc.returncode == 1 and proc.stderr.strip() == (
        f"export: error: --out '{used}' exists and is not empty; pass --overwrite to write into it "
        "(files of the same names are replaced)")
    assert os.listdir(used) == ["manifest.json"] and (used / "manifest.json").read_text() == "mine"

    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    proc = _export_tool(f"--out={a_file}", f"--weights={weights}", tmp_path=tmp_path)
    assert proc.returncode == 1 and proc.stderr.strip() == f"export: error: --out '{a_file}' is a file; give a folder"
    proc = _export_tool(f"--out={a_file / 'sub'}", f"--weights={weights}", tmp_path=tmp_path)
    assert proc.returncode == 1 and proc.stderr.strip() == (
        f"export: error: --out '{a_file / 'sub'}' cannot be made: '{a_file}' is a file")  # was FileExistsError

    bad = tmp_path / "bad.weights.h5"
    bad.write_bytes(b"not an h5 file" * 10)
    new = tmp_path / "new" / "exp"
    proc = _export_tool(f"--out={new}", f"--weights={bad}", tmp_path=tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("export: error: ") and "bad.weights.h5" in lines[0], lines
    assert not (tmp_path / "new").exists()  # was: an empty folder left behind


def test_check_output_folder_refuses_a_read_only_folder_and_an_input_folder(tmp_path, monkeypatch):
    from vdsr_tf.core import atomic

    assert atomic.check_output_folder(tmp_path / "a" / "b") == str(tmp_path / "a" / "b")
    assert atomic.check_output_folder(tmp_path) == str(tmp_path)  # empty: nothing to replace
    (tmp_path / "x").write_text("")
    assert atomic.check_output_folder(tmp_path, overwrite=True) == str(tmp_path)
    (tmp_path / "set").mkdir()  # e.g. --test_data: never written into
    with pytest.raises(ValueError, match=r"^--out '.*/set/exp' is or lies inside the input folder '.*/set'; "
                                         r"write it elsewhere$"):
        atomic.check_output_folder(tmp_path / "set" / "exp", inputs=[tmp_path / "set", None], what="--out",
                                   overwrite=True)
    # root writes anywhere, so the read-only answer is simulated (a read-only mount gives it to root too)
    monkeypatch.setattr(atomic.os, "access", lambda path, mode: False)
    with pytest.raises(ValueError, match=rf"^--out '{tmp_path}/new' cannot be written: '{tmp_path}' is read-only; "
                                         "give a folder you may write to$"):
        atomic.check_output_folder(tmp_path / "new", what="--out")


def _with_manifest(tiny_out, folder, edit):
    """A copy of the export ``tiny_out`` at ``folder`` whose manifest.json went through ``edit``."""
    shutil.copytree(tiny_out, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    edit(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_verify_fails_on_files_the_manifest_does_not_list(tiny, tmp_path, monkeypatch):
    """Issue 22, item 4: a folder holding an artefact its manifest does not list fails unmeasured,
    and a manifest listing nothing is refused (both printed 'all artefacts pass')."""
    out, _, _ = tiny
    called = []
    real_measure = parity.measure
    monkeypatch.setattr(parity, "measure", lambda *a, **k: called.append(1) or real_measure(*a, **k))

    def drop_int8(manifest):
        manifest["artifacts"] = [a for a in manifest["artifacts"] if a["name"] != "tflite_int8"]

    folder = _with_manifest(out, tmp_path / "unlisted", drop_int8)
    (folder / "README.md").write_text("notes")  # documents and hidden names are not artefacts
    (folder / ".vdsr_float32.tflite.123.abc.tmp").write_bytes(b"")
    ok, rows = export.verify(folder, scales=(2,))
    assert not ok and not called
    bad = [r for r in rows if r["passed"] is False]
    assert [r["file"] for r in bad] == ["vdsr_int8.tflite"]
    assert bad[0]["summary"] == ("NOT IN manifest.json: nothing vouches for it (re-export the folder, or move "
                                 "the file out of it)")
    assert all(r["passed"] is None for r in rows if r["file"] != "vdsr_int8.tflite")

    empty = _with_manifest(out, tmp_path / "empty", lambda m: m.update(artifacts=[]))
    with pytest.raises(ValueError, match=r"^'.*empty/manifest\.json' lists no artefacts: it vouches for nothing; "
                                         r"re-export the folder with tools/export.py$"):
        export.verify(empty, scales=(2,))
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "verify_export.py"), str(empty), "--scales=2",
                           f"--test_data={tmp_path / 'absent'}"], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 1 and "all artefacts pass" not in proc.stdout
    assert proc.stderr.strip().splitlines() == [
        f"verify_export: error: '{empty}/manifest.json' lists no artefacts: it vouches for nothing; "
        "re-export the folder with tools/export.py"]


@pytest.mark.parametrize("file, says", [
    ("/", "names the absolute path '/'"),
    ("../../etc/hostname", "names '../../etc/hostname', which is not inside the export folder"),
    ("escape", "names 'escape', which is not inside the export folder"),  # a link leading out
    (".", "names '.', which is not inside the export folder"),
])
def test_verify_refuses_manifest_paths_outside_the_folder(tiny, tmp_path, monkeypatch, file, says):
    """Issue 22, item 10: '/' was hashed until a PermissionError, '../..' hashed a file outside."""
    out, _, _ = tiny
    monkeypatch.setattr(integrity, "sha256", lambda path: pytest.fail(f"hashed {path}"))

    def point_away(manifest):
        manifest["artifacts"][1]["file"] = file

    folder = _with_manifest(out, tmp_path / "away", point_away)
    (folder / "escape").symlink_to(tmp_path)
    with pytest.raises(ValueError, match=rf"^'.*away/manifest\.json': artefact 'tflite_float32' {re.escape(says)}"
                                         r"; an export's files lie inside (its folder|it): re-export the folder "
                                         r"with tools/export\.py$"):
        export.verify(folder, scales=(2,))


@pytest.mark.parametrize("key", ["name", "file", "kind"])
def test_verify_refuses_a_manifest_entry_without_a_field_in_one_line(tiny, tmp_path, key):
    """Issue 22, item 9: an entry without "name" gave KeyError."""
    out, _, _ = tiny
    folder = _with_manifest(out, tmp_path / "nameless", lambda m: m["artifacts"][1].pop(key))
    with pytest.raises(ValueError, match=rf"^'.*nameless/manifest\.json': artefact 2 has no '{key}'; "
                                         r"re-export the folder with tools/export\.py$"):
        export.verify(folder, scales=(2,))


def test_the_jpeg_set_exports_by_name_into_a_folder_of_its_own(tiny, tmp_path, monkeypatch):
    """Issue 21, item 7: export.py --weights jpeg; the manifest names the set, verify loads it
    by that name, and exports/jpeg/ inside exports/ is its own export, not an unlisted file."""
    import keras

    from vdsr_tf.export import manifest as manifest_mod
    from vdsr_tf.nn import weights as weights_mod

    out, paper_file, _ = tiny
    folder = tmp_path / "pkg" / "weights"
    folder.mkdir(parents=True)
    keras.utils.set_random_seed(4)
    for attr, name, source in (("BUNDLED_WEIGHTS", "vdsr_x234", paper_file), ("JPEG_WEIGHTS", "vdsr_jpeg", None)):
        path = folder / f"{name}.weights.h5"
        shutil.copyfile(source, path) if source else build_vdsr(depth=3, filters=8).save_weights(path)
        (folder / f"{name}.json").write_text(json.dumps({"sha256": integrity.sha256(path)}))
        monkeypatch.setattr(weights_mod, attr, path)
    monkeypatch.setattr(weights_mod, "_bundled_models", FileCache())

    parent = tmp_path / "exports"
    shutil.copytree(out, parent)
    config = export.ExportConfig(weights="jpeg", precisions=("float32",), e2e_size=None, tile_size=None,
                                 calibration_count=4, calibration_size=32, scales=(2,))
    export.export_all(parent / "jpeg", config)
    info = json.loads((parent / "jpeg" / "manifest.json").read_text())["weights"]
    assert (info["source"], info["name"], info["file"]) == ("bundled", "jpeg", "vdsr_jpeg.weights.h5")
    assert info["sha256"] == integrity.sha256(weights_mod.JPEG_WEIGHTS)
    ok, rows = export.verify(parent / "jpeg", scales=(2,))  # the reference: the jpeg set, by name
    assert ok and [r["name"] for r in rows] == ["saved_model", "tflite_float32"]
    assert manifest_mod.unlisted_files(parent, json.loads((parent / "manifest.json").read_text())) == []
    (parent / "stray").mkdir()  # a folder without a manifest of its own is still unlisted
    assert manifest_mod.unlisted_files(parent, json.loads((parent / "manifest.json").read_text())) == ["stray"]


def test_the_bare_litert_example_in_exports_readme_runs_and_matches_super_resolve(tmp_path, monkeypatch):
    """exports/README.md's bare-LiteRT block, run as written on a small picture, gives what
    super_resolve gives with the same file (to one grey level: float32 vs float64 colour maths)."""
    from PIL import Image

    from vdsr_tf import super_resolve

    repo = Path(__file__).resolve().parents[1]
    text = (repo / "exports" / "README.md").read_text()
    block = re.search(r"Bare LiteRT.*?```python\n(.*?)```", text, re.S).group(1)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:24, 0:20]
    base = 128 + 80 * np.sin(xx / 3.0)[..., None] * np.cos(yy / 4.0)[..., None] * np.array([1.0, 0.6, -0.8])
    Image.fromarray(np.clip(base + rng.normal(0, 8, (24, 20, 3)), 0, 255).astype(np.uint8)).save(tmp_path / "photo.png")
    monkeypatch.chdir(tmp_path)
    for name in ("vdsr_float32.tflite", "vdsr_int8.tflite"):  # the block's own file last
        model = repo / "exports" / name
        exec(compile(block.replace("exports/vdsr_int8.tflite", str(model)), "exports/README.md", "exec"), {})
        ours = np.asarray(Image.open(tmp_path / "photo_x2.png"), np.int16)
        want = np.asarray(super_resolve(str(tmp_path / "photo.png"), 2, backend="tflite", weights=str(model)),
                          np.int16)
        assert ours.shape == want.shape == (48, 40, 3)
        if name == "vdsr_float32.tflite":  # the same pipeline: equal to rounding
            assert np.abs(ours - want).max() <= 1 and np.mean(ours == want) > 0.99
        else:  # float32 vs float64 colour maths can move an input across an int8 step: noise only
            psnr = metrics.psnr(ours.reshape(48, -1), want.reshape(48, -1))  # over every RGB sample; inf if equal
            assert psnr > 45 and np.abs(ours - want).max() <= 8, (psnr, np.abs(ours - want).max())


def test_the_device_speed_rows(tiny):
    """`vdsr-tf bench --sections=device`: each tile model and the dynamic float32/int8 files at each
    thread count, next to Keras, on one picture."""
    from vdsr_tf.research import speed

    out, _, _ = tiny
    r = speed.device_pipeline(folder=out, size=12, scale=2, threads=(1, 2), repeats=1)
    rows = {(row["pipeline"], row["precision"], row["threads"]) for row in r["rows"]}
    assert ("super_resolve keras", "float32", os.cpu_count()) in rows
    for n in (1, 2):
        assert {("device reference", p, n) for p in ("float32", "float16", "int8")} <= rows
        assert {("super_resolve tflite", p, n) for p in ("float32", "int8")} <= rows
    assert all(row["seconds_per_output_mp"] > 0 for row in r["rows"])
