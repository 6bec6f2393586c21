"""Django admin of the images context."""
