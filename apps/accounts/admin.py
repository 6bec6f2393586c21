"""Django admin of the accounts context."""
