"""Spheroseg segmentation engine: a pure Python package (PyTorch, OpenCV, NumPy; no Django).

Importing ``ml`` is light: nothing heavy (torch, cv2) is imported here. Use the submodules:

- ``ml.io``       image probing, decoding and normalisation (numpy/Pillow/tifffile only)
- ``ml.metrics``  per-object measurements (one implementation, px and µm)
- ``ml.geometry`` rasterisation and polygon helpers
- ``ml.engine``   ``segment()``, ``list_models()``, ``measure_polygons()``, ``fine_tune()``
"""

__version__ = "1.0.0"
