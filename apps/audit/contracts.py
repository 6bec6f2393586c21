"""The audit context only listens: it exposes nothing other contexts may import."""
