"""State owned by the tasks context."""
