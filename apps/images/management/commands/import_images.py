"""Bulk import of image files or folders into a project, with the same validation as uploads.

    manage.py import_images --project ID PATH [PATH ...] [--as EMAIL] [--segment]

Folders are walked recursively (hidden files skipped). Files already in the project (same
SHA-256) are skipped, so re-running is safe; with ``--segment`` a re-run also queues those of
them that were never segmented (or failed). A file that cannot be read is reported like a
rejected one and the others are still imported. Exit status 1 when any file was rejected.
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


def readable(files: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Split ``files`` into those that can be opened and (path, reason) for the others."""
    ok, unreadable = [], []
    for path in files:
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            unreadable.append((path, exc.strerror or str(exc)))
        else:
            ok.append(path)
    return ok, unreadable


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

        files, unreadable = readable(collect(options["paths"]))
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
        rejected = [(p, r.detail, r.code) for p, r in rows if not r.accepted and r.code != "duplicate"]
        rejected += [(p, f"The file cannot be read: {reason}.", "unreadable") for p, reason in unreadable]
        self.stdout.write(
            f"Project {project.name} ({project.id}): {len(accepted)} imported, "
            f"{len(skipped)} skipped (already in the project), {len(rejected)} rejected, "
            f"of {len(files) + len(unreadable)} files."
        )
        for path, detail, code in rejected:
            self.stdout.write(f"  rejected {path}: {detail} [{code}]")
        if rejected:
            reasons = Counter(code for _, _, code in rejected)
            self.stdout.write("  reasons: " + ", ".join(f"{code} {n}" for code, n in reasons.most_common()))

        if options["segment"]:
            existing = [r.existing_image_id for _, r in skipped if r.existing_image_id]
            self._segment(actor_id, [r.image.id for r in accepted], existing)
        if rejected:
            raise CommandError(f"{len(rejected)} file(s) rejected")

    def _segment(self, actor_id, imported, existing):
        """Queue the imported images, and the already-present ones never segmented (or failed)."""
        from apps.segmentation import api as segmentation_api
        from apps.segmentation.contracts import ImageStatus

        states = segmentation_api.get_image_states(image_ids=existing) if existing else {}
        image_ids = list(imported) + [
            i for i in existing if i in states and states[i].status in (ImageStatus.NEW, ImageStatus.FAILED)
        ]
        if not image_ids:
            self.stdout.write("Nothing to segment: every image is segmented or queued already.")
            return
        jobs = segmentation_api.request_segmentation(user_id=actor_id, image_ids=image_ids)
        self.stdout.write(f"Queued segmentation of {len(jobs)} image(s).")
