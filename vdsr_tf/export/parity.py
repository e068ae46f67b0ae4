"""Parity of exported files with the Keras model: measurement, the limits, and re-verification."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from vdsr_tf.device.reference import TilePredictor
from vdsr_tf.export.images import fit_to, measurement_images
from vdsr_tf.export.manifest import MANIFEST, changed_files, read_manifest, unlisted_files

__all__ = ["DEFAULT_SCALES", "LIMITS", "check", "measure", "verify"]

DEFAULT_SCALES = (2, 3, 4)

LIMITS = {
    "max_abs_diff": 1e-4,     # SavedModel and float32 TFLite vs Keras, on [0, 1] luminance
    "float16_psnr_drop": 0.02,  # dB
    "int8_psnr_drop_target": 0.2,  # dB, reported (target), not a failure
    "int8_psnr_drop_broken": 1.0,  # dB, beyond this an int8 file is treated as broken
    "e2e_levels": 1,           # grey levels ...
    "e2e_fraction": 0.999,     # ... on at least this fraction of the pixels
    "arm64_psnr_drop": 0.02,   # dB, aarch64 LiteRT vs x86 on the same inputs (quantised files;
                               # float32 files: max_abs_diff above)
}


class _Recorder:
    """Wraps a predictor and keeps the last output (super_resolve calls it once per image)."""

    def __init__(self, predictor):
        self.predictor = predictor
        self.receptive_radius = getattr(predictor, "receptive_radius", None)
        self.description = getattr(predictor, "description", None)  # errors name the artefact
        self.output = None

    def __call__(self, x):
        self.output = np.asarray(self.predictor(x), np.float32)
        return self.output


def _mean_by_scale(values: dict[int, list[float]]) -> dict[str, float]:
    return {str(s): float(np.mean(v)) for s, v in sorted(values.items())}


def _run_luma(predictor, images) -> tuple[dict[int, list[float]], list[np.ndarray]]:
    """Protocol PSNR per scale of ``predictor`` on ``images`` (whole-image super_resolve),
    and the network's output on each."""
    from vdsr_tf.core import metrics
    from vdsr_tf.infer import upscaler

    psnrs: dict[int, list[float]] = {}
    outputs = []
    for s, name, hr, lr in images:
        rec = _Recorder(predictor)
        sr = upscaler.super_resolve(lr, s, model=rec, tile=None)
        psnrs.setdefault(s, []).append(metrics.score(sr, hr, shave=s)[0])
        outputs.append(rec.output)
    return psnrs, outputs


def measure(out_dir, manifest: dict, model, images, *, progress: Callable[[str], None] | None = None) -> dict:
    """Runs every artefact of ``manifest`` on ``images`` next to the Keras ``model``.

    Luminance and tile artefacts go through :func:`vdsr_tf.super_resolve` whole-image
    (``model=`` the artefact's predictor; a tile model tiles the picture itself), so the PSNR
    is the protocol's (Y of the uint8 RGB result, shave = scale); the network outputs are compared with Keras'
    on the same inputs (max |diff| on [0, 1]). The end-to-end model runs on each LR
    image cropped or mirror-padded to its input size, next to ``super_resolve`` with
    Keras on the same uint8 picture.

    Returns {artefact name: measured dict} (an ``error`` key when it could not run).
    """
    from vdsr_tf.infer import runtimes, upscaler

    say = progress or (lambda line: None)
    out_dir = Path(out_dir)
    keras_pred = upscaler.KerasPredictor(model)
    keras_psnr, refs = _run_luma(keras_pred, images)
    ref_psnr = _mean_by_scale(keras_psnr)
    say(f"keras: PSNR {_fmt_scales(ref_psnr)}")
    results = {}
    for art in manifest["artifacts"]:
        path = out_dir / art["file"]
        try:
            if art["kind"] == "e2e":
                results[art["name"]] = _measure_e2e(path, art, keras_pred, images)
            else:
                if art["kind"] == "tile":  # the reference device pipeline's tiling, inside
                    predictor = TilePredictor(path)
                else:
                    backend = "saved_model" if art["format"] == "tf_saved_model" else "tflite"
                    # verify=False: the exporter measures files it has just written (their
                    # manifest comes last), and verify() has checked every hash before this.
                    predictor = runtimes.get_predictor(backend, path, verify=False)
                psnrs, outputs = _run_luma(predictor, images)
                diff = max(float(np.max(np.abs(out - ref))) for out, ref in zip(outputs, refs))
                art_psnr = _mean_by_scale(psnrs)
                drops = {s: ref_psnr[s] - art_psnr[s] for s in art_psnr}
                results[art["name"]] = {
                    "max_abs_diff": diff,
                    "psnr": art_psnr,
                    "psnr_keras": ref_psnr,
                    "psnr_drop": float(np.mean(list(drops.values()))),
                    "psnr_drop_worst_scale": float(max(drops.values())),
                }
        except Exception as e:  # a damaged file must be reported, not crash the check
            results[art["name"]] = {"error": f"{type(e).__name__}: {e}"}
        say(f"{art['name']}: {_describe(results[art['name']])}")
    return results


