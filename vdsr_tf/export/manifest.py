"""The manifest of an export folder: one entry per artefact (file, format, precision,
input/output spec, size, sha256, op counts, the weights it came from), read back and
checked against the files."""
from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

from vdsr_tf.core import integrity, matlab
from vdsr_tf.export import gpu_analyzer
from vdsr_tf.export.convert import SAVED_MODEL_DIR
from vdsr_tf.infer.runtimes import SERVE, SERVE_OUTPUT

__all__ = [
    "MANIFEST",
    "MANIFEST_FORMAT",
    "changed_files",
    "e2e_entry",
    "finish_entries",
    "new_manifest",
    "read_manifest",
    "saved_model_entry",
    "tflite_entry",
    "tile_entry",
    "unlisted_files",
    "weights_info",
]

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "vdsr_tf.exports/1"

_INTERNAL = {
    "float32": "float32 weights and activations",
    "float16": "float16 weights, dequantized to float32 at load; float32 activations",
    "dynamic_int8": "int8 weights (per channel); activations quantized to int8 on the fly per tensor",
    "int8": "int8 weights (per channel) and int8 activations (per tensor, calibrated), except "
            "the layers in float_layers (float32); float32 input/output, QUANTIZE/DEQUANTIZE inside",
    "int16x8": "int8 weights, int16 activations (reference kernels: slow on CPU)",
}


def weights_info(weights, model) -> dict:
    """The manifest's ``weights`` entry: where the reference weights came from, their
    sha256 and the network's shape."""
    from vdsr_tf.nn.weights import BUNDLED_WEIGHTS, PAPER, bundled_name, bundled_weights

    name = PAPER if weights is None else bundled_name(weights)
    if name is not None:
        path, source = bundled_weights(name), "bundled"
    else:
        path, source = Path(weights), "file"
    convs = [l for l in model.layers if l.__class__.__name__ == "Conv2D"]
    return {
        "source": source,
        **({"name": name} if name is not None else {}),  # which bundled set ("paper", "jpeg")
        "file": path.name,
        # The bundled file is named relative to the package's parent, so the manifest does not
        # carry this machine's paths.
        "path": (path.resolve().relative_to(BUNDLED_WEIGHTS.parents[2]).as_posix()
                 if source == "bundled" else str(path.resolve())),
        "sha256": integrity.sha256(path),
        "depth": len(convs),
        "filters": int(convs[0].filters) if convs else None,
        "parameters": int(model.count_params()),
    }


def _luma_spec(shape) -> list[dict]:
    return [{"name": "input", "shape": shape, "dtype": "float32", "range": [0.0, 1.0],
             "meaning": "Matlab-bicubic-upscaled Matlab YCbCr luminance (Y/255)"}]


def _luma_out(shape) -> list[dict]:
    return [{"name": SERVE_OUTPUT, "shape": shape, "dtype": "float32", "range": "about [0, 1], unclipped",
             "meaning": "super-resolved luminance; clip to [0, 1] before x255"}]


def _tflite_model(path: Path):
    from vdsr_tf.infer import runtimes

    # verify=False: the files are read before their manifest exists (it is written last).
    return runtimes.TFLiteModel(path, num_threads=1, verify=False)


def _op_counts(path: Path) -> dict[str, int]:
    from ai_edge_litert.interpreter import Interpreter

    from vdsr_tf.device.litert import op_counts

    return op_counts(Interpreter(model_path=str(path), num_threads=1))


def saved_model_entry() -> dict:
    """The entry of ``saved_model/`` (see :func:`vdsr_tf.export.convert.export_saved_model`)."""
    return {
        "name": "saved_model", "kind": "luma", "file": SAVED_MODEL_DIR, "format": "tf_saved_model",
        "precision": "float32", "signature": SERVE,
        "inputs": _luma_spec([-1, -1, -1, 1]), "outputs": _luma_out([-1, -1, -1, 1]),
        "internal": _INTERNAL["float32"],
    }


