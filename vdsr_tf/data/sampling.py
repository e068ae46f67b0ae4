"""Training batches in numpy, the same on every backend: batch k is a pure function of (seed, k).

:class:`BatchSampler` draws the rows of batch ``k`` from a :class:`vdsr_tf.data.patches.PatchSet`
with numpy generators seeded by ``(seed, purpose, k)`` (or ``(seed, purpose, epoch)``), so a
resumed run, a run on the other backend, and a data-parallel run all see the same batches.

Which patches (``sampling``):

* ``"uniform"``, grid (the paper): an endless stream of per-epoch permutations of the stride
  grid; batch k takes stream items [k*B, (k+1)*B), which may straddle two epochs (no patch
  is dropped, any patch count works). Random crops: every valid (plane, top, left) equally
  likely.
* ``"texture"``: grid patch i is drawn (with replacement) with probability proportional to

      w_i = floor + (1 - floor) * e_i / mean(e),   e_i = mean over the patch of (y - x)^2

  where y - x is the residual the network must learn (HR minus its bicubic input). A patch
  of average residual energy gets weight 1, one twice as textured about 2 (for a small
  floor), and a perfectly flat patch still ``floor`` (``texture_floor``, default 0.1): flat
  regions stay in the data, ten times rarer than an average patch instead of dominating it.
  With random crops the drawn grid patch is moved by a uniform offset of up to half a stride
  in each direction (kept inside its plane).

Degradation (``degradation``, a :class:`vdsr_tf.core.degradation.Mixture`): each row of batch k
is lossless (the plane's bicubic input, as the paper trains) or JPEG at a quality drawn by
``Mixture.draw(seed, k)``; a JPEG row compresses its plane's whole LR picture and cuts its
window of the upscaled Y (:func:`vdsr_tf.core.degradation.network_input_window`). The target is
the plane's HR Y either way.

Augmentation: one of the 8 rotations/flips per patch (:func:`dihedral`), the same for input
and target, after the degradation.
"""
from __future__ import annotations

import threading

import numpy as np

SAMPLINGS = ("uniform", "texture")
_ORDER, _FLIP, _CROP, _TEXTURE = 0, 1, 2, 3  # generator purposes (the old TF sampler's salts)


def _rng(seed: int, purpose: int, k: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), purpose, int(k)])


def dihedral(x: np.ndarray, code: np.ndarray) -> np.ndarray:
    """One of the 8 rotations/flips per example: x (B, P, P, ...), code int (B,) in 0..7.

    Bit 0: transpose, bit 1: flip left-right, bit 2: flip up-down (together: all 4 rotations
    times flip). Square patches only. Returns a new array.
    """
    x = np.array(x, copy=True)
    code = np.asarray(code)
    axes = (0, 2, 1) + tuple(range(3, x.ndim))
    t = (code & 1) > 0
    x[t] = x[t].transpose(axes)
    lr = (code & 2) > 0
    x[lr] = x[lr][:, :, ::-1]
    ud = (code & 4) > 0
    x[ud] = x[ud][:, ::-1]
    return x


def residual_energy(ps) -> np.ndarray:
    """e_i (module docstring) for every grid patch of ``ps``: float64 (n_patches,)."""
    p = ps.patch_size
    out = np.zeros(ps.num_patches, np.float64)
    planes = ps.grid[:, 0]
    for plane in np.unique(planes):
        h, w, o = int(ps.heights[plane]), int(ps.widths[plane]), int(ps.offsets[plane])
        r = ps.targets[o:o + h * w].astype(np.float64) / 255.0 - ps.inputs[o:o + h * w]
        sq = np.zeros((h + 1, w + 1))
        sq[1:, 1:] = np.cumsum(np.cumsum((r * r).reshape(h, w), 0), 1)  # integral image
        sel = np.flatnonzero(planes == plane)
        t, l = ps.grid[sel, 1], ps.grid[sel, 2]
        out[sel] = (sq[t + p, l + p] - sq[t, l + p] - sq[t + p, l] + sq[t, l]) / (p * p)
    return out


def texture_weights(energy: np.ndarray, floor: float) -> np.ndarray:
    """w_i = floor + (1 - floor) * e_i / mean(e) (all ones if every patch is flat)."""
    energy = np.asarray(energy, np.float64)
    mean = float(energy.mean()) if energy.size else 0.0
    if not mean > 0:
        return np.ones_like(energy)
    return floor + (1.0 - floor) * energy / mean


