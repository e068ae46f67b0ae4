"""vdsr_tf: VDSR super-resolution (Kim et al., CVPR 2016) on TensorFlow/Keras 3.

    import vdsr_tf
    big = vdsr_tf.super_resolve("photo.png", 2)      # PIL image, numpy array or path
"""
from vdsr_tf.evaluation import evaluate
from vdsr_tf.inference import bicubic_upscale, super_resolve
from vdsr_tf.metrics import psnr, ssim
from vdsr_tf.model import build_vdsr
from vdsr_tf.weights import load_model

__all__ = [
    "bicubic_upscale",
    "build_vdsr",
    "evaluate",
    "load_model",
    "psnr",
    "ssim",
    "super_resolve",
]
__version__ = "0.1.0"
