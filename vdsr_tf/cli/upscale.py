"""``vdsr-tf upscale``: super-resolves image files.

``vdsr-tf upscale IN... -o OUT --scale S [--weights F] [--fast] [--ensemble] [--overwrite | --skip-existing]
[--fail-fast] [--tile N]``

* IN: image files, folders (their image files, not recursive) and glob patterns
  (``'photos/*.jpg'``, ``'**'`` recursive).
* OUT: a folder (created if missing) when there are several inputs, a folder or glob is
  given, OUT exists as a folder or ends with a slash; otherwise the output file for the one
  input. Outputs keep the input's file name (``--ext`` changes the extension).
* Inputs are never written; an output that exists is refused unless ``--overwrite`` (replace
  it) or ``--skip-existing`` (leave it and skip its input: resumes an interrupted batch), and
  an output that *is* an input is always refused. All of this is checked before any work.
* A file that fails (unreadable, unsupported, too large: its declared size is checked before
  it is decoded) is reported and the batch goes on; the failures are listed at the end and
  the exit status is 1. ``--fail-fast`` stops at the first one instead.
* Each output is written atomically (temp file + rename): no partial files, even on errors,
  Ctrl-C or SIGTERM; temporaries left by a ``kill -9`` are removed when that output is
  written again. Progress goes to stderr, one line per file, and on a terminal a tile
  counter while a big image runs.
* Exit status: 0 on success, 1 on an error (one line on stderr, no traceback; files
  finished before it are complete) or when any file of a batch failed, 2 on a usage error,
  130 when interrupted (Ctrl-C), 143 when terminated (SIGTERM).
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
import time

__all__ = ["run"]


DEFAULT_QUALITY = 95
"""JPEG/WebP output quality unless --quality says otherwise."""


class UsageError(Exception):
    """A command line that cannot be run (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + message
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _number(text: str) -> float:  # the range is upscaler.check_scale's
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"scale must be a number, got {text!r}") from None


def _quality(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"quality must be an integer from 1 to 100, got {text!r}") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"quality must be from 1 to 100, got {value}")
    return value


