"""Training data: HR files -> Matlab Y -> Matlab bicubic degradation -> patches.

Stages (docs/protocol.md, "Training protocol"):

1. :func:`vdsr_tf.data.luma.load_luma` reads an HR image with the library's one reader (``imageio.read_pixels``)
   and takes Matlab's Y (``matlab.luma_uint8``: ``rgb2ycbcr`` on uint8, rounded; single-channel
   images are used as they are).
2. :func:`degrade` mod-crops it to the scale and makes the network input with
   ``matlab_tf.imresize_tf`` (down by 1/s, then up to the HR size): the same bicubic the
   evaluation and inference use, so training sees exactly the test-time degradation.
3. :func:`build_patch_set` does 1-2 once for every image and scale and keeps the result in
   memory (and optionally in an ``.npz`` cache on disk): later epochs, and resumed runs,
   do no resizing at all.
4. :func:`make_dataset` feeds tf.data from :class:`vdsr_tf.data.sampling.BatchSampler` (numpy,
   shared with the JAX path): the stride-41 grid patches of all scales shuffled together
   (so every batch mixes scales), random crops, or texture-weighted draws, with random
   rotation/flip. Every batch is a pure function of (seed, step), so a resumed run (on
   either backend) sees exactly the batches an uninterrupted run would have seen.

:func:`calibration_patches` (int8 export calibration) cuts network inputs with the same
:func:`degrade`, from the training images or from :func:`synthetic_luma` pictures.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import sys
from typing import Sequence

import numpy as np

from vdsr_tf.core import atomic, imageio, matlab
from vdsr_tf.data import geometry
from vdsr_tf.data.luma import load_luma, load_uint8
from vdsr_tf.data.luma_archive import read_luma_archive

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = imageio.IMAGE_EXTENSIONS  # read here by preflight and train
_CACHE_VERSION = "vdsr_tf.data/1"


def list_images(folders) -> list[str]:
    """Image files (extensions in IMAGE_EXTENSIONS) under ``folders``, recursively, sorted."""
    if isinstance(folders, (str, os.PathLike)):
        folders = [folders]
    files = []
    for folder in folders:
        folder = os.fspath(folder)
        if not os.path.isdir(folder):
            raise ValueError(f"training data folder {folder!r} does not exist or is not a folder")
        for root, dirs, names in os.walk(folder):
            dirs.sort()
            for name in sorted(names):
                if name.lower().endswith(IMAGE_EXTENSIONS):
                    files.append(os.path.join(root, name))
    return files


def is_luma_archive(path) -> bool:
    """True for a luminance archive file (vdsr_tf.data.luma_archive) given as training data."""
    return os.path.isfile(path) and os.fspath(path).lower().endswith(".npz")


def list_sources(data) -> list[str]:
    """Training sources of ``data`` (folders and/or luminance archives), in order: the image
    files under each folder (:func:`list_images`) and each ``.npz`` archive as it is."""
    if isinstance(data, (str, os.PathLike)):
        data = [data]
    out = []
    for entry in data:
        entry = os.fspath(entry)
        if is_luma_archive(entry):
            out.append(entry)
        elif os.path.isdir(entry):
            out.extend(list_images(entry))
        elif not os.path.exists(entry):
            raise ValueError(f"training data {entry!r} does not exist")
        else:
            raise ValueError(f"training data {entry!r} is neither a folder of images nor a .npz luminance archive")
    return out


def source_sizes(sources) -> list[tuple[int, int]]:
    """(height, width) of every training image in ``sources`` (see :func:`list_sources`),
    from the file headers or the archive planes, without decoding image files (an EXIF
    rotation swaps the sides, which leaves the patch count alone)."""
    sizes = []
    for path in sources:
        if is_luma_archive(path):
            sizes.extend(y.shape for _, y in read_luma_archive(path))
        else:
            width, height = imageio.image_size(path)
            sizes.append((height, width))
    return sizes


def _tensorflow_for_degradation():
    """TensorFlow, unless it is absent or this process runs Keras on another backend (then
    loading it would cost start-up time and, on a GPU, the device memory JAX needs)."""
    if "tensorflow" not in sys.modules and os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        return None
    try:
        import tensorflow as tf
    except ImportError:
        return None
    return tf


def degrade(y: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(network input, target) for one luminance plane at one scale.

    ``y``: uint8 (H, W). Integer scales mod-crop first (as the paper's generate_train.m);
    fractional scales keep the full size. Target = the (cropped) Y as float32 in [0, 1];
    input = imresize(imresize(target, 1/s), [H, W]) with :func:`matlab_tf.imresize_tf`,
    float32, not rounded (the authors' training code keeps it in double). Without
    TensorFlow, or with Keras on another backend (the JAX path), the numpy
    :func:`matlab.imresize` does the same resize (equal to 2e-6). Returns
    float32 (H', W') arrays; None, None if the image is too small for this scale.
    """
    y = np.asarray(y)
    if y.ndim != 2 or y.dtype != np.uint8:
        raise ValueError(f"degrade expects a uint8 (H, W) plane, got {y.dtype} {y.shape}")
    scale = float(scale)
    y = geometry.crop_to_scale(y, scale)
    h, w = y.shape
    if h < scale or w < scale or h == 0 or w == 0:
        return None, None
    target = y.astype(np.float32) / np.float32(255.0)
    tf = _tensorflow_for_degradation()
    if tf is None:
        lr = matlab.imresize(target.astype(np.float64), 1.0 / scale)
        return matlab.imresize(lr, output_shape=(h, w)).astype(np.float32), target
    from vdsr_tf.nn import matlab_tf

    lr = matlab_tf.imresize_tf(tf.constant(target), 1.0 / scale)
    up = matlab_tf.imresize_tf(lr, output_shape=(h, w))
    return up.numpy().astype(np.float32), target


