"""One command line: ``vdsr-tf upscale|train|evaluate|export|verify|bench`` and ``--version``,
the same entry points as the tools/ scripts, refusals before TensorFlow, and a package copied
away from the checkout running on its own."""
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vdsr_tf
from vdsr_tf.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]
ABSL_COMMANDS = [name for name in COMMANDS if name != "upscale"]
HEAVY = ("tensorflow", "keras", "jax")
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")

# Runs main() on sys.argv[1:] and reports whether TensorFlow, Keras or JAX were imported.
_DRIVER = ("import json, sys\n"
           "from vdsr_tf.cli import main\n"
           "code = main(sys.argv[1:])\n"
           f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
           "print(json.dumps([code, heavy]))\n")


def _drive(*argv, cwd=None, env=ENV):
    proc = subprocess.run([sys.executable, "-c", _DRIVER, *map(str, argv)], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env=env)
    code, heavy = json.loads(proc.stdout.strip().splitlines()[-1])
    return code, heavy, proc


def test_version_is_the_installed_distribution(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"vdsr-tf {vdsr_tf.__version__}"
    assert importlib.metadata.version("vdsr_tf") == vdsr_tf.__version__  # setup.py and the package agree


def test_help_names_every_command_and_each_module_has_run(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name, (module, text) in COMMANDS.items():
        assert f"  {name} " in out and text in out
        # Read, not imported: the absl commands' flags share one registry, a process each.
        source = Path(importlib.util.find_spec(module).origin).read_text()
        assert "\ndef run(argv: list[str], prog: str = " in source
    assert main([]) == 2 and "give a command" in capsys.readouterr().err


@pytest.mark.parametrize("command", ABSL_COMMANDS)
def test_absl_commands_help_and_refuse_bad_flags_before_tensorflow(command):
    code, heavy, proc = _drive(command, "--help")
    assert code == 0 and heavy == [], proc.stderr
    assert proc.stdout.startswith(f"usage: vdsr-tf {command} [flags]") and f"vdsr_tf.cli.{command}:" in proc.stdout
    code, heavy, proc = _drive(command, "--no_such_flag=1")
    assert code == 2 and heavy == []
    assert proc.stderr.strip().splitlines() == [
        f"vdsr-tf {command}: usage error: Unknown command line flag 'no_such_flag' (see 'vdsr-tf {command} --help')"]


def test_refusals_that_need_no_model_import_no_tensorflow(tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("x")
    cases = [
        (["export", f"--out={full}"], 1, "exists and is not empty"),
        (["verify"], 2, "give one export folder"),
        (["bench", "--sections=nope"], 2, "unknown sections"),
        (["train", f"--workdir={full / 'keep.txt'}", f"--data={tmp_path}"], 1, "is a file, not a folder"),
    ]
    for argv, want, message in cases:
        code, heavy, proc = _drive(*argv)
        lines = proc.stderr.strip().splitlines()
        assert (code, heavy) == (want, []), (argv, proc.stderr)
        assert len(lines) == 1 and lines[0].startswith(f"vdsr-tf {argv[0]}: ") and message in lines[0], argv
    assert sorted(os.listdir(full)) == ["keep.txt"]


def test_console_script_and_tool_shims_are_the_same_entry_points(tmp_path):
    script = Path(sys.executable).with_name("vdsr-tf")
    if not script.exists():
        pytest.skip("the package is not installed with its console script in this environment")
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == f"vdsr-tf {vdsr_tf.__version__}"
    for tool, command, prog in [("evaluate", "evaluate", "evaluate"), ("benchmark", "bench", "benchmark"),
                                ("verify_export", "verify", "verify_export"), ("export", "export", "export")]:
        proc = subprocess.run([sys.executable, str(ROOT / "tools" / f"{tool}.py"), "--no_such_flag=1"],
                              capture_output=True, text=True, timeout=60, env=ENV)
        assert proc.returncode == 2 and proc.stderr.startswith(f"{prog}: usage error: Unknown command line flag")
        shim = (ROOT / "tools" / f"{tool}.py").read_text()
        assert f"from vdsr_tf.cli import {command}\n" in shim and len(shim.splitlines()) < 15  # thin


def test_the_package_runs_outside_a_checkout(tmp_path):
    """A copy of the package alone (no tools/, no ../shared beside it) evaluates from another folder."""
    site = tmp_path / "site"
    shutil.copytree(ROOT / "vdsr_tf", site / "vdsr_tf", ignore=shutil.ignore_patterns("__pycache__"))
    data = tmp_path / "pictures"
    data.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(data / "a.png")
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = dict(ENV, PYTHONPATH=str(site))
    code, _, proc = _drive("evaluate", f"--data={data}", "--scales=2", "--weights=bicubic", "--json=rows.json",
                           cwd=work, env=env)
    assert code == 0, proc.stderr
    rows = json.loads((work / "rows.json").read_text())
    assert [(r["dataset"], r["scale"], r["method"]) for r in rows] == [("pictures", 2, "bicubic")]
    code, _, proc = _drive("train", f"--workdir={work / 'run'}", cwd=work, env=env)
    # No ../shared/data beside the copied package: the default data is absent, and it says so.
    assert code == 1 and "no --data given" in proc.stderr and not (work / "run").exists()
    code, _, proc = _drive("--version", cwd=work, env=env)
    assert code == 0 and str(site) in subprocess.run(
        [sys.executable, "-c", "import vdsr_tf; print(vdsr_tf.__file__)"], capture_output=True, text=True,
        cwd=work, env=env).stdout