def _measure_e2e(path: Path, art: dict, keras_pred, images) -> dict:
    from vdsr_tf.infer import runtimes, upscaler

    size = tuple(art["inputs"][0]["shape"][1:3])
    scale = float(art["scale"])
    e2e = runtimes.TFLiteModel(path, verify=False)
    within, total, worst = 0, 0, 0
    # The LR pictures made for the model's own scale when there are some, else all of them.
    own = [im for im in images if im[0] == scale] or list(images)
    for s, name, hr, lr in own:
        img = fit_to(lr, size)
        out = e2e(img[None])[0].astype(np.int16)
        ref = upscaler.super_resolve(img, scale, model=keras_pred, tile=None).astype(np.int16)
        if out.shape != ref.shape:
            raise ValueError(f"end-to-end output {out.shape} != super_resolve {ref.shape}")
        d = np.abs(out - ref)
        within += int(np.sum(d <= LIMITS["e2e_levels"]))
        total += d.size
        worst = max(worst, int(d.max()))
    return {"fraction_within_1_level": within / total, "max_abs_diff_levels": worst,
            "images": "LR test pictures cropped/mirror-padded to the input size"}


def _fmt_scales(d: dict) -> str:
    return ", ".join(f"x{s} {v:.3f}" for s, v in d.items())


def _describe(m: dict) -> str:
    if "error" in m:
        return f"ERROR {m['error']}"
    if "fraction_within_1_level" in m:
        return (f"{100 * m['fraction_within_1_level']:.3f}% of pixels within 1 level of "
                f"super_resolve, max {m['max_abs_diff_levels']} levels")
    return (f"max|diff| {m['max_abs_diff']:.2e}, PSNR {_fmt_scales(m['psnr'])}, "
            f"drop {m['psnr_drop']:+.4f} dB (worst scale {m['psnr_drop_worst_scale']:+.4f})")


def check(art: dict, m: dict) -> tuple[bool, str]:
    """Applies :data:`LIMITS` to one artefact's measurement: (passed, reason)."""
    if "error" in m:
        return False, f"could not run: {m['error']}"
    precision = art["precision"]
    if art["kind"] == "e2e":
        ok = m["fraction_within_1_level"] >= LIMITS["e2e_fraction"]
        return ok, (f"{100 * m['fraction_within_1_level']:.3f}% within {LIMITS['e2e_levels']} level "
                    f"(need {100 * LIMITS['e2e_fraction']:.1f}%)")
    if precision == "float32":
        ok = m["max_abs_diff"] <= LIMITS["max_abs_diff"]
        return ok, f"max|diff| {m['max_abs_diff']:.2e} (limit {LIMITS['max_abs_diff']:g})"
    if precision == "float16":
        ok = m["psnr_drop_worst_scale"] <= LIMITS["float16_psnr_drop"]
        return ok, (f"PSNR drop {m['psnr_drop_worst_scale']:+.4f} dB at the worst scale "
                    f"(limit {LIMITS['float16_psnr_drop']} dB)")
    drop = m["psnr_drop"]
    target = "target met" if drop <= LIMITS["int8_psnr_drop_target"] else "ABOVE the target"
    ok = drop <= LIMITS["int8_psnr_drop_broken"]
    return ok, (f"PSNR drop {drop:+.4f} dB ({target} {LIMITS['int8_psnr_drop_target']} dB; "
                f"broken above {LIMITS['int8_psnr_drop_broken']} dB)")


