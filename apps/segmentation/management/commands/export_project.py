"""``manage.py export_project --project ID --format F --out FILE [--version N] [--images ID,ID] [--table T]``

For operators and scripts: builds the export synchronously, whatever its size (no job), and
writes it atomically (a temporary file renamed into place, so a failed export leaves nothing).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.images.contracts import ProjectNotFound
from apps.segmentation.exports import formats
from apps.segmentation.exports import service as exports
from apps.segmentation.exports.tables import TABLES


class Command(BaseCommand):
    help = "Export a project's segmentation results (coco, csv, xlsx, masks, geojson, imagej, archive)."

    def create_parser(self, prog_name, subcommand, **kwargs):
        # our --version is the result version; it replaces Django's "show version and exit"
        kwargs.setdefault("conflict_handler", "resolve")
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project id")
        parser.add_argument("--format", required=True, choices=list(formats.FORMATS))
        parser.add_argument("--out", required=True, help="output file ('-' for standard output)")
        parser.add_argument("--version", type=int, default=None, help="result version (default: latest)")
        parser.add_argument("--images", default=None, help="comma-separated image ids (default: all)")
        parser.add_argument("--table", default="objects", choices=list(TABLES), help="for --format csv")

    def handle(self, *args, **options):
        image_ids = None
        if options["images"] is not None:
            image_ids = [v for v in options["images"].split(",") if v.strip()]
        try:
            plan = exports.plan_export(
                user_id=None, project_id=options["project"], fmt=options["format"], image_ids=image_ids,
                version=options["version"], table=options["table"],
            )
        except ProjectNotFound as exc:
            raise CommandError(f"No project {options['project']}.") from exc
        except exports.ExportError as exc:
            raise CommandError(exc.detail) from exc

        if options["out"] == "-":
            summary = exports.build_export(plan, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            target = Path(options["out"]).resolve()
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".export-", dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    summary = exports.build_export(plan, out)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        exports.record_export(plan, summary, actor_id=None)
        if options["out"] != "-":
            self.stderr.write(
                f"{summary.filename}: {summary.image_count} image(s), {summary.segmented_count} segmented, "
                f"{summary.object_count} object(s) -> {options['out']}"
            )
