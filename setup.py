"""Packaging for vdsr_tf: VDSR super-resolution on TensorFlow/Keras 3."""
from setuptools import find_packages, setup

setup(
    name="vdsr_tf",
    version="0.1.0",
    description="VDSR (Kim et al., CVPR 2016) super-resolution on TensorFlow/Keras 3, "
    "with Matlab-exact resize/colour/metrics and TFLite export",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["vdsr_tf", "vdsr_tf.*"]),
    package_data={"vdsr_tf": ["weights/*.h5", "weights/*.json", "weights/*.tflite"]},
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.0",
        "numpy>=1.24",
        "pillow>=9.0",
        "absl-py>=1.0",
        "ai-edge-litert>=1.0",
        # Only to read the authors' MatConvNet .mat weights (MAT v5).
        "scipy>=1.9",
        "h5py>=3.0",
        # 16-bit RGB/RGBA images, which Pillow decodes to 8 bits: TIFF in and out (tifffile)
        # and PNG in and out (imagecodecs' libpng); see BUILD_NOTES.md, "16-bit colour".
        "tifffile>=2023.1",
        "imagecodecs>=2023.1",
    ],
    extras_require={
        # jax: the JAX training path and its parity tests (tests/test_train_jax.py).
        # ruff is pinned so that a new release's rules cannot fail CI on code nobody changed.
        "test": ["pytest>=7", "matplotlib>=3.5", "jax[cpu]>=0.4.30", "ruff==0.17.6"],
        "jax": ["jax>=0.4.30"],
        "plot": ["matplotlib>=3.5"],
        # train: what README's training section promises besides the run itself: the
        # validation plot (val_psnr.png, matplotlib) and the TensorBoard viewer of the run's logs.
        "train": ["matplotlib>=3.5", "tensorboard>=2.16"],
    },
    entry_points={"console_scripts": ["vdsr-tf=vdsr_tf.cli:main"]},
)
