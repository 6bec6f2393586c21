"""Image decoding, validation and thumbnails (through ml.io, the one image reader)."""
