"""Create the demo account and the demo project of real spheroid images (safe to re-run)."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.accounts import api as accounts_api
from apps.images import api, services
from apps.images.contracts import Role

DEMO_PROJECT = "Demo spheroids"
DEMO_DIR = Path(settings.BASE_DIR) / "demo" / "spheroids"


class Command(BaseCommand):
    help = "Create the demo account and demo project (idempotent)."

    def handle(self, *args, **options):
        user, created = accounts_api.ensure_user(
            email=settings.DEMO_USER_EMAIL, password=settings.DEMO_USER_PASSWORD, name="Demo Scientist"
        )
        self.stdout.write(self.style.SUCCESS("Demo account " + ("created" if created else "already present")))

        project = next(
            (s.project for s in api.list_projects_for_user(user_id=user.id)
             if s.role is Role.OWNER and s.project.name == DEMO_PROJECT),
            None,
        )
        if project is None:
            project = api.create_project(
                actor_id=user.id,
                name=DEMO_PROJECT,
                description="Brightfield images of multicellular tumour spheroids (see demo/spheroids/README.md).",
                tags=["demo", "brightfield"],
            )
            self.stdout.write(self.style.SUCCESS(f"Demo project created: {project.id}"))
        else:
            self.stdout.write(f"Demo project already present: {project.id}")

        files = sorted(DEMO_DIR.glob("*.png"))
        inputs = []
        for path in files:
            inputs.append(services.UploadInput(name=path.name, file=path.open("rb"), size=path.stat().st_size))
        try:
            results = services.ingest_files(project_id=project.id, uploaded_by=user.id, files=inputs, source="import")
        finally:
            for item in inputs:
                item.file.close()
        added = sum(1 for r in results if r.accepted)
        for r in results:
            if not r.accepted and r.code != "duplicate":
                self.stderr.write(f"  {r.filename}: {r.detail}")
        self.stdout.write(f"  images: {added} added, {len(results) - added} already there or refused")
        self.stdout.write(f"  e-mail:   {user.email}")
        self.stdout.write(f"  password: {settings.DEMO_USER_PASSWORD}")
