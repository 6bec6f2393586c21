"""The images bounded context (see README.md beside this file)."""
