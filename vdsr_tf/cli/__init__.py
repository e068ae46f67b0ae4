"""The ``vdsr-tf`` command line: one program, one subcommand per job.

    vdsr-tf upscale IN... -o OUT -s S   super-resolve image files
    vdsr-tf train --workdir DIR ...     train a VDSR, or resume the run in DIR
    vdsr-tf evaluate --data DIR ...     PSNR/SSIM tables as the paper's Table 3
    vdsr-tf export --out DIR            SavedModel and TFLite files with measured parity
    vdsr-tf verify DIR                  check an export folder against the Keras model
    vdsr-tf bench --sections=...        speed and memory figures
    vdsr-tf --version

``upscale`` parses with argparse; the others take the absl flags their ``tools/`` scripts
always took (those scripts now call the same modules). A subcommand's module is imported
only when it is chosen, because absl flags live in one process-wide registry, and nothing
here imports TensorFlow: a bad command line is refused in a fraction of a second.
"""
from __future__ import annotations

import importlib
import sys

__all__ = ["COMMANDS", "PROG", "main"]

PROG = "vdsr-tf"

COMMANDS = {
    "upscale": ("vdsr_tf.cli.upscale", "super-resolve image files"),
    "train": ("vdsr_tf.cli.train", "train a VDSR, or resume a run (the model card's command)"),
    "evaluate": ("vdsr_tf.cli.evaluate", "PSNR/SSIM on benchmark folders, as the paper's Table 3"),
    "export": ("vdsr_tf.cli.export", "SavedModel and TFLite files with measured parity"),
    "verify": ("vdsr_tf.cli.verify", "check an export folder against the Keras model"),
    "bench": ("vdsr_tf.cli.bench", "speed and memory figures for BUILD_NOTES.md"),
}
"""Subcommand -> (module with ``run(argv, prog) -> exit status``, one-line help)."""


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: {PROG} COMMAND [ARGS...]   ({PROG} COMMAND --help for its flags)",
             "", "VDSR super-resolution (Kim et al., CVPR 2016).", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "  --version  print the version and exit"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Runs ``vdsr-tf``; returns the exit status (the console script exits with it)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print(f"{PROG}: usage error: give a command: {', '.join(COMMANDS)} (see '{PROG} --help')",
              file=sys.stderr)
        return 2
    first = argv[0]
    if first in ("-h", "--help"):
        print(_usage())
        return 0
    if first == "--version":
        from vdsr_tf import __version__

        print(f"{PROG} {__version__}")
        return 0
    if first not in COMMANDS:
        print(f"{PROG}: usage error: unknown command {first!r}; choose from {', '.join(COMMANDS)} "
              f"(see '{PROG} --help')", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(COMMANDS[first][0])
    except ModuleNotFoundError as e:  # the device install (numpy, Pillow, LiteRT) runs `upscale` only
        print(f"{PROG} {first}: error: needs the full install ({e.name} is not installed): "
              "pip install vdsr_tf, with TensorFlow", file=sys.stderr)
        return 1
    return module.run(argv[1:], prog=f"{PROG} {first}")
