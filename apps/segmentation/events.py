"""Public events of the segmentation context."""
