"""GPU-delegate compatibility of a ``.tflite`` file, from a TFLite model analyzer that still checks.

Why this exists: ``tf.lite.experimental.Analyzer.analyze(..., gpu_compatibility=True)`` stopped
checking in TensorFlow 2.18 (PR 74830, issue 77042: the check is "deprecated" but the sentence
"Your model looks compatible with GPU delegate" is still printed, for any model). Our venv's
TensorFlow 2.21 and every ai-edge-litert wheel carry that empty check. TensorFlow 2.17.1's analyzer
still checks each op against the GPU delegate's rules and prints ``GPU COMPATIBILITY WARNING``
lines, so ``tools/gpu_analyzer_env.sh`` installs it in a side venv and :func:`analyze_gpu` runs that
venv's python in a subprocess: our TF 2.21 process never loads a second TensorFlow. Before its
first verdict in a process, :func:`analyze_gpu` makes the analyzer look at a canary model with an
op the GPU delegate lacks (``TOPK_V2``) and raises when that is not flagged, so an analyzer that
silently stopped checking can never report a pass. (CUMSUM is no canary: the GPU delegate
supports it, and 2.17.1 passes it.)

The analyzer judges one op at a time. In a float16 model each CONV_2D takes its weights and bias
from fp16 DEQUANTIZE ops, so it is flagged "Expected 1 or 2 input tensor(s), but node has 3
runtime inputs", although the delegate's partitioner (FP16GraphPartitionHelper in
tensorflow/lite/delegates/utils.h) folds those DEQUANTIZEs into constant fp16 weights.

The analyzer does not look at tensor shapes, but the GPU delegate needs static ones (a model with
(1, -1, -1, 1) inputs is left to the CPU or needs a resize and a rebuild of the delegate per
size): :func:`static_shape_problems` lists the dynamic tensors, with our venv's ai-edge-litert.

The side venv's python runs this same file as its worker (``python -I gpu_analyzer.py analyze
MODEL``, ``canary``, ``selfcheck``), which is why its top-level imports are the standard library
only.
"""
from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

__all__ = ["ANALYZER_ENV", "analyze_gpu", "analyzer_python", "default_venv", "delegate_report",
           "static_shape_problems"]

ANALYZER_ENV = "VDSR_TF_GPU_ANALYZER"
"""Environment variable: the side venv's python executable (or the venv's folder)."""
WARNING = "GPU COMPATIBILITY WARNING"
LOOKS_COMPATIBLE = "looks compatible with GPU delegate"
CANARY_OP = "TOPK_V2"
_TOOL = "vdsr_tf gpu_analyzer tool:"
_OP_LINE = re.compile(r"^\s*Op#\d+\s+([A-Za-z0-9_]+)\(")
_TIMEOUT = 600  # seconds: TensorFlow's import is a few seconds, a large model's dump a few more


def default_venv() -> Path:
    """``gpu-analyzer/`` in the user's cache folder, where ``tools/gpu_analyzer_env.sh`` builds the
    side venv (imported here, not at the top: the side venv runs this file without vdsr_tf)."""
    from vdsr_tf.core.cachedir import cache_dir

    return cache_dir() / "gpu-analyzer"


def analyzer_python(path=None) -> Path | None:
    """The side venv's python: ``path`` (a python or a venv folder), else ``$VDSR_TF_GPU_ANALYZER``,
    else the default venv once the build script finished it; None when it is not there."""
    chosen = path or os.environ.get(ANALYZER_ENV)
    if chosen:
        candidate = Path(chosen)
        if candidate.is_dir():
            candidate = candidate / "bin" / "python"
    else:
        if not (default_venv() / ".complete").is_file():  # a half-built venv is not used
            return None
        candidate = default_venv() / "bin" / "python"
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


