"""Writing an export folder: :class:`ExportConfig` says what, :func:`export_all` does it."""
from __future__ import annotations

import dataclasses
import numbers
import shutil
from pathlib import Path
from typing import Callable, Sequence

from vdsr_tf.core import atomic
from vdsr_tf.core.checks import check_int
from vdsr_tf.export import convert, parity
from vdsr_tf.export import manifest as manifest_mod

__all__ = ["ExportConfig", "export_all"]


def _tuple_of(value, what: str, kind, convert_item=lambda x: x) -> tuple:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{what} must be a sequence, got {type(value).__name__} {value!r}")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, kind):
            raise TypeError(f"{what} must hold {kind.__name__} values, got {item!r} in {value!r}")
    return tuple(convert_item(item) for item in value)


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """What :func:`export_all` writes and measures; checked when made.

    Attributes:
      weights: weights file for :func:`vdsr_tf.nn.weights.load_model`; None: the bundled ones.
      precisions: TFLite precisions of the luminance network
        (:data:`~vdsr_tf.export.convert.LUMA_PRECISIONS`, plus "int16x8" on request).
      e2e_size: (H, W) or "HxW" input of the end-to-end model (stored as (H, W)); None skips it.
      e2e_scale: its scale; e2e_precision: "float32" or "float16".
      tile_size: side T of the static-shape tile models for delegates (``vdsr_tile<T>_*.tflite``,
        :func:`~vdsr_tf.export.convert.build_tile_model`); None skips them.
      tile_precisions: their precisions (:data:`~vdsr_tf.export.convert.TILE_PRECISIONS`).
      calibration_data: HR training image folder(s) for int8 calibration (synthetic if None).
      calibration_count, calibration_size: how many calibration patches, and their side.
      test_data: benchmark folder for the measurements (synthetic if None), at ``scales``.
      int8_float_layers: layers the "int8" file keeps in float32
        (see :data:`~vdsr_tf.export.convert.INT8_FLOAT_LAYERS`).
      measure_parity: False skips the measurements (e.g. for a quick benchmark export).
    """

    weights: object = None
    precisions: Sequence[str] = convert.LUMA_PRECISIONS
    e2e_size: tuple[int, int] | str | None = (256, 256)
    e2e_scale: float = 2.0
    e2e_precision: str = "float32"
    tile_size: int | None = 256
    tile_precisions: Sequence[str] = convert.TILE_PRECISIONS
    calibration_data: object = None
    calibration_count: int = 240
    calibration_size: int = 64
    test_data: object = None
    scales: Sequence[int] = parity.DEFAULT_SCALES
    int8_float_layers: Sequence[str] = convert.INT8_FLOAT_LAYERS
    measure_parity: bool = True

    def __post_init__(self):
        from vdsr_tf.infer.upscaler import check_scale

        precisions = _tuple_of(self.precisions, "precisions", str)
        for p in precisions:
            convert.check_precision(p, convert.LUMA_PRECISIONS + convert.EXTRA_PRECISIONS)
        convert.check_precision(self.e2e_precision, convert.E2E_PRECISIONS)
        set_ = lambda name, value: object.__setattr__(self, name, value)  # frozen: normalise once
        set_("precisions", precisions)
        tile_precisions = _tuple_of(self.tile_precisions, "tile_precisions", str)
        for p in tile_precisions:
            if p not in convert.TILE_PRECISIONS:
                raise ValueError(f"tile_precisions must be among {convert.TILE_PRECISIONS}, got {p!r}")
        set_("tile_precisions", tile_precisions)
        if self.tile_size is not None:  # (more than two halos: export_tile_tflite checks it)
            set_("tile_size", check_int(self.tile_size, "tile_size", 3))
        set_("e2e_size", None if self.e2e_size is None else convert.parse_size(self.e2e_size))
        set_("e2e_scale", check_scale(self.e2e_scale))
        set_("scales", _tuple_of(self.scales, "scales", numbers.Integral, int))
        set_("int8_float_layers", _tuple_of(self.int8_float_layers, "int8_float_layers", str))
        for name in ("calibration_count", "calibration_size"):
            set_(name, check_int(getattr(self, name), name, 1))


