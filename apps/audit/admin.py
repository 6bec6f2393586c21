"""Django admin of the audit context."""