class BatchSampler:
    """Batch ``step`` of a run as numpy arrays; see the module docstring for the rules.

    Thread-safe (tf.data may call :meth:`batch` from several threads at once).
    """

    def __init__(self, ps, *, batch_size: int, seed: int = 0, augment: bool = True, random_crop: bool = False,
                 sampling: str = "uniform", texture_floor: float = 0.1, degradation=None):
        from vdsr_tf.core import degradation as degradation_lib

        self.mixture = degradation if degradation is not None else degradation_lib.Mixture()
        if not isinstance(self.mixture, degradation_lib.Mixture):
            raise TypeError(f"degradation must be a vdsr_tf.core.degradation.Mixture, got {type(degradation).__name__}")
        if not self.mixture.is_clean and not ps.has_lr:
            raise ValueError(f"degradation {self.mixture.name} needs the LR pictures: build the patch set "
                             "with keep_lr=True")
        self._window = degradation_lib.network_input_window
        if sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")
        if not 0 < texture_floor <= 1:
            raise ValueError(f"texture_floor must be in (0, 1], got {texture_floor!r}")
        self.ps, self.b, self.seed = ps, int(batch_size), int(seed)
        self.augment, self.random_crop, self.sampling = bool(augment), bool(random_crop), sampling
        self.n = ps.num_patches
        if self.n < 1:
            raise ValueError("the patch set holds no grid patches")
        p = ps.patch_size
        self._dr = np.arange(p, dtype=np.int64)
        counts = (ps.heights - p + 1) * (ps.widths - p + 1)
        self._cum_counts = np.cumsum(counts)
        self._starts = self._cum_counts - counts
        self._perms: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()
        self.weights = None
        if sampling == "texture":
            self.weights = texture_weights(residual_energy(ps), texture_floor)
            self._cum_weights = np.cumsum(self.weights)
            # Half a grid step either way: the gaps between grid cells are reachable too.
            gaps = ps.grid[:, 1:]
            steps = [np.diff(np.unique(g)) for g in gaps.T]
            self._jitter = max(1, int(min((s.min() for s in steps if s.size), default=p)) // 2)

    def _perm(self, epoch: int) -> np.ndarray:
        with self._lock:
            perm = self._perms.get(epoch)
            if perm is None:
                perm = _rng(self.seed, _ORDER, epoch).permutation(self.n)
                self._perms = {e: v for e, v in self._perms.items() if e >= epoch - 1}
                self._perms[epoch] = perm
            return perm

    def rows(self, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(plane, top, left), int64 (B,) each, of global batch ``step``."""
        step = int(step)
        ps = self.ps
        if self.sampling == "texture":
            u = _rng(self.seed, _TEXTURE, step).random(self.b) * self._cum_weights[-1]
            idx = np.minimum(np.searchsorted(self._cum_weights, u, side="right"), self.n - 1)
            plane, top, left = (ps.grid[idx, i].copy() for i in range(3))
            if self.random_crop:
                j = self._jitter
                off = _rng(self.seed, _CROP, step).integers(-j, j + 1, size=(2, self.b))
                top = np.clip(top + off[0], 0, ps.heights[plane] - ps.patch_size)
                left = np.clip(left + off[1], 0, ps.widths[plane] - ps.patch_size)
            return plane, top, left
        if self.random_crop:
            u = _rng(self.seed, _CROP, step).integers(0, self._cum_counts[-1], size=self.b)
            plane = np.searchsorted(self._cum_counts, u, side="right")
            pos = u - self._starts[plane]
            nx = ps.widths[plane] - ps.patch_size + 1
            return plane, pos // nx, pos % nx
        j = step * self.b + np.arange(self.b, dtype=np.int64)
        epoch, pos = j // self.n, j % self.n
        idx = np.empty(self.b, np.int64)
        for e in np.unique(epoch):
            sel = epoch == e
            idx[sel] = self._perm(int(e))[pos[sel]]
        g = ps.grid[idx]
        return g[:, 0], g[:, 1], g[:, 2]

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, y, scale) of global batch ``step``: float32 (B, P, P, 1) twice, float32 (B,)."""
        ps = self.ps
        plane, top, left = self.rows(step)
        w = ps.widths[plane]
        base = ps.offsets[plane] + top * w + left
        flat = base[:, None, None] + self._dr[None, :, None] * w[:, None, None] + self._dr[None, None, :]
        x = ps.inputs[flat][..., None]
        y = ps.targets[flat][..., None].astype(np.float32) / np.float32(255.0)
        if not self.mixture.is_clean:
            quality = self.mixture.draw(self.seed, step, self.b)
            p = ps.patch_size
            for i in np.flatnonzero(quality):
                k = int(plane[i])
                x[i, :, :, 0] = self._window(ps.lr_picture(k), int(quality[i]),
                                             (int(ps.heights[k]), int(ps.widths[k])), int(top[i]), int(left[i]), p)
        if self.augment:
            code = _rng(self.seed, _FLIP, step).integers(0, 8, size=self.b)
            x, y = dihedral(x, code), dihedral(y, code)
        return (np.ascontiguousarray(x, np.float32), np.ascontiguousarray(y, np.float32),
                ps.plane_scales[plane].astype(np.float32))
