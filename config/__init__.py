"""Project configuration: settings, URLs, ASGI, Dramatiq and Channels wiring."""