def check_arm64(art: dict, by_cpu: dict) -> tuple[bool, str]:
    """:data:`LIMITS` applied to one file's aarch64 figures (:func:`vdsr_tf.export.arm64.measure`):
    float32 files within ``max_abs_diff`` of x86, the others within ``arm64_psnr_drop`` dB."""
    parts, ok = [], True
    for cpu, m in by_cpu.items():
        if "error" in m:
            ok = False
            parts.append(f"{cpu}: could not run: {m['error']}")
            continue
        if art["precision"] == "float32":
            good = m["max_abs_diff"] <= LIMITS["max_abs_diff"]
        else:
            good = abs(m["psnr_drop"]) <= LIMITS["arm64_psnr_drop"]
        ok = ok and good
        parts.append(f"{cpu}: max|diff| {m['max_abs_diff']:.2e}, drop {m['psnr_drop']:+.4f} dB"
                     + ("" if good else " (BEYOND the limit)"))
    return ok, "arm64 " + "; ".join(parts)


def measure_arm64(out_dir, manifest: dict, test_data, scales, say) -> list[tuple[dict, dict, bool, str]]:
    """Every TFLite file of the folder under emulated aarch64 LiteRT against x86 (slow: minutes),
    with :func:`check_arm64`: one (artefact, figures by cpu, passed, reason) per file."""
    from vdsr_tf.export import arm64

    images, _ = measurement_images(test_data, scales)
    figures = arm64.measure(out_dir, manifest, images, progress=say)
    return [(art, figures[art["name"]], *check_arm64(art, figures[art["name"]]))
            for art in manifest["artifacts"] if art["name"] in figures]


def measure_and_check(out_dir, manifest: dict, model, test_data, scales,
                      say: Callable[[str], None]) -> tuple[str, list[tuple[dict, dict, bool, str]]]:
    """Measures every artefact on ``test_data`` at ``scales`` and applies :func:`check`:
    (data name, one (artefact, measured, passed, reason) per artefact)."""
    images, data_name = measurement_images(test_data, scales)
    say(f"measuring {len(manifest['artifacts'])} artefacts on {data_name} "
        f"at x{'/x'.join(map(str, scales))} ...")
    measured = measure(out_dir, manifest, model, images, progress=say)
    return data_name, [(art, measured[art["name"]], *check(art, measured[art["name"]]))
                       for art in manifest["artifacts"]]


def _reference_model(info: dict, weights):
    """The Keras model ``verify`` compares with, and its sha256 checked against the manifest's."""
    from vdsr_tf.core import integrity
    from vdsr_tf.nn import weights as weights_mod

    if weights is None:
        if info["source"] == "bundled":  # manifests before the JPEG set name no set: the paper one
            name = info.get("name", weights_mod.PAPER)
            weights_path, model = weights_mod.bundled_weights(name), weights_mod.load_model(name)
        else:
            weights_path = Path(info["path"])
            model = weights_mod.load_model(weights_path)
    else:
        weights_path, model = Path(weights), weights_mod.load_model(weights)
    sha = integrity.sha256(weights_path)
    if sha != info["sha256"]:
        raise ValueError(f"reference weights {str(weights_path)!r} (sha256 {sha[:12]}...) are not the "
                         f"weights the exports came from ({info['file']}, sha256 {info['sha256'][:12]}...)")
    return model