def export_all(out_dir, config: ExportConfig | None = None, *,
               progress: Callable[[str], None] | None = None, **fields) -> dict:
    """Writes the SavedModel, the TFLite files and manifest.json into ``out_dir``.

    ``out_dir`` is created (after the weights are read: a bad weights file leaves nothing);
    other files in it are left alone; when it fails or is interrupted, a folder it created is
    removed again. What is written is
    ``config`` (default :class:`ExportConfig()`), with any ``fields`` of it given as keywords
    replacing its values (``export_all(out, scales=(2,))``). ``progress`` gets one line per
    step. Returns the manifest (also written to ``out_dir/manifest.json``, last, atomically).
    """
    from vdsr_tf.nn import weights as weights_mod

    config = dataclasses.replace(config or ExportConfig(), **fields)
    say = progress or (lambda line: None)
    out_dir = Path(out_dir)
    # The weights are read first: a bad file is refused before the folder exists.
    model = weights_mod.load_model(config.weights)
    if config.tile_size is not None:  # refused before the folder exists, like a bad weights file
        convert.check_tile_size(model, config.tile_size)
    info = manifest_mod.weights_info(config.weights, model)
    say(f"weights: {info['source']} {info['file']} ({info['parameters']} parameters)")
    made = [p for p in (out_dir, *out_dir.parents) if not p.exists()]
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _write(out_dir, config, model, info, say)
    except BaseException:  # a failed or interrupted export leaves no folder it made
        for folder in made:  # out_dir first, then the parents made for it
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _write(out_dir: Path, config: ExportConfig, model, info: dict, say) -> dict:
    from vdsr_tf.data import patches

    sm = convert.export_saved_model(model, out_dir / convert.SAVED_MODEL_DIR)
    say(f"wrote {sm}")
    artifacts = [manifest_mod.saved_model_entry()]
    calibration = None

    def calibration_patches():
        nonlocal calibration
        if calibration is None:
            calibration = patches.calibration_patches(
                config.calibration_data, count=config.calibration_count,
                size=config.calibration_size, scales=config.scales)
            say(f"calibration: {calibration[1]}")
        return calibration[0]

    for precision in config.precisions:
        representative = calibration_patches() if precision in ("int8", "int16x8") else None
        path = out_dir / convert.tflite_filename(precision)
        atomic.write_bytes(path, convert.convert_tflite(sm, precision, representative=representative,
                                                        float_layers=config.int8_float_layers))
        say(f"wrote {path}")
        artifacts.append(manifest_mod.tflite_entry(path, precision, config.int8_float_layers))
    if config.tile_size is not None and config.tile_precisions:
        representative = calibration_patches() if "int8" in config.tile_precisions else None
        paths = convert.export_tile_tflite(model, out_dir, config.tile_size, config.tile_precisions,
                                           representative=representative, float_layers=config.int8_float_layers)
        for precision, path in zip(config.tile_precisions, paths):
            say(f"wrote {path}")
            artifacts.append(manifest_mod.tile_entry(path, config.tile_size, precision,
                                                     config.int8_float_layers))
    if config.e2e_size is not None:
        path = out_dir / convert.e2e_filename(config.e2e_size, config.e2e_scale)
        convert.export_e2e_tflite(model, path, config.e2e_size, config.e2e_scale,
                                  precision=config.e2e_precision)
        say(f"wrote {path}")
        artifacts.append(manifest_mod.e2e_entry(path, config.e2e_size, config.e2e_scale,
                                                config.e2e_precision))
    manifest_mod.finish_entries(out_dir, artifacts, info["file"])
    manifest = manifest_mod.new_manifest(info, calibration[1] if calibration else None,
                                         parity.LIMITS, artifacts)
    if config.measure_parity:
        data_name, results = parity.measure_and_check(out_dir, manifest, model, config.test_data,
                                                      config.scales, say)
        for art, m, ok, reason in results:
            art["measured"] = dict(m, data=data_name, passed=ok, summary=reason)
    atomic.write_json(out_dir / manifest_mod.MANIFEST, manifest)
    say(f"wrote {out_dir / manifest_mod.MANIFEST}")
    return manifest
