"""The accounts bounded context (see README.md beside this file)."""
