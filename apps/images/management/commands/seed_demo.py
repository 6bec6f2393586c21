"""Create the demo account and the demo project of real spheroid images (safe to re-run)."""

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.accounts import api as accounts_api


class Command(BaseCommand):
    help = "Create the demo account and demo project (idempotent)."

    def handle(self, *args, **options):
        user, created = accounts_api.ensure_user(
            email=settings.DEMO_USER_EMAIL, password=settings.DEMO_USER_PASSWORD, name="Demo Scientist"
        )
        self.stdout.write(self.style.SUCCESS("Demo account " + ("created" if created else "already present")))
        self.stdout.write(f"  e-mail:   {user.email}")
        self.stdout.write(f"  password: {settings.DEMO_USER_PASSWORD}")
