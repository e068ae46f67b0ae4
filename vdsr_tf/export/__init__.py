"""Deployment artefacts for VDSR: SavedModel, TFLite (four precisions), end-to-end TFLite.

:func:`export_all` writes, into a folder it is given (nothing else is touched):

``saved_model/``
    Keras 3 ``ExportArchive`` with one endpoint/signature ``serve``: input ``input``
    float32 (batch, H, W, 1) bicubic-upscaled Matlab luminance in [0, 1] (H, W dynamic),
    output ``output`` float32, same shape, the super-resolved luminance (unclipped).
``vdsr_float32.tflite``, ``vdsr_float16.tflite``, ``vdsr_dynamic_int8.tflite``, ``vdsr_int8.tflite``
    The same network converted from that SavedModel with the TFLite converter: input
    (1, -1, -1, 1) float32, so ``resize_tensor_input`` gives any size; builtin ops only.
    float16 stores float16 weights (dequantized at load); dynamic_int8 stores int8
    weights and quantizes activations on the fly; int8 is full-integer (int8
    weights per channel and int8 activations calibrated on training patches, see
    :func:`calibration_patches`) with float32 input/output tensors, quantize and
    dequantize inside (see ``INT8_FLOAT_LAYERS`` for the layers kept in float).
``vdsr_tile<T>_float32.tflite``, ``vdsr_tile<T>_float16.tflite``, ``vdsr_tile<T>_int8.tflite``
    The network at one static shape for GPU delegates, NNAPI and NPUs (:func:`build_tile_model`):
    inputs ``input`` and ``mask`` (1, T, T, 1), every hidden layer multiplied by the mask so tiles
    reaching past the picture are exact. :mod:`vdsr_tf.device.reference` schedules them.
``vdsr_e2e_<H>x<W>_x<s>.tflite``
    The whole protocol pipeline for one input size: uint8 RGB (1, H, W, 3) in, uint8 RGB
    (1, ceil(sH), ceil(sW), 3) out. Inside the graph: /255, Matlab ``rgb2ycbcr``
    (:func:`vdsr_tf.core.matlab_tf.rgb2ycbcr_tf`), Matlab bicubic (:func:`vdsr_tf.core.matlab_tf.imresize_tf`
    with static sizes, so its tap tables are constants: GATHER/MUL/ADD), the network on Y,
    ``ycbcr2rgb_tf``, x255, round half up, clip, uint8: what :func:`vdsr_tf.super_resolve`
    computes with float32 network maths.
``manifest.json``
    Per artefact: file, format, precision, input/output spec, size, sha256, op counts, the
    weights it came from, what the GPU delegate meets (static shapes, TensorFlow 2.17's analyzer:
    :mod:`gpu_analyzer`) and the measured parity and PSNR (:func:`measure`).

:func:`verify` re-measures an export folder against the Keras model and applies the
parity limits in :data:`LIMITS`.

The package has a module per job:

``convert``   the SavedModel, TFLite per precision, the tile models and the end-to-end model
              (one archive writer, one converter set-up);
``gpu_analyzer`` GPU-delegate compatibility: static shapes and an analyzer that still checks;
``images``    the pictures measured on (the evaluation's reader, or synthetic ones);
``parity``    measuring every artefact next to Keras, :data:`LIMITS`, :func:`verify`;
``arm64``     the TFLite files with aarch64 LiteRT under qemu-user, next to x86;
``manifest``  the manifest's entries, reading it back, file hashes;
``folder``    :class:`ExportConfig` and :func:`export_all`, which writes a folder;
``bundle``    putting trained weights and an export's TFLite twins into the package, with cards.
"""

from vdsr_tf.export.convert import (
    EXTRA_PRECISIONS,
    INT8_FLOAT_LAYERS,
    LUMA_PRECISIONS,
    SAVED_MODEL_DIR,
    TILE_PRECISIONS,
    build_e2e_function,
    build_tile_model,
    convert_tflite,
    e2e_filename,
    export_e2e_tflite,
    export_saved_model,
    export_tile_tflite,
    parse_size,
    tflite_filename,
    tile_filename,
)
from vdsr_tf.export.folder import ExportConfig, export_all
from vdsr_tf.export.images import measurement_images
from vdsr_tf.export.manifest import MANIFEST, read_manifest
from vdsr_tf.export.parity import LIMITS, check, measure, record_arm64, verify

__all__ = [
    "EXTRA_PRECISIONS",
    "INT8_FLOAT_LAYERS",
    "LIMITS",
    "LUMA_PRECISIONS",
    "MANIFEST",
    "SAVED_MODEL_DIR",
    "TILE_PRECISIONS",
    "ExportConfig",
    "build_e2e_function",
    "build_tile_model",
    "check",
    "convert_tflite",
    "e2e_filename",
    "export_all",
    "export_e2e_tflite",
    "export_saved_model",
    "export_tile_tflite",
    "measure",
    "measurement_images",
    "parse_size",
    "read_manifest",
    "record_arm64",
    "tflite_filename",
    "tile_filename",
    "verify",
]
