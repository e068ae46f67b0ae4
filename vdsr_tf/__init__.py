"""vdsr_tf: VDSR super-resolution (Kim et al., CVPR 2016) on TensorFlow/Keras 3.

    import vdsr_tf
    big = vdsr_tf.super_resolve("photo.png", 2)      # PIL image, numpy array or path

The public names load on first use, so ``import vdsr_tf`` (and ``vdsr-tf --help``) does not
pay for, or print, TensorFlow's start-up until a name that needs it is touched.
"""
import importlib

_PUBLIC = {
    "Upscaler": "vdsr_tf.infer.upscaler",
    "bicubic_upscale": "vdsr_tf.infer.upscaler",
    "build_vdsr": "vdsr_tf.nn.model",
    "evaluate": "vdsr_tf.evaluation.scoring",
    "load_model": "vdsr_tf.nn.weights",
    "psnr": "vdsr_tf.core.metrics",
    "ssim": "vdsr_tf.core.metrics",
    "super_resolve": "vdsr_tf.infer.upscaler",
}
__all__ = sorted(_PUBLIC)
__version__ = "0.1.0"


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vdsr_tf' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
