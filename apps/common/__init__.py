"""Shared kernel: request context, event bus, job enqueueing, health, HTTP helpers.

Imports no bounded context (import-linter contract).
"""
