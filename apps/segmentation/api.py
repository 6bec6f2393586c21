"""Public api of the segmentation context."""