def _tile(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"tile must be an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"tile must be >= 0 (0 = whole image), got {value}")
    from vdsr_tf.infer import upscaler  # numpy only

    try:  # at the smallest halo any model has: refused here, before TensorFlow loads
        upscaler.check_tile(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return value


def _build_parser(prog: str) -> argparse.ArgumentParser:
    from vdsr_tf.infer import upscaler  # numpy only: TensorFlow loads later, once a model is needed

    up = _Parser(
        prog=prog, description="Super-resolve images with VDSR. Inputs are never modified; outputs are "
        "written atomically and existing ones are kept unless --overwrite.")
    up.add_argument("inputs", nargs="+", metavar="IN",
                    help="image files, folders or glob patterns (quote them)")
    up.add_argument("-o", "--output", required=True, metavar="OUT",
                    help="output folder, or output file for a single input")
    up.add_argument("-s", "--scale", required=True, type=_number, metavar="S",
                    help="upscaling factor, 1 to 8, fractional allowed (e.g. 2.5)")
    up.add_argument("-w", "--weights", metavar="NAME|FILE", default=None,
                    help="paper or jpeg (the bundled sets), or a file (.weights.h5 or MatConvNet "
                    ".mat; .tflite or a SavedModel folder with --backend); default: chosen per "
                    "picture (jpeg for JPEG files up to a measured quality, paper otherwise)")
    up.add_argument("--backend", choices=upscaler.BACKENDS, default="keras",
                    help="how to run the network (default: keras); tflite without --weights runs the "
                    "bundled sets' float32 TFLite models")
    up.add_argument("--precision", choices=upscaler.PRECISION_CHOICES, default="float32",
                    help="keras backend: bfloat16 is ~0.02 dB lower PSNR and 1.9x or 0.65x the speed "
                    "depending on the CPU; auto times both once on this CPU and keeps the faster "
                    "(default: float32)")
    up.add_argument("--fast", action="store_true",
                    help="run the bundled int8 TFLite model of the chosen set: about 3x faster, "
                    "a few hundredths of a dB lower (README has the figures)")
    up.add_argument("--ensemble", action="store_true",
                    help="VDSR+: run the network on the 8 flips and rotations and average them; "
                    "8x the time for a slightly better picture (README has the measured gain)")
    up.add_argument("--bicubic", action="store_true",
                    help="Matlab bicubic only, no network (the paper's baseline)")
    up.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    up.add_argument("--skip-existing", action="store_true",
                    help="leave existing outputs and skip their inputs (resume a batch)")
    up.add_argument("--fail-fast", action="store_true",
                    help="stop at the first file that fails (default: go on, list failures at the end)")
    up.add_argument("--tile", type=_tile, default=None, metavar="N",
                    help=f"tile side in output pixels (0 = whole image; default: {upscaler.DEFAULT_TILE})")
    up.add_argument("--quality", type=_quality, default=None, metavar="Q",
                    help=f"JPEG/WebP output quality, 1-100 (default: {DEFAULT_QUALITY}); other formats are lossless")
    up.add_argument("--ext", default=None, metavar="EXT",
                    help="output extension for folder outputs, e.g. png (default: the input's)")
    up.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    return up


def _readable_extensions() -> set[str]:
    from PIL import Image

    return {ext.lower() for ext in Image.registered_extensions()}


def _expand_inputs(patterns: list[str]) -> tuple[list[str], bool]:
    """Files named by the patterns, in order, without duplicates; and whether any pattern
    was a folder or a glob (then the output must be a folder)."""
    exts = _readable_extensions()
    files: list[str] = []
    many = False
    for pattern in patterns:
        if os.path.isdir(pattern):
            many = True
            found = sorted(os.path.join(pattern, f) for f in os.listdir(pattern)
                           if not f.startswith(".")
                           and os.path.splitext(f)[1].lower() in exts
                           and os.path.isfile(os.path.join(pattern, f)))
            if not found:
                raise ValueError(f"folder {pattern!r} holds no image files")
        elif os.path.exists(pattern):
            found = [pattern]
        elif glob.has_magic(pattern):
            many = True
            found = sorted(f for f in glob.glob(pattern, recursive=True)
                           if os.path.isfile(f) and os.path.splitext(f)[1].lower() in exts)
            if not found:
                raise ValueError(f"no image files match {pattern!r}")
        else:
            raise ValueError(f"input not found: {pattern!r}")
        files.extend(found)
    unique, seen = [], set()
    for f in files:
        key = os.path.realpath(f)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique, many


def _plan(args) -> tuple[list[tuple[str, str]], int]:
    """(input, output) pairs, all checked before anything is computed or written, and how
    many were dropped by --skip-existing."""
    from vdsr_tf.core import imageio

    inputs, many = _expand_inputs(args.inputs)
    out = args.output
    to_folder = many or len(inputs) > 1 or os.path.isdir(out) or out.endswith(("/", os.sep))
    ext = None
    if args.ext is not None:
        if not to_folder:
            raise UsageError("--ext only applies to a folder output; give the output file's "
                             "extension instead")
        ext = "." + args.ext.lstrip(".")
    if to_folder:
        if os.path.exists(out) and not os.path.isdir(out):
            raise ValueError(f"output {out!r} is a file, but {len(inputs)} inputs need a folder")
        if (not os.path.isdir(out) and not out.endswith(("/", os.sep))
                and os.path.splitext(out)[1].lower() in _readable_extensions()):
            # A new folder named like an image is nearly always a mistyped single-file output.
            raise ValueError(f"output {out!r} names an image file, but {len(inputs)} inputs need a folder: give "
                             "a folder (end it with / to make one of that name)")
        pairs = []
        for src in inputs:
            name = os.path.basename(src)
            if ext is not None:
                name = os.path.splitext(name)[0] + ext
            pairs.append((src, os.path.join(out, name)))
    else:
        folder = os.path.dirname(os.path.abspath(out))
        if not os.path.isdir(folder):
            raise ValueError(f"folder of output {out!r} does not exist")
        pairs = [(inputs[0], out)]

    input_keys = {os.path.realpath(src) for src in inputs}
    seen: dict[str, str] = {}
    for src, dst in pairs:
        imageio.writable_extension(dst)
        key = os.path.realpath(dst)
        if key in input_keys:
            raise ValueError(f"output {dst!r} would overwrite an input; choose another output")
        if key in seen:
            raise ValueError(f"inputs {seen[key]!r} and {src!r} would both be written to {dst!r}")
        seen[key] = src
    if args.overwrite and args.skip_existing:
        raise UsageError("--overwrite and --skip-existing contradict each other; pass one")
    if args.ensemble and args.bicubic:
        raise UsageError("--ensemble runs the network several times; --bicubic runs none: pass one")
    if args.fast and args.bicubic:
        raise UsageError("--fast runs the bundled int8 network; --bicubic runs none: pass one")
    if not args.bicubic:  # the library's own rules for these flags, answered before TensorFlow loads
        from vdsr_tf.infer import runtime_choice

        try:
            runtime_choice.plan("fast" if args.fast else "normal", None, args.weights, args.backend, args.precision)
        except ValueError as e:
            raise UsageError(f"--fast: {e}" if args.fast else str(e)) from None
    if args.quality is not None and not any(_lossy(dst) for _, dst in pairs):
        raise UsageError(f"--quality applies to JPEG and WebP outputs; {pairs[0][1]!r} is written losslessly"
                         + (" (as are the others)" if len(pairs) > 1 else ""))
    if not args.overwrite:
        existing = [dst for _, dst in pairs if os.path.lexists(dst)]
        if args.skip_existing:
            return [(src, dst) for src, dst in pairs if not os.path.lexists(dst)], len(existing)
        if existing:
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise ValueError(f"output {existing[0]!r} exists{more}; pass --overwrite to replace, "
                             "or --skip-existing to resume a batch")
    return pairs, 0


def _lossy(path: str) -> bool:
    from vdsr_tf.core import imageio

    return imageio.writable_extension(path) in ("JPEG", "WEBP")  # .jpg, .jpeg, .jfif, .jpe, .webp


def _save_params(path: str, quality: int | None) -> dict:
    return {"quality": DEFAULT_QUALITY if quality is None else quality} if _lossy(path) else {}


def _interactive() -> bool:
    """Whether stderr is a terminal (then a tile counter is redrawn in place)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


_PROGRESS_EVERY_S = 10.0  # off a terminal: at most one tile line per this many seconds


class _TileProgress:
    """The tile counter of one image: redrawn in place on a terminal; elsewhere a line at
    most every ``_PROGRESS_EVERY_S`` seconds, so logs of long runs show life without a line
    per tile."""

    def __init__(self, label: str, interactive: bool):
        self.label, self.interactive, self.every = label, interactive, _PROGRESS_EVERY_S
        self.t0 = self.last = time.perf_counter()
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        if total <= 1:
            return
        now = time.perf_counter()
        spent = now - self.t0
        eta = f", ETA {_duration(spent / done * (total - done))}" if 0 < done < total else ""
        text = f"{self.label} tile {done}/{total} ({spent:.0f} s{eta})"
        if self.interactive:
            print(f"\r{text}\x1b[K", end="", file=sys.stderr, flush=True)
            self.drawn = True
        elif now - self.last >= self.every and done < total:
            print(text, file=sys.stderr, flush=True)
            self.last = now

    def clear(self) -> str:
        """Prefix for the next line: erases a counter drawn in place."""
        return "\r\x1b[K" if self.drawn else ""


def _duration(seconds: float) -> str:
    """12 s, 4m05s, 1h02m."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    return f"{s // 60}m{s % 60:02d}s" if s < 3600 else f"{s // 3600}h{s % 3600 // 60:02d}m"


def _named(src: str, error: BaseException) -> str:
    text = _one_line(error)
    return text if src in text else f"{src}: {text}"


def _upscale_one(args, src: str, dst: str, scale: float, engine, progress):
    from vdsr_tf.core import imageio
    from vdsr_tf.infer import upscaler

    width, height = imageio.image_size(src)  # declared size, checked before decoding
    upscaler.check_output_size(height, width, scale)
    image = imageio.read_pixels(src)
    if args.bicubic:
        result, label = upscaler.bicubic_upscale(image, scale), "bicubic"
    else:
        result, label = engine.run(image, scale, progress=progress, source=src)
    imageio.save_image(result, dst, overwrite=args.overwrite, **_save_params(dst, args.quality))
    size_in = (image.shape[1], image.shape[0]) if hasattr(image, "shape") else image.size
    size_out = (result.shape[1], result.shape[0]) if hasattr(result, "shape") else result.size
    return size_in, size_out, label


def _upscale(args, prog: str) -> int:
    from vdsr_tf.infer import upscaler

    scale = upscaler.check_scale(args.scale)
    pairs, skipped = _plan(args)  # the files first: a refusal or an all-skipped batch needs no TensorFlow
    if skipped and not args.quiet:
        print(f"skipping {skipped} input(s) whose output exists (--skip-existing)", file=sys.stderr)
    if not pairs:
        return 0
    from vdsr_tf.nn import quiet

    quiet.import_tensorflow_quietly()  # _plan has refused any runtime that cannot run
    engine = None
    if not args.bicubic:
        # Built once: the model loads and traces once, and a bad --tile fails here, not per file.
        engine = upscaler.Upscaler(args.weights, backend=args.backend, precision=args.precision,
                                   tile=upscaler.DEFAULT_TILE if args.tile is None else args.tile,
                                   ensemble=args.ensemble, speed="fast" if args.fast else "normal")
    for folder in sorted({os.path.dirname(dst) for _, dst in pairs}):
        if folder:
            os.makedirs(folder, exist_ok=True)  # only now: every check has passed
    total = len(pairs)
    start = time.perf_counter()
    interactive = _interactive()
    failures: list[str] = []
    for i, (src, dst) in enumerate(pairs, start=1):
        t0 = time.perf_counter()
        progress = _TileProgress(f"[{i}/{total}] {src}:", interactive and not args.quiet)
        try:
            (w, h), (ow, oh), label = _upscale_one(args, src, dst, scale, engine,
                                                   None if args.quiet else progress)
        except Exception as e:  # noqa: BLE001 -- one bad file must not end the batch
            if args.fail_fast or total == 1 or os.environ.get("VDSR_TF_DEBUG"):
                raise ValueError(_named(src, e)) from e
            failures.append(_named(src, e))
            print(f"{progress.clear()}[{i}/{total}] FAILED {failures[-1]}", file=sys.stderr, flush=True)
            continue
        if not args.quiet:
            print(f"{progress.clear()}[{i}/{total}] {src} -> {dst} ({w}x{h} -> {ow}x{oh}, weights {label}, "
                  f"{time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
    if failures:
        print(f"{prog}: {len(failures)} of {total} file(s) failed:", file=sys.stderr)
        for line in failures:
            print(f"  {line}", file=sys.stderr)
        return 1
    if not args.quiet and total > 1:
        print(f"done: {total} images in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    if isinstance(error, OSError) and error.strerror and error.filename:
        text = f"{error.strerror}: {error.filename!r}"
    lines = text.splitlines()
    return lines[0] if lines else type(error).__name__


def run(argv: list[str], prog: str = "vdsr-tf upscale") -> int:
    """The command line ``argv`` (after the subcommand); returns the exit status."""
    from vdsr_tf.core import atomic

    parser = _build_parser(prog)
    try:
        # SIGTERM (kill, timeout, container stops) unwinds like Ctrl-C: no temporary is left.
        with atomic.interrupt_on_sigterm():
            return _upscale(parser.parse_args(argv), prog)
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else 0
    except UsageError as e:
        print(f"{prog}: usage error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        terminated = isinstance(e, atomic.Terminated)
        print(f"{prog}: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return e.exit_status if terminated else 130
    except Exception as e:  # noqa: BLE001 -- the CLI promises one line, no traceback
        if os.environ.get("VDSR_TF_DEBUG"):
            raise
        print(f"{prog}: error: {_one_line(e)}", file=sys.stderr)
        return 1