def _run(python, *args: str) -> tuple[str, str]:
    """This file as the worker in ``python``; (everything it printed, stdout and stderr, the tool)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")  # TensorFlow's start-up lines, not the analyzer's
    try:
        done = subprocess.run([str(python), "-I", os.path.abspath(__file__), *args], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"GPU analyzer {python} {' '.join(args)}: no answer in {_TIMEOUT} s") from None
    lines = done.stdout.splitlines()
    if done.returncode != 0:
        tail = " | ".join(line.strip() for line in lines[-5:] if line.strip())
        raise RuntimeError(f"GPU analyzer {python} {' '.join(args)} exited {done.returncode}: {tail}")
    tools = [line.split(_TOOL, 1)[1].strip() for line in lines if _TOOL in line]
    if not tools:
        raise RuntimeError(f"GPU analyzer {python} printed no tool line; is it tools/gpu_analyzer_env.sh's venv?")
    return done.stdout, tools[0]


def _verdict(text: str, tool: str) -> dict:
    flagged = [line.strip() for line in text.splitlines() if WARNING in line]
    ops = Counter(m.group(1) for m in map(_OP_LINE.match, text.splitlines()) if m)
    return {"tool": f"{tool} ModelAnalyzer, gpu_compatibility=True",
            "compatible": not flagged and LOOKS_COMPATIBLE in text,
            "flagged": flagged, "ops": dict(ops)}


@functools.lru_cache(maxsize=None)
def _canary_checked(python: str) -> str:
    """Once per process and python: the canary's op must be flagged, else RuntimeError."""
    text, tool = _run(python, "canary")
    verdict = _verdict(text, tool)
    if verdict["compatible"] or not any(CANARY_OP in line for line in verdict["flagged"]):
        raise RuntimeError(
            f"{tool} ModelAnalyzer (python {python}) does not check GPU compatibility: it did not flag "
            f"{CANARY_OP}, an op the GPU delegate lacks (TensorFlow 2.18+ deprecated the check); "
            "build the side venv with tools/gpu_analyzer_env.sh")
    return tool


def analyze_gpu(model_path, *, python=None) -> dict:
    """The GPU-compatibility verdict of TensorFlow 2.17's analyzer on ``model_path``.

    Returns ``{"tool", "compatible", "flagged", "ops"}``: ``flagged`` holds the analyzer's
    ``GPU COMPATIBILITY WARNING`` lines (stripped), ``ops`` the op counts of its ``Op#N NAME(``
    lines, and ``compatible`` is True only when nothing is flagged and the analyzer printed that
    the model looks compatible. Says nothing about shapes (:func:`static_shape_problems`).
    RuntimeError when no side venv is found or its analyzer does not flag the canary; ValueError
    when the analyzer cannot read the file.
    """
    model = Path(model_path)
    if not model.is_file():
        raise FileNotFoundError(f"no TFLite file at {model}")
    found = analyzer_python(python)
    if found is None:
        where = python or os.environ.get(ANALYZER_ENV) or default_venv()
        raise RuntimeError(f"no GPU analyzer python at {where}: run tools/gpu_analyzer_env.sh [DIR]")
    _canary_checked(str(found))
    text, tool = _run(found, "analyze", str(model.resolve()))
    if not re.search(r"^Subgraph#\d", text, re.MULTILINE):  # no graph dump: it could not read the file
        said = " | ".join(line.strip() for line in text.splitlines()
                          if line.strip() and _TOOL not in line and not line.startswith("==="))
        raise ValueError(f"{tool} ModelAnalyzer could not read {model}: {said}")
    return _verdict(text, tool)


