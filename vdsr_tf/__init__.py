"""vdsr_tf: VDSR super-resolution (Kim et al., CVPR 2016) on TensorFlow/Keras 3.

    import vdsr_tf
    big = vdsr_tf.super_resolve("photo.png", 2)      # PIL image, numpy array or path

The public names load on first use, so ``import vdsr_tf`` (and ``vdsr-tf --help``) does not
pay for TensorFlow's start-up until a name that needs it is touched, and then it starts
without printing its C++ start-up lines (:mod:`vdsr_tf.nn.quiet`).
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


_NEED_TENSORFLOW = {"Upscaler", "build_vdsr", "evaluate", "load_model", "super_resolve"}


def _start(name: str) -> None:
    if name in _NEED_TENSORFLOW:  # TensorFlow's start-up lines would land on the caller's stderr
        from vdsr_tf.nn.quiet import import_tensorflow_quietly

        import_tensorflow_quietly()


__getattr__, __dir__ = lazy_names(__name__, _PUBLIC, before=_start)