def synthetic_luma(size: int, seed: int) -> np.ndarray:
    """A deterministic uint8 (size, size) picture: gradients, edges, texture, flat areas.

    Stands in for real images where none are at hand (int8 calibration, export measurements).
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    f1, f2 = rng.uniform(3, 20, 2)
    img = 0.5 + 0.3 * np.sin(f1 * xx + rng.uniform(0, 6)) * np.cos(f2 * yy)
    for _ in range(6):  # rectangles with hard edges
        r0, c0 = rng.integers(0, size, 2)
        img[r0:r0 + rng.integers(4, size // 2), c0:c0 + rng.integers(4, size // 2)] = rng.uniform(0, 1)
    img += rng.normal(0, 0.02, img.shape)
    return np.floor(np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def calibration_patches(
    folders=None,
    *,
    count: int = 240,
    size: int = 64,
    scales: Sequence[float] = (2, 3, 4),
    seed: int = 0,
    max_images: int = 60,
) -> tuple[list[np.ndarray], str]:
    """Network inputs for int8 calibration, as the training data makes them.

    Luminance of HR images (``folders``, e.g. ``../shared/data/train``; synthetic
    pictures when None or missing) is degraded with :func:`degrade` at each scale, and
    ``count`` random ``size`` x ``size`` crops are taken, cycling through the scales.

    Returns (list of float32 (1, size, size, 1) arrays, description of the source).
    """
    rng = np.random.default_rng(seed)
    files = []
    if folders:
        try:
            files = list_images(folders)
        except ValueError:
            files = []
    if files:
        chosen = sorted(rng.choice(len(files), size=min(max_images, len(files)), replace=False))
        planes = [load_luma(files[i]) for i in chosen]
        source = f"{len(planes)} of {len(files)} images under {folders}"
    else:
        planes = [synthetic_luma(3 * size, seed + i) for i in range(8)]
        source = "synthetic images (no training data found)"
    degraded = {}
    patches = []
    for i in range(count):
        j, scale = int(rng.integers(len(planes))), scales[i % len(scales)]
        key = (j, scale)
        if key not in degraded:
            degraded[key] = degrade(planes[j], scale)[0]
        x = degraded[key]
        if x is None or min(x.shape) < size:
            continue
        r = int(rng.integers(0, x.shape[0] - size + 1))
        c = int(rng.integers(0, x.shape[1] - size + 1))
        patches.append(np.ascontiguousarray(x[r:r + size, c:c + size], np.float32)[None, :, :, None])
    if not patches:
        raise ValueError(f"no calibration patch of {size}x{size} could be cut from {source}")
    return patches, f"{len(patches)} patches {size}x{size} at x{'/x'.join(f'{s:g}' for s in scales)} from {source}"


@dataclasses.dataclass(frozen=True)
class PatchSet:
    """All degraded (input, target) planes of a training set, flattened into two arrays.

    inputs: float32 (total_pixels,), the bicubic network inputs of every (image, scale).
    targets: uint8 (total_pixels,), the HR Y (exact: target = uint8 / 255).
    offsets, heights, widths: int64 (n_planes,), where each plane starts and its size.
    plane_scales: float32 (n_planes,), the scale of each plane.
    grid: int64 (n_patches, 3) rows (plane, top, left) of the stride grid.
    patch_size: side of the square patches.
    scales: the scales, in config order. files: the source images.
    lr, lr_offsets, lr_heights, lr_widths, lr_channels: with ``keep_lr`` (JPEG training), the
    uint8 LR picture of every plane, Matlab bicubic of the HR image in colour (1 or 3
    channels), flattened like ``inputs``; None otherwise.
    """

    inputs: np.ndarray
    targets: np.ndarray
    offsets: np.ndarray
    heights: np.ndarray
    widths: np.ndarray
    plane_scales: np.ndarray
    grid: np.ndarray
    patch_size: int
    scales: tuple[float, ...]
    files: tuple[str, ...]
    lr: np.ndarray | None = None
    lr_offsets: np.ndarray | None = None
    lr_heights: np.ndarray | None = None
    lr_widths: np.ndarray | None = None
    lr_channels: np.ndarray | None = None

    @property
    def has_lr(self) -> bool:
        """True when the LR pictures are kept (what JPEG degradation compresses)."""
        return self.lr is not None

    def lr_picture(self, plane: int) -> np.ndarray:
        """The uint8 LR picture of ``plane``: (h, w) grey or (h, w, 3) RGB (a view)."""
        if self.lr is None:
            raise ValueError("this patch set keeps no LR pictures (build it with keep_lr=True)")
        h, w, c = (int(a[plane]) for a in (self.lr_heights, self.lr_widths, self.lr_channels))
        o = int(self.lr_offsets[plane])
        flat = self.lr[o:o + h * w * c]
        return flat.reshape(h, w) if c == 1 else flat.reshape(h, w, c)

    @property
    def num_patches(self) -> int:
        return int(self.grid.shape[0])

    def patch(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Grid patch ``index`` as float32 (P, P) input and target (no augmentation)."""
        plane, top, left = (int(v) for v in self.grid[index])
        return self._crop(plane, top, left)

    def _crop(self, plane, top, left):
        p, w, o = self.patch_size, int(self.widths[plane]), int(self.offsets[plane])
        rows = o + (top + np.arange(p))[:, None] * w + left + np.arange(p)[None, :]
        return self.inputs[rows], self.targets[rows].astype(np.float32) / 255.0


