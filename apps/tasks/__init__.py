"""The tasks bounded context (see README.md beside this file)."""
