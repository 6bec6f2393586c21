"""Public events of the tasks context."""
