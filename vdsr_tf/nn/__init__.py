"""The network and its weights: the Keras VDSR (``model``), weight files and the bundled sets
(``weights``), the TensorFlow twins of the core's Matlab numerics (``matlab_tf``), and
TensorFlow's start-up without its log lines (``quiet``)."""
