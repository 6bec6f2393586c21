"""Bounded contexts of Spheroseg (see ARCHITECTURE in docs/architecture.md)."""
