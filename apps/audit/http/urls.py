"""URLs of the audit context: REST under /api/v1/ and server-rendered pages."""

api_urlpatterns: list = []
page_urlpatterns: list = []
