"""Public events of the audit context."""
