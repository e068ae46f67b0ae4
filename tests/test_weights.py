"""load_model: Keras .weights.h5 round trip, MatConvNet .mat layout, bundled default, errors."""
import numpy as np
import pytest
import scipy.io

from vdsr_tf.core.filecache import FileCache
from vdsr_tf.nn import weights as weights_mod
from vdsr_tf.nn.model import build_vdsr
from vdsr_tf.nn.weights import load_model


def _random_model(depth=3, filters=8, seed=0, residual=True):
    model = build_vdsr(depth=depth, filters=filters, residual=residual)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            layer.set_weights([rng.normal(0, 0.2, w.shape).astype(np.float32) for w in ws])
    return model


def _probe():
    return np.random.default_rng(9).random((1, 13, 17, 1)).astype(np.float32)


def _save_mat(path, kernels, biases, squeeze_last=True):
    """Writes a MatConvNet-like struct model.weight{..} / model.bias{..} (MAT v5)."""
    n = len(kernels)
    weight = np.empty((1, n), dtype=object)
    bias = np.empty((1, n), dtype=object)
    for i, (k, b) in enumerate(zip(kernels, biases)):
        if squeeze_last and k.shape[-1] == 1:
            k = k[..., 0]  # Matlab drops the trailing singleton of the last (3,3,F,1) kernel
        weight[0, i] = k
        bias[0, i] = b.reshape(-1, 1)
    scipy.io.savemat(str(path), {"model": {"weight": weight, "bias": bias}})


def test_h5_round_trip(tmp_path):
    model = _random_model()
    path = tmp_path / "tiny.weights.h5"
    model.save_weights(str(path))
    loaded = load_model(path)
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    np.testing.assert_allclose(loaded.predict(_probe(), verbose=0), model.predict(_probe(), verbose=0), atol=1e-6)
    assert loaded is not load_model(str(path))  # explicit paths build fresh models


def test_h5_non_residual_is_detected(tmp_path):
    model = _random_model(residual=False)
    path = tmp_path / "plain.weights.h5"
    model.save_weights(str(path))
    loaded = load_model(path)
    assert "residual_add" not in [l.name for l in loaded.layers]
    np.testing.assert_allclose(loaded.predict(_probe(), verbose=0), model.predict(_probe(), verbose=0), atol=1e-6)


def test_matconvnet_mat_matches_weights_set_by_hand(tmp_path):
    rng = np.random.default_rng(1)
    depth, filters = 4, 6
    kernels, biases = [], []
    for i in range(depth):
        c_in = 1 if i == 0 else filters
        c_out = 1 if i == depth - 1 else filters
        # Asymmetric kernels: a transposed or flipped layout would change the output.
        kernels.append(rng.normal(0, 0.3, (3, 3, c_in, c_out)).astype(np.float32))
        biases.append(rng.normal(0, 0.1, (c_out,)).astype(np.float32))
    path = tmp_path / "tiny.mat"
    _save_mat(path, kernels, biases)

    loaded = load_model(path)
    by_hand = build_vdsr(depth=depth, filters=filters)
    for i, (k, b) in enumerate(zip(kernels, biases), start=1):
        by_hand.get_layer(f"conv_{i:02d}").set_weights([k, b])
    x = _probe()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), by_hand.predict(x, verbose=0), atol=1e-6)
    # The same network written out directly in numpy: correlation with H, W, in, out kernels.
    h = x[0]
    for i, (k, b) in enumerate(zip(kernels, biases)):
        p = np.pad(h, ((1, 1), (1, 1), (0, 0)))
        out = np.zeros(h.shape[:2] + (k.shape[-1],), np.float64)
        for dy in range(3):
            for dx in range(3):
                out += p[dy : dy + h.shape[0], dx : dx + h.shape[1]] @ k[dy, dx]
        out += b
        h = np.maximum(out, 0) if i < depth - 1 else out
    np.testing.assert_allclose(loaded.predict(x, verbose=0)[0], x[0] + h, atol=1e-5)

    assert len(loaded.layers) == depth + 2  # input, conv_01..conv_04, residual_add
    with pytest.raises(ValueError, match="depth-4"):
        load_model(path, depth=20)
    with pytest.raises(ValueError, match="6 filters"):
        load_model(path, filters=64)
    assert load_model(path, depth=4, filters=6).count_params() == loaded.count_params()


def test_bundled_default_missing_names_the_argument(monkeypatch, tmp_path):
    monkeypatch.setattr(weights_mod, "BUNDLED_WEIGHTS", tmp_path / "vdsr_x234.weights.h5")
    with pytest.raises(FileNotFoundError, match="no bundled VDSR weights") as info:
        load_model()
    assert "weights=" in str(info.value)


def _bundle(monkeypatch, tmp_path):
    """A tiny model bundled in tmp_path with a card recording its sha256, as bundle_weights does."""
    import json

    from vdsr_tf.core import integrity

    path = tmp_path / "vdsr_x234.weights.h5"
    _random_model().save_weights(str(path))
    (tmp_path / "vdsr_x234.json").write_text(json.dumps({"sha256": integrity.sha256(path)}))
    monkeypatch.setattr(weights_mod, "BUNDLED_WEIGHTS", path)
    monkeypatch.setattr(weights_mod, "_bundled_models", FileCache())
    return path


def test_bundled_card_records_the_shipped_files_hash():
    import hashlib
    import json

    card = json.loads(weights_mod.bundled_card_path().read_text())
    assert card["sha256"] == hashlib.sha256(weights_mod.BUNDLED_WEIGHTS.read_bytes()).hexdigest()