def count_patches(sources, scales, *, patch_size: int = 41, stride: int = 41, hr_scales=(1.0,)) -> int:
    """The grid patches :func:`build_patch_set` would make of ``sources``, from the image sizes
    alone (file headers, archive planes): nothing is decoded or degraded."""
    return sum(len(geometry.grid_positions(h, w, patch_size, stride))
               for h0, w0 in source_sizes(sources)
               for h, w in geometry.plane_sizes(h0, w0, hr_scales, scales, patch_size))


_ARRAY_FIELDS = ("inputs", "targets", "offsets", "heights", "widths", "plane_scales", "grid")
_LR_FIELDS = ("lr", "lr_offsets", "lr_heights", "lr_widths", "lr_channels")


def _lr_picture(src: np.ndarray, scale: float) -> np.ndarray:
    """The uint8 LR of a uint8 HR picture at ``scale``, the plane :func:`degrade` makes of its Y:
    the same mod-crop, Matlab bicubic by 1/scale, rounded."""
    return matlab.imresize(geometry.crop_to_scale(src, scale), 1.0 / scale)


def patch_set_from_planes(planes, names, scales, *, patch_size: int = 41, stride: int = 41,
                          keep_lr: bool = False) -> PatchSet:
    """Degrades uint8 (H, W) luminance ``planes`` (an iterable; ``names`` labels them) at every scale.

    With ``keep_lr`` each item is a pair (Y plane, uint8 picture it came from: (H, W) grey or
    (H, W, 3) RGB), and the LR pictures are kept too (:class:`PatchSet`).
    """
    scales = tuple(float(s) for s in scales)
    inputs, targets, offsets, heights, widths, plane_scales, grid = [], [], [], [], [], [], []
    lr, lr_offsets, lr_heights, lr_widths, lr_channels = [], [], [], [], []
    offset = lr_offset = 0
    too_small = {s: 0 for s in scales}
    n_planes = 0
    for y in planes:
        n_planes += 1
        if keep_lr:
            y, src = y
        for s in scales:
            x, t = degrade(y, s)
            if x is None or not geometry.holds_patch(x.shape[0], x.shape[1], s, patch_size):
                too_small[s] += 1
                continue
            plane = len(offsets)
            h, w = x.shape
            inputs.append(x.ravel())
            targets.append(np.floor(t.ravel() * 255.0 + 0.5).astype(np.uint8))
            offsets.append(offset)
            heights.append(h)
            widths.append(w)
            plane_scales.append(s)
            grid.extend((plane, t_, l_) for t_, l_ in geometry.grid_positions(h, w, patch_size, stride))
            offset += h * w
            if keep_lr:
                small = _lr_picture(src, s)
                lr.append(small.ravel())
                lr_offsets.append(lr_offset)
                lr_heights.append(small.shape[0])
                lr_widths.append(small.shape[1])
                lr_channels.append(1 if small.ndim == 2 else small.shape[2])
                lr_offset += small.size
    if not offsets:
        raise ValueError(
            f"no training image is at least {patch_size}x{patch_size} after degradation "
            f"(images: {len(names)}, scales: {scales})")
    if any(too_small.values()):
        logger.warning("skipped training planes smaller than a %dx%d patch (after the mod-crop): %s "
                       "of %d", patch_size, patch_size,
                       ", ".join(f"{n} at x{s:g}" for s, n in too_small.items() if n), n_planes)
    return PatchSet(
        inputs=np.concatenate(inputs), targets=np.concatenate(targets),
        offsets=np.asarray(offsets, np.int64), heights=np.asarray(heights, np.int64),
        widths=np.asarray(widths, np.int64), plane_scales=np.asarray(plane_scales, np.float32),
        grid=np.asarray(grid, np.int64).reshape(-1, 3), patch_size=patch_size, scales=scales,
        files=tuple(names), **({} if not keep_lr else {
            "lr": np.concatenate(lr), "lr_offsets": np.asarray(lr_offsets, np.int64),
            "lr_heights": np.asarray(lr_heights, np.int64), "lr_widths": np.asarray(lr_widths, np.int64),
            "lr_channels": np.asarray(lr_channels, np.int64)}))