def verify(out_dir, *, weights=None, test_data=None, scales: Sequence[int] | None = None,
           arm64: bool = False, progress: Callable[[str], None] | None = None) -> tuple[bool, list[dict]]:
    """Re-measures every artefact listed in ``out_dir/manifest.json`` against Keras.

    Every artefact's sha256 is checked first (seconds): when any differs from the manifest's,
    or the folder holds a file the manifest does not list (:func:`unlisted_files`), nothing
    is measured (minutes) and the result is returned at once, the changed and unlisted files
    failing and the others marked not measured (``passed`` None). A manifest listing nothing,
    or naming a file outside the folder, is refused (ValueError, :func:`read_manifest`).

    Args:
      weights: the reference weights; default: those the manifest names (their sha256
        must match the manifest's, else the comparison would be meaningless).
      test_data: benchmark folder (synthetic images when None or missing).
      scales: integer scales to measure (default 2, 3, 4).
      arm64: also run every TFLite file under emulated aarch64 LiteRT
        (:func:`measure_arm64`; ``tools/arm64_sysroot.sh`` builds what it needs); the rows get
        ``arm64`` (figures by emulated cpu) and fail beyond :data:`LIMITS`.

    Returns (all passed, one row per artefact: name, file, passed, summary, measured,
    changed = the file is missing or its sha256 differs from the manifest's).
    """
    say = progress or (lambda line: None)
    manifest = read_manifest(out_dir)
    changed = changed_files(out_dir, manifest)
    unlisted = unlisted_files(out_dir, manifest)
    if changed or unlisted:
        if changed:
            say(f"{len(changed)} of {len(manifest['artifacts'])} artefacts differ from the manifest: "
                "not measuring")
        if unlisted:
            say(f"{len(unlisted)} files in the folder are not in its {MANIFEST}: not measuring")
        rows = [{"name": art["name"], "file": art["file"], "passed": False if art["name"] in changed else None,
                 "changed": art["name"] in changed,
                 "summary": changed.get(art["name"], "sha256 matches the manifest; not measured"),
                 "measured": None} for art in manifest["artifacts"]]
        rows += [{"name": name, "file": name, "passed": False, "changed": True,
                  "summary": f"NOT IN {MANIFEST}: nothing vouches for it (re-export the folder, or move "
                             "the file out of it)", "measured": None} for name in unlisted]
        return False, rows
    model = _reference_model(manifest["weights"], weights)
    _, results = measure_and_check(out_dir, manifest, model, test_data,
                                   DEFAULT_SCALES if scales is None else scales, say)
    rows = [{"name": art["name"], "file": art["file"], "passed": ok, "changed": False,
             "summary": reason, "measured": m} for art, m, ok, reason in results]
    for row, art in zip(rows, manifest["artifacts"]):
        if art["format"] == "tflite":
            ok, note = delegate_check(Path(out_dir) / art["file"], art)
            row["passed"] = row["passed"] and ok
            row["summary"] += f"; {note}"
    if arm64:
        by_name = {row["name"]: row for row in rows}
        for art, figures, ok, reason in measure_arm64(out_dir, manifest, test_data,
                                                      DEFAULT_SCALES if scales is None else scales, say):
            row = by_name[art["name"]]
            row.update(arm64=figures, arm64_passed=ok, passed=row["passed"] and ok)
            row["summary"] += f"; {reason}"
    return all(row["passed"] for row in rows), rows


def record_arm64(out_dir, rows: list[dict]) -> None:
    """Writes the aarch64 figures of :func:`verify` (``arm64=True``) into the folder's manifest,
    each file's under ``arm64`` with the check's verdict."""
    from vdsr_tf.core import atomic

    manifest = read_manifest(out_dir)
    by_name = {row["name"]: row for row in rows if "arm64" in row}
    for art in manifest["artifacts"]:
        if art["name"] in by_name:
            art["arm64"] = dict(by_name[art["name"]]["arm64"], passed=by_name[art["name"]]["arm64_passed"])
    atomic.write_json(Path(out_dir) / MANIFEST, manifest)


def delegate_check(path: Path, art: dict) -> tuple[bool, str]:
    """What the GPU delegate meets in a TFLite file, checked again: (passed, note). A tile model
    with a dynamic shape fails (it exists for delegates); the analyzer's verdict is reported, and
    when it differs from the one the manifest recorded, that is said."""
    from vdsr_tf.export import gpu_analyzer

    now = gpu_analyzer.delegate_report(path)
    ok = now["static_shapes"] or art["kind"] != "tile"
    shapes = "static shapes" if now["static_shapes"] else f"{now['dynamic_tensors']} dynamic tensors"
    verdict = now["analyzer"]
    if "not_run" in verdict:
        said = "GPU analyzer not run here (tools/gpu_analyzer_env.sh)"
        recorded = (art.get("gpu_delegate") or {}).get("analyzer", {})
        if "compatible" in recorded:
            said += f"; the manifest's: {_analyzer_words(recorded)}"
    else:
        said = f"GPU analyzer: {_analyzer_words(verdict)}"
        recorded = (art.get("gpu_delegate") or {}).get("analyzer")
        if recorded and "compatible" in recorded and recorded["flagged"] != verdict["flagged"]:
            said += " (DIFFERS from the manifest's)"
    return ok, f"{shapes}{'' if ok else ' (FAIL: a tile model must be static)'}; {said}"


def _analyzer_words(verdict: dict) -> str:
    if verdict["compatible"]:
        return "compatible"
    return f"{len(verdict['flagged'])} flagged lines, e.g. {verdict['flagged'][0]!r}" if verdict["flagged"] \
        else "not compatible"
