"""Public api of the audit context."""
