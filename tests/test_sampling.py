"""Tests for vdsr_tf.data.sampling: batches as a pure function of (seed, step), texture-weighted draws."""
import numpy as np
import pytest

from vdsr_tf.data import patches as data_lib
from vdsr_tf.data.sampling import BatchSampler, residual_energy, texture_weights


def _plane(kind, seed, size=123):
    rng = np.random.default_rng(seed)
    if kind == "flat":
        return np.full((size, size), 120, np.uint8)
    return rng.integers(0, 256, (size, size)).astype(np.uint8)  # noise: a large bicubic residual


@pytest.fixture(scope="module")
def mixed_set():
    planes = [_plane("flat", 0), _plane("noise", 1), _plane("flat", 2), _plane("noise", 3)]
    return data_lib.patch_set_from_planes(planes, [f"p{i}" for i in range(4)], (2.0,))


def test_batch_is_a_pure_function_of_seed_and_step(mixed_set):
    for kw in (dict(), dict(random_crop=True), dict(sampling="texture"), dict(sampling="texture", random_crop=True)):
        a = BatchSampler(mixed_set, batch_size=8, seed=4, **kw)
        b = BatchSampler(mixed_set, batch_size=8, seed=4, **kw)
        later = [b.batch(k) for k in (7, 3)]  # another instance, other order
        for got, k in zip(later, (7, 3)):
            for u, v in zip(a.batch(k), got):
                np.testing.assert_array_equal(u, v)
        assert not np.array_equal(a.batch(3)[0], a.batch(4)[0])
        assert not np.array_equal(a.batch(3)[0], BatchSampler(mixed_set, batch_size=8, seed=5, **kw).batch(3)[0])


def test_tf_dataset_feeds_the_numpy_sampler(mixed_set):
    ds = data_lib.make_dataset(mixed_set, batch_size=8, seed=2, start_step=5, num_steps=2, sampling="texture",
                               with_scale=True)
    s = BatchSampler(mixed_set, batch_size=8, seed=2, sampling="texture")
    for k, got in zip((5, 6), ds.as_numpy_iterator()):
        for u, v in zip(s.batch(k), got):
            np.testing.assert_array_equal(u, v)


def test_residual_energy_is_the_patch_mean_of_the_squared_residual(mixed_set):
    e = residual_energy(mixed_set)
    for i in (0, 5, len(e) - 1):
        x, y = mixed_set.patch(i)
        assert e[i] == pytest.approx(np.mean((y.astype(np.float64) - x) ** 2), rel=1e-6)
    np.testing.assert_allclose(texture_weights(np.array([0.0, 1.0, 3.0]), 0.1),
                               [0.1, 0.1 + 0.9 / (4 / 3), 0.1 + 0.9 * 3 / (4 / 3)])
    np.testing.assert_array_equal(texture_weights(np.zeros(3), 0.1), np.ones(3))


def test_texture_sampling_favours_textured_patches_but_still_shows_flat_ones(mixed_set):
    flat = np.isin(mixed_set.grid[:, 0], np.flatnonzero(np.isin(np.arange(4), (0, 2))))
    s = BatchSampler(mixed_set, batch_size=64, seed=0, sampling="texture", texture_floor=0.1)
    draws = np.concatenate([s.rows(k)[0] for k in range(200)])
    flat_share = np.isin(draws, (0, 2)).mean()
    # Flat planes hold half the patches; their residual is 0, so each weighs the floor 0.1
    # against 1.9 for a noise patch: expected share 0.1 / (0.1 + 1.9) = 5%.
    assert flat.mean() == pytest.approx(0.5)
    assert flat_share == pytest.approx(0.05, abs=0.015)
    assert flat_share > 0  # the floor: flat patches are still seen
    uniform = BatchSampler(mixed_set, batch_size=64, seed=0)
    rows = np.concatenate([uniform.rows(k)[0] for k in range(20)])
    assert np.isin(rows, (0, 2)).mean() == pytest.approx(0.5, abs=0.05)


def test_texture_random_crops_stay_inside_their_plane(mixed_set):
    s = BatchSampler(mixed_set, batch_size=256, seed=1, sampling="texture", random_crop=True)
    plane, top, left = s.rows(0)
    assert (top >= 0).all() and (left >= 0).all()
    assert (top + 41 <= mixed_set.heights[plane]).all() and (left + 41 <= mixed_set.widths[plane]).all()
    assert len(set(zip(plane, top, left))) > len(set(map(tuple, mixed_set.grid)))  # off the grid too


def test_bad_sampling_options():
    ps = data_lib.patch_set_from_planes([_plane("noise", 0)], ["a"], (2.0,))
    with pytest.raises(ValueError, match="sampling"):
        BatchSampler(ps, batch_size=2, sampling="edges")
    with pytest.raises(ValueError, match="texture_floor"):
        BatchSampler(ps, batch_size=2, sampling="texture", texture_floor=0)
