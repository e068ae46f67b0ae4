"""The vdsr-tf command line: inputs, outputs, refusals, exit codes, no partial files."""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from vdsr_tf import build_vdsr
from vdsr_tf.cli import main


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    import keras

    keras.utils.set_random_seed(1)
    path = tmp_path_factory.mktemp("w") / "tiny.weights.h5"
    build_vdsr(depth=3, filters=8).save_weights(path)
    return str(path)


def picture(path, size=(10, 8), mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr).convert(mode).save(path)
    return str(path)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    return code, err


def no_temp_files(folder):
    return not [p for p in os.listdir(folder) if p.endswith(".tmp")]


def snapshot(folder):
    return {p: open(os.path.join(folder, p), "rb").read() for p in sorted(os.listdir(folder))}


def test_single_file_to_file(tmp_path, capsys, weights):
    src = picture(tmp_path / "a.png")
    before = open(src, "rb").read()
    code, err = run(capsys, "upscale", src, "-o", tmp_path / "big.png", "--scale", 2,
                    "--weights", weights)
    assert code == 0, err
    assert Image.open(tmp_path / "big.png").size == (20, 16)
    assert open(src, "rb").read() == before
    assert "[1/1]" in err and "10x8 -> 20x16" in err


def test_folder_and_glob_to_folder(tmp_path, capsys, weights):
    src = tmp_path / "in"
    src.mkdir()
    for i, name in enumerate(["a.png", "b.png", "c.bmp"]):
        picture(src / name, seed=i)
    (src / "readme.txt").write_text("not an image")
    before = snapshot(src)
    out = tmp_path / "out"
    code, err = run(capsys, "upscale", src, "-o", out, "-s", 2.5, "-w", weights)
    assert code == 0, err
    assert sorted(os.listdir(out)) == ["a.png", "b.png", "c.bmp"]
    assert Image.open(out / "c.bmp").size == (25, 20)
    assert "[3/3]" in err and "done: 3 images" in err
    assert snapshot(src) == before

    out2 = tmp_path / "out2"
    code, err = run(capsys, "upscale", str(src / "*.png"), "-o", out2, "-s", 2, "-w", weights,
                    "--ext", "webp", "--tile", 0)
    assert code == 0, err
    assert sorted(os.listdir(out2)) == ["a.webp", "b.webp"]


def test_refuses_overwrite_then_allows(tmp_path, capsys, weights):
    src = picture(tmp_path / "a.png")
    dst = tmp_path / "out.png"
    dst.write_bytes(b"precious")
    code, err = run(capsys, "upscale", src, "-o", dst, "-s", 2, "-w", weights)
    assert code == 1 and "exists" in err and "--overwrite" in err
    assert len(err.strip().splitlines()) == 1
    assert dst.read_bytes() == b"precious"
    code, err = run(capsys, "upscale", src, "-o", dst, "-s", 2, "-w", weights, "--overwrite")
    assert code == 0, err
    assert Image.open(dst).size == (20, 16)


def test_refuses_writing_over_input_even_with_overwrite(tmp_path, capsys, weights):
    src = picture(tmp_path / "a.png")
    before = open(src, "rb").read()
    for target in (src, tmp_path):  # the file itself, or its folder (same name)
        code, err = run(capsys, "upscale", src, "-o", target, "-s", 2, "-w", weights,
                        "--overwrite")
        assert code == 1 and "overwrite an input" in err
    assert open(src, "rb").read() == before


def test_any_existing_output_stops_before_work(tmp_path, capsys, weights):
    src = tmp_path / "in"
    src.mkdir()
    picture(src / "a.png")
    picture(src / "b.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.png").write_bytes(b"old")
    code, err = run(capsys, "upscale", src, "-o", out, "-s", 2, "-w", weights)
    assert code == 1 and "b.png" in err
    assert sorted(os.listdir(out)) == ["b.png"]  # a.png was not written either


