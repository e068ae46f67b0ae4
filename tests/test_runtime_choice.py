"""vdsr_tf.infer.runtime_choice: which runtime a super_resolve call gets, refused before any
model loads when it cannot run here."""
import pytest

from vdsr_tf.infer import runtime_choice


def test_the_saved_model_backend_is_refused_in_one_line_without_tensorflow(monkeypatch):
    real = runtime_choice.find_spec
    monkeypatch.setattr(runtime_choice, "find_spec", lambda name: None if name == "tensorflow" else real(name))
    with pytest.raises(ValueError, match="TensorFlow is not installed here: install tensorflow, or pass "
                                         "backend='tflite'"):
        runtime_choice.plan("normal", None, "exports/saved_model", "saved_model", "float32")
    monkeypatch.setattr(runtime_choice, "find_spec", real)
    assert runtime_choice.plan("normal", None, "exports/saved_model", "saved_model", "float32").backend == "saved_model"
