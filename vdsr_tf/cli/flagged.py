"""Runs the absl-flag subcommands (train, evaluate, export, verify, bench): one entry point
for ``vdsr-tf <command>`` and for the ``tools/`` script of the same job."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

__all__ = ["plain_log_lines", "run", "shared_data", "use_keras_backend"]


def shared_data(*parts: str) -> str:
    """A path under ``../shared/data`` beside this checkout (the project's training and
    benchmark data), for the defaults of flags that name data. Installed outside a checkout,
    the path does not exist and each command treats the data as absent."""
    return str(Path(__file__).resolve().parents[2].parent.joinpath("shared", "data", *parts))


def use_keras_backend(name: str) -> None:
    """Points Keras at ``name`` ("tensorflow" or "jax"). Keras picks its backend once, when
    first imported, so this comes before anything imports keras. UsageError when the package
    is not installed."""
    import importlib.util

    from absl import app

    os.environ["KERAS_BACKEND"] = name
    if importlib.util.find_spec(name) is None:
        raise app.UsageError(f"--backend {name} needs the {name} package, which is not installed")


class _Clock(logging.Formatter):
    """``12:04:31 message``; warnings and errors also name their level."""

    def __init__(self):
        super().__init__("%(asctime)s %(message)s", "%H:%M:%S")

    def formatMessage(self, record):
        level = f"{record.levelname}: " if record.levelno >= logging.WARNING else ""
        return f"{record.asctime} {level}{record.message}"


def plain_log_lines(level: int = logging.INFO) -> None:
    """The package's log lines at ``level`` and up, each as the time and the message (absl's
    default prefix, ``I1206 16:41:47.365268 140586559015808 metering.py:166]``, is for debugging);
    other libraries' only from WARNING up (TensorFlow's SavedModel writer talks at INFO)."""
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.WARNING)
    logging.getLogger("vdsr_tf").setLevel(level)
    absl_logging.get_absl_handler().setFormatter(_Clock())


_HELP = ("-h", "--help", "--helpshort", "--helpfull")


def _help(module: str, prog: str) -> str:
    from absl import flags

    doc = (sys.modules[module].__doc__ or "").strip()
    return f"usage: {prog} [flags]\n\n{doc}\n\nflags:\n{flags.FLAGS.module_help(module)}\n"


def run(main, argv: list[str], prog: str, *, signals: bool = True) -> int:
    """Parses ``argv`` into absl's flags, then calls ``main(argv, prog=prog)``; returns its exit status.

    ``prog`` starts every line the command prints about itself ("vdsr-tf train: error: ...").
    ``--help`` prints the command's docs and flags (exit 0). A bad flag or an ``app.UsageError``
    is one line on stderr, exit 2, before anything heavy is imported. ``signals``: SIGTERM
    unwinds like Ctrl-C and either ends in one line, exit 130 or 143
    (core.atomic.exits_cleanly_on_signals); off for a command with its own handlers.
    """
    from absl import app, flags

    from vdsr_tf.core import atomic

    if any(a in _HELP for a in argv[: argv.index("--") if "--" in argv else len(argv)]):
        print(_help(main.__module__, prog), end="")
        return 0
    try:  # absl's own parse error is two lines and a "FATAL"
        flags.FLAGS([prog, *argv])
    except flags.Error as e:
        print(f"{prog}: usage error: {e} (see '{prog} --help')", file=sys.stderr)
        return 2
    flags.FLAGS.unparse_flags()  # app.run parses again; a repeated flag would count twice

    def target(args):
        try:
            return main(args, prog=prog)
        except app.UsageError as e:
            print(f"{prog}: usage error: {e} (see '{prog} --help')", file=sys.stderr)
            return 2

    if signals:
        target = atomic.exits_cleanly_on_signals(target, prog)
    try:
        app.run(target, argv=[prog, *argv])
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0