def test_damaged_bundled_weights_are_refused_naming_the_file(monkeypatch, tmp_path):
    from vdsr_tf.core import integrity

    path = _bundle(monkeypatch, tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte: still a loadable HDF5 file
    path.write_bytes(bytes(data))
    with pytest.raises(integrity.IntegrityError, match=r"vdsr_x234\.weights\.h5.*sha256.*vdsr_x234\.json"):
        load_model()
    with pytest.raises(integrity.IntegrityError, match="sha256"):
        load_model(path)  # the bundled file by its path is checked too


def test_bundled_weights_without_a_recorded_hash_are_refused(monkeypatch, tmp_path):
    from vdsr_tf.core import integrity

    _bundle(monkeypatch, tmp_path)
    (tmp_path / "vdsr_x234.json").write_text("{}")
    with pytest.raises(integrity.IntegrityError, match="records no sha256"):
        load_model()


def test_sha256_is_cached_by_size_and_mtime(tmp_path):
    import os

    from vdsr_tf.core import integrity

    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    first = integrity.sha256(path)
    calls = []
    real_open = open
    import builtins

    builtins.open = lambda *a, **k: calls.append(a) or real_open(*a, **k)
    try:
        assert integrity.sha256(path) == first
    finally:
        builtins.open = real_open
    assert not calls  # served from the cache
    path.write_bytes(b"abd")
    os.utime(path, ns=(1, 10**18))
    assert integrity.sha256(path) != first


@pytest.mark.parametrize("value", [np.inf, 17.0, -1e4])
def test_impossible_weight_magnitudes_are_refused(tmp_path, value):
    model = _random_model()
    kernel, bias = model.get_layer("conv_02").get_weights()
    kernel.flat[5] = value
    model.get_layer("conv_02").set_weights([kernel, bias])
    path = tmp_path / "bad.weights.h5"
    model.save_weights(str(path))
    with pytest.raises(ValueError, match=r"bad\.weights\.h5.*layer 2 kernel"):
        load_model(path)


def test_weights_just_under_the_bound_load(tmp_path):
    from vdsr_tf.core import integrity

    model = _random_model()
    bias = model.get_layer("conv_01").get_weights()
    bias[1][:] = integrity.MAX_ABS_WEIGHT
    model.get_layer("conv_01").set_weights(bias)
    path = tmp_path / "edge.weights.h5"
    model.save_weights(str(path))
    load_model(path)


def test_bundled_default_is_cached(monkeypatch, tmp_path):
    path = _bundle(monkeypatch, tmp_path)
    monkeypatch.setattr(weights_mod, "_bundled_models", FileCache())
    first = load_model()
    assert load_model() is first
    assert load_model(path) is not first


def test_missing_and_wrong_type(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.weights.h5"):
        load_model(tmp_path / "nope.weights.h5")
    with pytest.raises(ValueError, match="not a file"):
        load_model(tmp_path)
    with pytest.raises(TypeError, match="path"):
        load_model(123)
    with pytest.raises(ValueError, match="depth"):
        load_model(tmp_path / "x.mat", depth=0)


def test_wrong_formats_name_the_file(tmp_path):
    junk = tmp_path / "junk.weights.h5"
    junk.write_bytes(b"this is not hdf5 at all")
    with pytest.raises(ValueError, match="junk.weights.h5"):
        load_model(junk)
    bad_mat = tmp_path / "bad.mat"
    bad_mat.write_bytes(b"MATLAB 5.0 MAT-file" + b"\0" * 50)
    with pytest.raises(ValueError, match="bad.mat"):
        load_model(bad_mat)
    v73 = tmp_path / "v73.mat"
    v73.write_bytes(b"MATLAB 7.3 MAT-file, Platform: x" + b" " * 200)
    with pytest.raises(ValueError, match="v7.3"):
        load_model(v73)
    other = tmp_path / "other.mat"
    scipy.io.savemat(str(other), {"net": np.zeros(3)})
    with pytest.raises(ValueError, match="other.mat.*'model'"):
        load_model(other)

    import h5py

    empty = tmp_path / "empty.weights.h5"
    with h5py.File(empty, "w") as f:
        f.create_group("layers")
    with pytest.raises(ValueError, match="empty.weights.h5.*conv_01"):
        load_model(empty)


def test_mismatched_shapes_name_the_file(tmp_path):
    rng = np.random.default_rng(2)
    kernels = [rng.normal(size=s).astype(np.float32) for s in [(3, 3, 1, 4), (3, 3, 4, 4), (3, 3, 5, 1)]]
    biases = [np.zeros(4, np.float32), np.zeros(4, np.float32), np.zeros(1, np.float32)]
    path = tmp_path / "broken.mat"
    _save_mat(path, kernels, biases)
    with pytest.raises(ValueError, match=r"broken.mat.*layer 3.*\(3, 3, 5, 1\)"):
        load_model(path)
    kernels[2] = rng.normal(size=(5, 5, 4, 1)).astype(np.float32)
    _save_mat(path, kernels, biases)
    with pytest.raises(ValueError, match="broken.mat.*layer 3"):
        load_model(path)
    kernels[2] = np.full((3, 3, 4, 1), np.nan, np.float32)
    _save_mat(path, kernels, biases)
    with pytest.raises(ValueError, match="NaN"):
        load_model(path)


@pytest.mark.slow
def test_official_mat_loads(shared_data):
    path = shared_data / "weights" / "VDSR_Official.mat"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    model = load_model(path)
    assert model.count_params() == 665_921
    assert len(model.layers) == 22
