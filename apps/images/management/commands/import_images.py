"""Bulk import of image files or folders into a project, with the same validation as uploads.

    manage.py import_images --project ID PATH [PATH ...] [--as EMAIL] [--segment]

Folders are walked recursively (hidden files skipped). Files already in the project (same
SHA-256) are skipped, so re-running is safe. Exit status 1 when any file was rejected.
"""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from apps.accounts import api as accounts_api
from apps.images import api, services
from apps.images.contracts import AccessDenied, Action, ProjectNotFound


def collect(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += sorted(
                p for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            found.append(path)
        else:
            raise CommandError(f"No such file or folder: {raw}")
    unique: dict[Path, None] = {}
    for p in found:
        unique.setdefault(p.resolve(), None)
    return list(unique)


def _inputs(files: list[Path]):
    for path in files:
        with path.open("rb") as fh:
            yield services.UploadInput(name=path.name, file=fh, size=path.stat().st_size)


class Command(BaseCommand):
    help = "Import image files or folders (recursive) into a project, validating each file like an upload."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="Project id")
        parser.add_argument("paths", nargs="+", metavar="PATH", help="Files or folders")
        parser.add_argument("--as", dest="as_email", default="",
                            help="E-mail of the member who imports (editor or owner); default: the owner")
        parser.add_argument("--segment", action="store_true", help="Queue segmentation of the imported images")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar")

    def handle(self, *args, **options):
        try:
            project = api.get_project(project_id=options["project"])
        except ProjectNotFound:
            raise CommandError(f"No project with id {options['project']}") from None
        actor_id: uuid.UUID = project.owner_id
        if options["as_email"]:
            user = accounts_api.find_user_by_email(email=options["as_email"])
            if user is None:
                raise CommandError(f"No active user with e-mail {options['as_email']}")
            actor_id = user.id
        try:
            api.check_access(user_id=actor_id, project_id=project.id, action=Action.EDIT)
        except (ProjectNotFound, AccessDenied):
            raise CommandError("That user may not add images to this project (editor or owner needed).") from None

        files = collect(options["paths"])
        by_name = iter(files)
        rows: list[tuple[Path, object]] = []
        bar = tqdm(total=len(files), unit="file", disable=options["no_progress"], file=self.stderr._out)

        def on_result(result):
            rows.append((next(by_name), result))
            bar.update(1)

        services.ingest_files(project_id=project.id, uploaded_by=actor_id, files=_inputs(files), source="import",
                              on_result=on_result)
        bar.close()

        accepted = [r for _, r in rows if r.accepted]
        skipped = [(p, r) for p, r in rows if not r.accepted and r.code == "duplicate"]
        rejected = [(p, r) for p, r in rows if not r.accepted and r.code != "duplicate"]
        self.stdout.write(
            f"Project {project.name} ({project.id}): {len(accepted)} imported, "
            f"{len(skipped)} skipped (already in the project), {len(rejected)} rejected, of {len(files)} files."
        )
        for path, result in rejected:
            self.stdout.write(f"  rejected {path}: {result.detail} [{result.code}]")
        if rejected:
            reasons = Counter(r.code for _, r in rejected)
            self.stdout.write("  reasons: " + ", ".join(f"{code} {n}" for code, n in reasons.most_common()))

        if options["segment"] and accepted:
            self._segment(actor_id, [r.image.id for r in accepted])
        if rejected:
            raise CommandError(f"{len(rejected)} file(s) rejected")

    def _segment(self, actor_id, image_ids):
        from apps.segmentation import api as segmentation_api

        request = getattr(segmentation_api, "request_segmentation", None)
        if request is None:
            self.stderr.write("Segmentation is not available in this build; nothing queued.")
            return
        jobs = request(user_id=actor_id, image_ids=image_ids)
        self.stdout.write(f"Queued segmentation of {len(jobs)} image(s).")
