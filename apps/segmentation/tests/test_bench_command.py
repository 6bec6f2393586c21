"""bench_pipeline refuses clearly what it cannot measure (the measuring itself is a benchmark
run by hand: docs/benchmarks.md)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.accounts import api as accounts_api
from apps.segmentation.management.commands.bench_pipeline import BENCH_EMAIL


@pytest.mark.django_db
def test_bench_pipeline_refuses_zero_rounds_before_touching_anything():
    with pytest.raises(CommandError, match="--rounds must be at least 1"):
        call_command("bench_pipeline", "--rounds", "0")
    assert accounts_api.find_user_by_email(email=BENCH_EMAIL) is None  # nothing created


@pytest.mark.django_db
def test_bench_pipeline_names_what_the_distributed_mode_lacks(settings):
    settings.DRAMATIQ = {**settings.DRAMATIQ, "BROKER_URL": "stub://"}
    settings.REDIS_URL = ""
    with pytest.raises(CommandError) as refused:
        call_command("bench_pipeline")
    assert "BROKER_URL (redis:// or amqp://)" in str(refused.value)
    assert "REDIS_URL (channel layer)" in str(refused.value)
    assert accounts_api.find_user_by_email(email=BENCH_EMAIL) is None  # nothing created
