"""Django admin of the segmentation context."""
