"""Inference: ``super_resolve``/``Upscaler`` with tiling and colour (``upscaler``), the runtimes
that run the network (Keras, TFLite, SavedModel: ``runtimes``), and which bundled set a picture
gets (``weight_choice``)."""
