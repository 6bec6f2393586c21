"""State owned by the audit context."""
