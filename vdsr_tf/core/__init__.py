"""The core: numpy and Pillow only, no TensorFlow, Keras or JAX (tests/test_layers.py holds it).

Matlab numerics (``matlab``), picture files in and out (``imageio``), PSNR/SSIM (``metrics``),
the JPEG degradation (``degradation``), argument checks (``checks``), one-line error text
(``errors``), atomic writes and signals (``atomic``), file hashes (``integrity``), values cached
per file version (``filecache``) and lazily loaded package names (``lazy``).
"""
