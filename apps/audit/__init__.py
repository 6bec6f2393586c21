"""The audit bounded context (see README.md beside this file)."""
