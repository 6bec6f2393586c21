"""Dramatiq entry module: ``dramatiq config.worker`` (used by ``manage.py rundramatiq``).

Sets up Django, which configures the broker and imports every context's ``actors`` module.
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
