"""vdsr_tf: VDSR super-resolution (Kim et al., CVPR 2016) on TensorFlow/Keras 3.

    import vdsr_tf
    big = vdsr_tf.super_resolve("photo.png", 2)      # PIL image, numpy array or path

The public names load on first use, so ``import vdsr_tf`` (and ``vdsr-tf --help``) does not
pay for, or print, TensorFlow's start-up until a name that needs it is touched.
"""
from vdsr_tf.core.lazy import lazy_names

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


__getattr__, __dir__ = lazy_names(__name__, _PUBLIC)