def test_bad_file_in_batch_no_partial_output(tmp_path, capsys, weights):
    src = tmp_path / "in"
    src.mkdir()
    picture(src / "a.png", size=(40, 40))
    data = (src / "a.png").read_bytes()
    (src / "b.png").write_bytes(data[: len(data) // 2])  # truncated
    out = tmp_path / "out"
    code, err = run(capsys, "upscale", src, "-o", out, "-s", 2, "-w", weights)
    assert code == 1
    assert "b.png" in err and "truncated" in err and "Traceback" not in err
    assert os.listdir(out) == ["a.png"]  # finished before the error, complete
    assert Image.open(out / "a.png").size == (80, 80)
    assert no_temp_files(out)


@pytest.mark.parametrize("argv, code, message", [
    (["upscale", "{missing}", "-o", "{out}", "-s", "2"], 1, "input not found"),
    (["upscale", "{dir}/*.jpg", "-o", "{out}", "-s", "2"], 1, "no image files match"),
    (["upscale", "{src}", "-o", "{out}", "-s", "0.5"], 1, "scale must be >= 1"),
    (["upscale", "{src}", "-o", "{out}", "-s", "nan"], 1, "finite"),
    (["upscale", "{src}", "-o", "{out}", "-s", "100"], 1, "scale must be <= 8"),
    (["upscale", "{src}", "-o", "{out}", "-s", "two"], 2, "scale must be a number"),
    (["upscale", "{src}", "-o", "{out}"], 2, "--scale"),
    (["upscale", "{src}", "-o", "{out}", "-s", "2", "--tile", "-3"], 2, "tile"),
    (["upscale", "{src}", "-o", "{out}", "-s", "2", "--tile", "12"], 2, "tile must be None/0 (whole image) or >= 80"),
    (["upscale", "{src}", "-o", "{dir}/x.foo", "-s", "2"], 1, "extension"),
    (["upscale", "{src}", "-o", "{dir}/nowhere/x.png", "-s", "2"], 1, "does not exist"),
    (["upscale", "{src}", "{src2}", "-o", "{src}", "-s", "2"], 1, "need a folder"),
    (["upscale", "{src}", "-o", "{out}", "-s", "2", "--weights", "{missing}"], 1, "not found"),
    (["frobnicate"], 2, "unknown command 'frobnicate'"),
])
def test_errors_are_one_line(tmp_path, capsys, weights, argv, code, message):
    names = {"missing": tmp_path / "missing.png", "out": tmp_path / "o.png", "dir": tmp_path,
             "src": picture(tmp_path / "a.png"), "src2": picture(tmp_path / "b.png")}
    argv = [a.format(**names) for a in argv]
    if "--weights" not in argv and argv[0] == "upscale":
        argv += ["--weights", weights]
    before = snapshot(tmp_path)
    got, err = run(capsys, *argv)
    assert got == code, err
    assert message in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vdsr-tf upscale: " if argv[0] == "upscale" else "vdsr-tf: ")
    assert snapshot(tmp_path) == before  # nothing written, nothing touched


def test_unsupported_mode_names_file(tmp_path, capsys, weights):
    src = tmp_path / "print.jpg"
    Image.new("CMYK", (6, 6)).save(src)
    code, err = run(capsys, "upscale", src, "-o", tmp_path / "o.png", "-s", 2, "-w", weights)
    assert code == 1 and "print.jpg" in err and "CMYK" in err
    assert not (tmp_path / "o.png").exists()


def test_bicubic_needs_no_weights(tmp_path, capsys):
    src = picture(tmp_path / "a.png", mode="L")
    code, err = run(capsys, "upscale", src, "-o", tmp_path / "b.png", "-s", 3, "--bicubic", "-q")
    assert code == 0 and err == ""
    out = Image.open(tmp_path / "b.png")
    assert out.mode == "L" and out.size == (30, 24)


def test_console_entry_point_subprocess(tmp_path):
    # The real process: exit status and a single stderr line (no traceback) on error.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-m", "vdsr_tf.cli", "upscale", str(tmp_path / "x.png"),
                           "-o", str(tmp_path / "y.png"), "-s", "2"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1
    assert "vdsr-tf upscale: error: input not found" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_weights_creates_no_output_folder(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    picture(src / "a.png")
    code, err = run(capsys, "upscale", src, "-o", tmp_path / "new", "-s", 2,
                    "-w", tmp_path / "none.weights.h5")
    assert code == 1 and "not found" in err
    assert not (tmp_path / "new").exists()


# ----------------------------------------------------------------------------- batches

def batch_with_a_bad_file(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    picture(src / "a.png", size=(12, 10))
    data = open(picture(src / "b.png", size=(40, 40)), "rb").read()
    (src / "b.png").write_bytes(data[: len(data) // 2])  # truncated
    picture(src / "c.png", size=(12, 10), seed=2)
    return src, tmp_path / "out"


def test_batch_goes_on_past_a_bad_file_and_lists_it(tmp_path, capsys, weights):
    src, out = batch_with_a_bad_file(tmp_path)
    code, err = run(capsys, "upscale", src, "-o", out, "-s", 2, "-w", weights)
    assert code == 1 and "Traceback" not in err
    assert sorted(os.listdir(out)) == ["a.png", "c.png"]  # c.png was done after the failure
    summary = err[err.index("1 of 3 file(s) failed"):]
    assert "b.png" in summary and "truncated" in summary
    assert no_temp_files(out)


def test_fail_fast_stops_at_the_first_bad_file(tmp_path, capsys, weights):
    src, out = batch_with_a_bad_file(tmp_path)
    code, err = run(capsys, "upscale", src, "-o", out, "-s", 2, "-w", weights, "--fail-fast")
    assert code == 1 and "b.png" in err
    assert os.listdir(out) == ["a.png"]
    assert err.strip().splitlines()[-1].startswith("vdsr-tf upscale: error: ")


def test_skip_existing_resumes_a_batch(tmp_path, capsys, weights):
    src, out = batch_with_a_bad_file(tmp_path)
    run(capsys, "upscale", src, "-o", out, "-s", 2, "-w", weights)
    done = snapshot(out)
    picture(src / "b.png", size=(40, 40))  # the bad file is fixed
    code, err = run(capsys, "upscale", src, "-o", out, "-s", 2, "-w", weights)
    assert code == 1 and "--skip-existing" in err  # a plain rerun refuses, naming the way out
    code, err = run(capsys, "upscale", src, "-o", out, "-s", 2, "-w", weights, "--skip-existing")
    assert code == 0, err
    assert "skipping 2" in err and "b.png ->" in err and "a.png ->" not in err
    after = snapshot(out)
    assert sorted(after) == ["a.png", "b.png", "c.png"]
    assert all(after[k] == v for k, v in done.items())  # finished outputs untouched
    code, err = run(capsys, "upscale", src, "-o", out, "-s", 2, "--skip-existing", "--overwrite",
                    "-w", weights)
    assert code == 2 and "contradict" in err


def test_tile_counter_for_a_big_image(tmp_path, capsys, weights, monkeypatch):
    from vdsr_tf.cli import upscale as cli

    monkeypatch.setattr(cli, "_interactive", lambda: True)
    src = picture(tmp_path / "a.png", size=(60, 60))
    code, err = run(capsys, "upscale", src, "-o", tmp_path / "b.png", "-s", 2, "-w", weights,
                    "--tile", 80)
    assert code == 0, err
    assert "tile 1/4" in err and "tile 4/4" in err  # 120x120 output in 80-pixel tiles: 2x2
    assert err.rstrip().endswith("s)") and "a.png -> " in err


def test_tile_lines_off_a_terminal_are_throttled(tmp_path, capsys, weights, monkeypatch):
    from vdsr_tf.cli import upscale as cli

    monkeypatch.setattr(cli, "_interactive", lambda: False)
    src = picture(tmp_path / "a.png", size=(60, 60))
    code, err = run(capsys, "upscale", src, "-o", tmp_path / "b.png", "-s", 2, "-w", weights, "--tile", 80)
    assert code == 0 and ": tile " not in err and "\r" not in err  # a fast image: one line only
    monkeypatch.setattr(cli, "_PROGRESS_EVERY_S", 0.0)
    code, err = run(capsys, "upscale", src, "-o", tmp_path / "c.png", "-s", 2, "-w", weights, "--tile", 80)
    assert code == 0 and "\r" not in err
    assert [line.split(": ")[1].split(" (")[0] for line in err.splitlines() if ": tile " in line] == \
        ["tile 1/4", "tile 2/4", "tile 3/4"]  # the last tile is followed by the file's own line


def test_declared_size_refused_before_decoding_in_one_line(tmp_path):
    # A real process: Pillow's DecompressionBombWarning would print itself and its source line.
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    big = tmp_path / "huge.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 12000, 9000, 8, 0, 0, 0, 0))
                    + chunk(b"IDAT", zlib.compress(b"\0" * 12001 * 4)))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-m", "vdsr_tf.cli", "upscale", str(big), "-o",
                           str(tmp_path / "out.png"), "-s", "2", "--bicubic"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "output would be 18000x24000" in lines[0], proc.stderr
    assert not (tmp_path / "out.png").exists()


def test_sigterm_during_a_write_leaves_no_temporary(tmp_path):
    src = picture(tmp_path / "a.png", size=(16, 16))
    script = (
        "import os, signal, sys, time\n"
        "from PIL import Image\n"
        "from vdsr_tf import cli\n"
        "real = Image.Image.save\n"
        "def slow(self, fp, *a, **k):\n"
        "    fp.write(b'partial' * 1000); fp.flush()\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    time.sleep(30)\n"
        "Image.Image.save = slow\n"
        "sys.exit(cli.main(sys.argv[1:]))\n")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", script, "upscale", src, "-o", str(tmp_path / "b.png"),
                           "-s", "2", "--bicubic"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 143, proc.stderr
    assert proc.stderr.strip() == "vdsr-tf upscale: terminated"
    assert sorted(os.listdir(tmp_path)) == ["a.png"]  # no output, no hidden temporary


@pytest.mark.parametrize("output", ["y.png", "y.JPG", "out/y.webp"])
def test_several_inputs_to_a_file_like_output_are_refused(tmp_path, capsys, output):
    """`upscale a.jpg b.png -o y.png` was a folder called y.png/; a real folder of that name,
    or one asked for with a trailing slash, still takes them."""
    a, b = picture(tmp_path / "a.png"), picture(tmp_path / "b.png", seed=1)
    (tmp_path / "out").mkdir()
    code, err = run(capsys, "upscale", a, b, "-o", tmp_path / output, "-s", 2, "--bicubic")
    assert code == 1 and err.count("\n") == 1, err
    assert "names an image file, but 2 inputs need a folder" in err
    assert not (tmp_path / output).exists()
    code, err = run(capsys, "upscale", a, b, "-o", f"{tmp_path / output}/", "-s", 2, "--bicubic")
    assert code == 0, err
    assert sorted(os.listdir(tmp_path / output)) == ["a.png", "b.png"]


def test_refusals_and_an_all_skipped_batch_import_no_tensorflow(tmp_path):
    """The files are checked before TensorFlow loads (it took 4.7 s of a 4.7 s refusal)."""
    src = picture(tmp_path / "a.png")
    (tmp_path / "a_x2.png").write_bytes(b"")
    (tmp_path / "o").mkdir()
    picture(tmp_path / "o" / "a.png")
    code = (
        "import sys\n"
        "from vdsr_tf.cli import main\n"
        f"refused = main(['upscale', {src!r}, '-o', {str(tmp_path / 'a_x2.png')!r}, '-s', '2'])\n"
        f"skipped = main(['upscale', {src!r}, '-o', {str(tmp_path / 'o') + '/'!r}, '-s', '2', '--skip-existing'])\n"
        f"small_tile = main(['upscale', {src!r}, '-o', {str(tmp_path / 'b.png')!r}, '-s', '2', '--tile', '10'])\n"
        f"no_model = main(['upscale', {src!r}, '-o', {str(tmp_path / 'c.png')!r}, '-s', '2', '--backend', "
        "'saved_model'])\n"
        "print(refused, skipped, small_tile, no_model, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["1", "0", "2", "2", "False", "False"], done.stderr[-2000:]
    assert "backend='saved_model' needs weights=<path to the exported model>" in done.stderr
    assert "exists; pass --overwrite" in done.stderr and "skipping 1 input(s)" in done.stderr
