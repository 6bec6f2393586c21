"""Django admin of the tasks context."""