def tflite_entry(path: Path, precision: str, float_layers=()) -> dict:
    """The entry of a luminance TFLite file, its shapes read from the file."""
    signature = list(_tflite_model(path).shape_signature)
    entry = {
        "name": f"tflite_{precision}", "kind": "luma", "file": path.name, "format": "tflite",
        "precision": precision, "inputs": _luma_spec(signature),
        "outputs": _luma_out(signature), "internal": _INTERNAL[precision],
    }
    if precision == "int8":
        entry["float_layers"] = list(float_layers)
    return entry


def tile_entry(path: Path, tile: int, precision: str, float_layers=()) -> dict:
    """The entry of a static tile model (:func:`vdsr_tf.export.convert.build_tile_model`)."""
    from vdsr_tf.device.reference import TileModel

    shape = [1, int(tile), int(tile), 1]
    entry = {
        "name": f"tile{tile}_{precision}", "kind": "tile", "file": path.name, "format": "tflite",
        "precision": precision, "signature": SERVE, "tile": int(tile), "halo": TileModel(path, num_threads=1).halo,
        "inputs": _luma_spec(shape) + [{
            "name": "mask", "shape": shape, "dtype": "float32", "range": [0.0, 1.0],
            "meaning": "1 on the picture, 0 where the tile reaches past it (input 0 there too)"}],
        "outputs": _luma_out(shape),
        "internal": _INTERNAL[precision] + "; every hidden layer's output multiplied by the mask",
        "schedule": "tiles T - 2 * halo apart, each keeping its middle: vdsr_tf.device.reference",
    }
    if precision == "int8":
        entry["float_layers"] = list(float_layers)
    return entry


def e2e_entry(path: Path, size: tuple[int, int], scale: float, precision: str) -> dict:
    """The entry of the end-to-end model for ``size`` (H, W) at ``scale``."""
    out_hw = [matlab.output_length(size[0], scale), matlab.output_length(size[1], scale)]
    return {
        "name": "tflite_e2e", "kind": "e2e", "file": path.name, "format": "tflite",
        "precision": precision, "scale": float(scale),
        "inputs": [{"name": "input", "shape": [1, size[0], size[1], 3], "dtype": "uint8",
                    "range": [0, 255], "meaning": "RGB picture (the low-resolution image)"}],
        "outputs": [{"name": "output", "shape": [1] + out_hw + [3], "dtype": "uint8",
                     "range": [0, 255],
                     "meaning": f"RGB picture super-resolved x{scale:g} (VDSR on Matlab Y, "
                                "Matlab bicubic chroma)"}],
        "internal": _INTERNAL[precision] + "; Matlab YCbCr and bicubic as float32 ops",
    }


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def finish_entries(out_dir: Path, artifacts: list[dict], weights_file: str) -> None:
    """Adds what is read from the written files to each entry: size, sha256, TFLite op counts and
    what the GPU delegate would meet (:func:`vdsr_tf.export.gpu_analyzer.delegate_report`)."""
    for art in artifacts:
        path = out_dir / art["file"]
        art["size_bytes"] = _size(path)
        art["sha256"] = integrity.sha256(path)
        if art["format"] == "tflite":
            art["ops"] = _op_counts(path)
            art["gpu_delegate"] = gpu_analyzer.delegate_report(path)
        art["weights"] = weights_file


def _versions() -> dict:
    import keras
    import tensorflow as tf

    import vdsr_tf

    try:
        from importlib.metadata import version

        litert = version("ai-edge-litert")
    except Exception:  # not installed as a distribution
        litert = None
    return {"vdsr_tf": vdsr_tf.__version__, "tensorflow": tf.__version__,
            "keras": keras.__version__, "ai_edge_litert": litert}


def new_manifest(info: dict, calibration: str | None, limits: dict, artifacts: list[dict]) -> dict:
    """The manifest of a freshly written folder (creation time, library versions)."""
    return {
        "format": MANIFEST_FORMAT,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
        "weights": info,
        "calibration": calibration,
        "limits": dict(limits),
        "artifacts": artifacts,
    }


