"""What runs on a device: numpy and LiteRT only (no TensorFlow, no Keras).

:mod:`vdsr_tf.device.reference` is the reference pipeline an app ports: Matlab YCbCr and
bicubic, a static-shape tile model scheduled with its halo, and the chroma merge.
"""
