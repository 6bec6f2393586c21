"""Public api of the images context."""