_ENTRY_KEYS = ("name", "file", "kind", "format", "precision")  # what verify reads of every entry
_REEXPORT = "re-export the folder with tools/export.py"


def read_manifest(out_dir) -> dict:
    """Reads and sanity-checks ``out_dir/manifest.json``.

    One-line ValueError when it is not JSON or not this library's manifest, lists no
    artefacts, has an entry without one of ``name``, ``file``, ``kind``, ``format``,
    ``precision`` (or two entries of one name or file), or names a file that is absolute or
    lies outside ``out_dir`` (``..``, or a link leading out): an export's files lie inside
    its folder, and nothing else is ever read or hashed.
    """
    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"no {MANIFEST} in {str(Path(out_dir))!r}: run tools/export.py first")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{str(path)!r} is not valid JSON: {e}") from e
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT or "artifacts" not in manifest:
        raise ValueError(f"{str(path)!r} is not a {MANIFEST_FORMAT} manifest")
    artifacts = manifest["artifacts"]
    if not isinstance(artifacts, list) or not artifacts:
        raise ValueError(f"{str(path)!r} lists no artefacts: it vouches for nothing; {_REEXPORT}")
    root = Path(out_dir).resolve()
    seen = {"name": set(), "file": set()}
    for i, art in enumerate(artifacts, start=1):
        if not isinstance(art, dict):
            raise ValueError(f"{str(path)!r}: artefact {i} is not an object; {_REEXPORT}")
        for key in _ENTRY_KEYS:
            if not isinstance(art.get(key), str) or not art[key]:
                raise ValueError(f"{str(path)!r}: artefact {i} has no {key!r}; {_REEXPORT}")
        for key in ("name", "file"):
            if art[key] in seen[key]:
                raise ValueError(f"{str(path)!r}: two artefacts have the {key} {art[key]!r}; {_REEXPORT}")
            seen[key].add(art[key])
        file = art["file"]
        if Path(file).is_absolute():
            raise ValueError(f"{str(path)!r}: artefact {art['name']!r} names the absolute path {file!r}; "
                             f"an export's files lie inside its folder: {_REEXPORT}")
        inside = (root / file).resolve()
        if inside == root or root not in inside.parents:
            raise ValueError(f"{str(path)!r}: artefact {art['name']!r} names {file!r}, which is not inside "
                             f"the export folder; an export's files lie inside it: {_REEXPORT}")
    return manifest


def _is_document(name: str) -> bool:
    return name.upper().startswith(("README", "LICENSE")) or name.lower().endswith((".md", ".txt", ".rst"))


def unlisted_files(out_dir, manifest: dict) -> list[str]:
    """Names in ``out_dir`` that its manifest does not list, sorted: what an export folder
    must not hold. Not counted: manifest.json, hidden names (temporaries of a writer at work),
    documents (README*, LICENSE*, *.md, *.txt, *.rst) and sub-folders with a manifest of their own."""
    listed = {Path(art["file"]).parts[0] for art in manifest["artifacts"]}
    # A folder holding its own manifest is another export (exports/jpeg/ inside exports/),
    # vouched for by that manifest and verified on its own.
    return sorted(name for name in os.listdir(out_dir)
                  if name != MANIFEST and not name.startswith(".") and not _is_document(name)
                  and name not in listed and not os.path.isfile(os.path.join(out_dir, name, MANIFEST)))


def changed_files(out_dir, manifest: dict) -> dict[str, str]:
    """{artefact name: why} for every artefact missing or whose sha256 differs from the manifest's."""
    out_dir = Path(out_dir)
    changed = {}
    for art in manifest["artifacts"]:
        path = out_dir / art["file"]
        if not path.exists():
            changed[art["name"]] = "FILE MISSING"
            continue
        sha = integrity.sha256(path)
        if sha != art.get("sha256"):
            changed[art["name"]] = (f"FILE CHANGED since export: sha256 {sha[:12]}... "
                                    f"differs from the manifest's {str(art.get('sha256'))[:12]}...")
    return changed
