"""Public api of the tasks context."""