def static_shape_problems(model_path) -> list[str]:
    """One line per tensor whose ``shape_signature`` has a -1 (a dynamic dimension), e.g.
    ``T#0 serving_default_input:0 shape_signature [1, -1, -1, 1]`` (``Subgraph#k`` first past
    subgraph 0). Empty: every shape is static, as the GPU delegate needs."""
    from ai_edge_litert.interpreter import Interpreter

    from vdsr_tf.nn.quiet import stderr_silenced

    with stderr_silenced():  # the runtime's INFO line about its CPU delegate
        interpreter = Interpreter(model_path=str(model_path))
    problems, subgraph = [], 0
    while True:
        try:
            details = interpreter.get_tensor_details(subgraph)
        except ValueError:  # past the last subgraph
            break
        prefix = f"Subgraph#{subgraph} " if subgraph else ""
        for d in details:
            signature = [int(n) for n in d.get("shape_signature", d["shape"])]
            if -1 in signature:
                problems.append(f"{prefix}T#{d['index']} {d['name']} shape_signature {signature}")
        subgraph += 1
    return problems


def delegate_report(model_path, *, python=None) -> dict:
    """What the manifest records of a ``.tflite`` file for the GPU delegate: whether every shape
    is static (:func:`static_shape_problems`, counted), and the analyzer's verdict
    (:func:`analyze_gpu`, without its op counts, which the manifest has), or why it did not run."""
    dynamic = static_shape_problems(model_path)
    report = {"static_shapes": not dynamic, "dynamic_tensors": len(dynamic)}
    try:
        verdict = analyze_gpu(model_path, python=python)
        report["analyzer"] = {k: verdict[k] for k in ("tool", "compatible", "flagged")}
    except RuntimeError as e:  # no side venv here, or one whose analyzer does not check
        report["analyzer"] = {"not_run": str(e)}
    return report


# ---- the worker: runs in the side venv's python (TensorFlow 2.17), never in ours ----

def _print_tool() -> None:
    import importlib.metadata as metadata

    import tensorflow as tf

    for dist in ("tensorflow-cpu", "tensorflow"):
        try:
            print(f"{_TOOL} {dist} {metadata.version(dist)}", flush=True)
            return
        except metadata.PackageNotFoundError:
            pass
    print(f"{_TOOL} tensorflow {tf.__version__}", flush=True)


def _analyze(path: str) -> None:
    import tensorflow as tf

    _print_tool()
    tf.lite.experimental.Analyzer.analyze(model_path=path, gpu_compatibility=True)
    sys.stdout.flush()


def _convert(fn, spec) -> bytes:
    import tensorflow as tf

    function = tf.function(fn, input_signature=[spec])
    return tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], function).convert()


def _write_models(folder: Path) -> tuple[Path, Path]:
    """(canary with TOPK_V2, which the GPU delegate lacks; a static CONV_2D + ADD model it runs)."""
    import tensorflow as tf

    canary, plain = folder / "canary_topk.tflite", folder / "conv_add.tflite"
    canary.write_bytes(_convert(lambda x: tf.math.top_k(x, 3).values, tf.TensorSpec([1, 8], tf.float32)))
    kernel = tf.constant(0.1, shape=[3, 3, 1, 1])
    plain.write_bytes(_convert(lambda x: tf.nn.conv2d(x, kernel, 1, "SAME") + x,
                               tf.TensorSpec([1, 8, 8, 1], tf.float32)))
    return canary, plain


def _worker(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "analyze":
        _analyze(argv[1])
        return 0
    if argv == ["canary"]:
        with tempfile.TemporaryDirectory() as tmp:
            _analyze(str(_write_models(Path(tmp))[0]))
        return 0
    if argv == ["selfcheck"]:  # tools/gpu_analyzer_env.sh's proof: canary flagged, plain model passes
        with tempfile.TemporaryDirectory() as tmp:
            _, plain = _write_models(Path(tmp))
            tool = _canary_checked(sys.executable)
            verdict = analyze_gpu(plain, python=sys.executable)
        if not verdict["compatible"] or set(verdict["ops"]) != {"CONV_2D", "ADD"}:
            print(f"selfcheck: the CONV_2D+ADD model did not pass: {verdict}", file=sys.stderr)
            return 1
        print(f"selfcheck: {tool} flags {CANARY_OP} and passes CONV_2D+ADD")
        return 0
    print("usage: gpu_analyzer.py analyze MODEL | canary | selfcheck", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1:]))