def _cache_key(files, scales, patch_size, stride, hr_scales=(1.0,), keep_lr=False) -> str:
    h = hashlib.sha256()
    h.update(_CACHE_VERSION.encode())
    h.update(json.dumps([list(scales), patch_size, stride]).encode())
    if tuple(hr_scales) != (1.0,):  # (keeps the keys of caches made before hr_scales existed)
        h.update(json.dumps(["hr_scales", list(hr_scales)]).encode())
    if keep_lr:  # (likewise for caches made before JPEG training)
        h.update(b"keep_lr")
    for f in files:
        st = os.stat(f)
        h.update(f"{os.path.abspath(f)}|{st.st_size}|{int(st.st_mtime)}\n".encode())
    return h.hexdigest()[:16]


def _read_cache(path: str, patch_size, scales, names, keep_lr: bool) -> PatchSet | None:
    """The cached PatchSet at ``path``, or None (with a warning) when the file is damaged: it
    is then rebuilt and rewritten, never trusted."""
    wanted = _ARRAY_FIELDS + (_LR_FIELDS if keep_lr else ())
    try:
        with np.load(path) as z:
            arrays = {k: z[k] for k in wanted}
        ps = PatchSet(patch_size=patch_size, scales=scales, files=names, **arrays)
        if ps.inputs.shape != ps.targets.shape or (ps.grid.ndim != 2 or ps.grid.shape[1] != 3):
            raise ValueError("inconsistent arrays")
    except Exception as e:  # a cut, overwritten or foreign file: zipfile, pickle, KeyError, ...
        logger.warning("training cache %s is damaged (%s: %s); rebuilding it", path, type(e).__name__,
                       str(e).splitlines()[0] if str(e) else "")
        return None
    logger.info("loaded degraded training planes from cache %s", path)
    return ps


