"""State owned by the images context."""
