"""Adapter to the segmentation engine in ml/ (the only segmentation module that imports ml)."""