def build_patch_set(files, scales, *, patch_size: int = 41, stride: int = 41,
                    cache_dir: str | None = None, log_every: int = 50, hr_scales=(1.0,),
                    keep_lr: bool = False) -> PatchSet:
    """Loads and degrades every image at every scale once (see the module docstring).

    ``files``: image paths and/or luminance archives (see :func:`list_sources`); an
    archive's planes are used as they are and named ``<archive>:<name>``; ``scales``: factors > 1.
    ``hr_scales``: factors in (0, 1]; each HR luminance is also used downsized by each
    factor (matlab.imresize on uint8) before degradation: more, and coarser, training content.
    With ``cache_dir``, the result is stored as ``patches_<key>.npz`` (written atomically)
    and reloaded when the files, their sizes/mtimes, the scales, patch size and stride match.
    Planes smaller than a patch are skipped. Raises ValueError if nothing is left.
    ``keep_lr`` also keeps every plane's LR picture in colour (what JPEG training compresses;
    the HR picture is downsized by ``hr_scales`` in colour for it; archives are grey).
    """
    files = tuple(os.fspath(f) for f in files)
    scales = tuple(float(s) for s in scales)
    hr_scales = tuple(float(h) for h in hr_scales)
    if not files:
        raise ValueError("no training images given")
    for h in hr_scales:
        if not 0 < h <= 1:
            raise ValueError(f"hr_scales must lie in (0, 1], got {h!r} in {hr_scales!r}")
    entries = []  # (name, Y plane or None: read from the file when degraded)
    for f in files:
        if is_luma_archive(f):
            entries.extend((f"{f}:{name}", y) for name, y in read_luma_archive(f))
        else:
            entries.append((f, None))
    names = tuple(n for n, _ in entries)
    cache_path = None
    if cache_dir:
        key = _cache_key(files, scales, patch_size, stride, hr_scales, keep_lr)
        cache_path = os.path.join(cache_dir, f"patches_{key}.npz")
        if os.path.exists(cache_path):
            cached = _read_cache(cache_path, patch_size, scales, names, keep_lr)
            if cached is not None:
                return cached

    def _planes():
        for i, (path, y) in enumerate(entries):
            picture = y if y is not None else load_uint8(path)
            y = matlab.luma_uint8(picture)
            for hs in hr_scales:
                y_hs = y if hs == 1.0 else matlab.imresize(y, hs)
                if keep_lr:
                    yield y_hs, (picture if hs == 1.0 else matlab.imresize(picture, hs))
                else:
                    yield y_hs
            if log_every and (i + 1) % log_every == 0:
                logger.info("degraded %d/%d training images", i + 1, len(entries))

    ps = patch_set_from_planes(_planes(), names, scales, patch_size=patch_size, stride=stride, keep_lr=keep_lr)
    arrays = {k: getattr(ps, k) for k in _ARRAY_FIELDS + (_LR_FIELDS if keep_lr else ())}
    if cache_path:
        os.makedirs(cache_dir, exist_ok=True)
        with atomic.atomic_path(cache_path, suffix=".npz") as tmp:
            np.savez(tmp, **arrays)
    return ps


