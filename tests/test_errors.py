"""vdsr_tf.core.errors.first_line: a reader's error as ``Type: first line`` for one-line messages."""
import os

from vdsr_tf.core.errors import first_line


def test_keeps_the_type_and_the_first_line_only():
    assert first_line(RuntimeError("bad bias type\n  at node 7\n  in subgraph 0")) == "RuntimeError: bad bias type"
    assert first_line(ValueError("\n\n  padded  \nrest")) == "ValueError: padded"
    assert first_line(KeyError()) == "KeyError"  # no text: the type alone, no dangling colon


def test_drops_tensorflow_markers_and_the_folder_the_message_names(tmp_path):
    folder = str(tmp_path / "checkpoints")
    error = OSError("{{function_node __wrapped__RestoreV2}} " + os.path.join(folder, "ckpt-10.index") + " not found")
    assert first_line(error, folder) == "OSError: ckpt-10.index not found"
    assert folder in first_line(error)  # without a folder, paths stay


def test_cuts_a_long_first_line():
    text = first_line(ValueError("x" * 1000))
    assert text == "ValueError: " + "x" * 160
