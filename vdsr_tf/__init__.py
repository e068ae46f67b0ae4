"""vdsr_tf: VDSR super-resolution on TensorFlow/Keras 3."""
from vdsr_tf.model import build_vdsr

__all__ = ["build_vdsr"]
__version__ = "0.1.0"