def make_dataset(ps: PatchSet, *, batch_size: int = 64, seed: int = 0, start_step: int = 0,
                 num_steps: int | None = None, augment: bool = True, random_crop: bool = False,
                 sampling: str = "uniform", texture_floor: float = 0.1,
                 num_slices: int = 1, slice_ids=None, with_scale: bool = False, degradation=None):
    """tf.data batches for steps ``start_step``, ``start_step + 1``, ... (endless if num_steps is None).

    Each element is (x, y) (plus the per-row scale if ``with_scale``): x, y float32
    (B, P, P, 1) in [0, 1] (x the bicubic input, y the HR target), made by
    :class:`vdsr_tf.data.sampling.BatchSampler` (the JAX path calls the same sampler directly), so
    the batch of a step depends only on (seed, step), never on where the run started.
    ``degradation``: a :class:`vdsr_tf.core.degradation.Mixture` (None: lossless, the paper).
    For distribution, ``num_slices`` splits each global batch into equal row blocks and
    the dataset yields, per step, the blocks in ``slice_ids`` one after another (what
    ``distribute_datasets_from_function`` hands round-robin to the local replicas).
    """
    import tensorflow as tf

    from vdsr_tf.data.sampling import BatchSampler

    if batch_size % num_slices:
        raise ValueError(f"batch_size {batch_size} is not divisible by {num_slices} replicas")
    sampler = BatchSampler(ps, batch_size=batch_size, seed=seed, augment=augment, random_crop=random_crop,
                           sampling=sampling, texture_floor=texture_floor, degradation=degradation)
    p = ps.patch_size

    def _batch(step):
        x, y, s = tf.numpy_function(sampler.batch, [step], [tf.float32, tf.float32, tf.float32], stateful=False)
        return (tf.ensure_shape(x, [batch_size, p, p, 1]), tf.ensure_shape(y, [batch_size, p, p, 1]),
                tf.ensure_shape(s, [batch_size]))

    end = None if num_steps is None else start_step + num_steps
    ds = tf.data.Dataset.range(start_step, end) if end is not None else \
        tf.data.Dataset.range(start_step, 2**62)
    ds = ds.map(_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if num_slices > 1 or slice_ids is not None:
        per = batch_size // num_slices
        ids = tf.constant(list(range(num_slices)) if slice_ids is None else list(slice_ids), tf.int32)

        def _split(x, y, s):
            def pick(t):
                t = tf.reshape(t, tf.concat([[num_slices, per], tf.shape(t)[1:]], 0))
                return tf.gather(t, ids)
            return tf.data.Dataset.from_tensor_slices((pick(x), pick(y), pick(s)))

        ds = ds.flat_map(_split)
    if not with_scale:
        ds = ds.map(lambda x, y, s: (x, y))
    opts = tf.data.Options()
    opts.deterministic = True
    ds = ds.with_options(opts)
    return ds.prefetch(tf.data.AUTOTUNE)
