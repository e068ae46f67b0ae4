"""The network and its weights: the Keras VDSR (``model``), weight files and the bundled sets
(``weights``), and the TensorFlow twins of the core's Matlab numerics (``matlab_tf``)."""
