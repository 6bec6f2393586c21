"""Public events of the accounts context."""
