"""State owned by the segmentation context."""
