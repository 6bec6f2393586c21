"""The segmentation bounded context (see README.md beside this file)."""
