"""Training data: pictures to luminance planes and patches, the patch cache and the tf.data
pipeline (``patches``), the per-step sampler with its degradations (``sampling``), and the
compressed luminance archive (``luma_archive``)."""
