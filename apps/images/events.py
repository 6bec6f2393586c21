"""Public events of the images context."""
