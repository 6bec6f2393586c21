"""DRF shapes of the job API (JobInfo -> JSON, query parameters in)."""

from __future__ import annotations

from rest_framework import serializers

from apps.tasks.contracts import JobInfo, JobStatus


class JobSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    status = serializers.ChoiceField(choices=[s.value for s in JobStatus])
    priority = serializers.IntegerField()
    owner_id = serializers.UUIDField(allow_null=True)
    project_id = serializers.UUIDField(allow_null=True)
    image_id = serializers.UUIDField(allow_null=True)
    params = serializers.DictField()
    progress = serializers.IntegerField()
    stage = serializers.CharField()
    attempts = serializers.IntegerField()
    max_attempts = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)
    queue_position = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    result_ref = serializers.CharField(allow_blank=True)


def job_json(info: JobInfo) -> dict:
    return JobSerializer(info).data


class JobFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=[s.value for s in JobStatus], required=False)
    kind = serializers.CharField(required=False, max_length=64)
    project = serializers.UUIDField(required=False)
    image = serializers.UUIDField(required=False)


class StatsFilterSerializer(serializers.Serializer):
    project = serializers.UUIDField(required=False)


class JobStatsSerializer(serializers.Serializer):
    by_status = serializers.DictField(child=serializers.IntegerField())
    by_priority = serializers.DictField(child=serializers.DictField(child=serializers.IntegerField()))
    mean_wait_seconds = serializers.FloatField(allow_null=True)
    mean_run_seconds = serializers.FloatField(allow_null=True)
    completion_rate = serializers.FloatField(allow_null=True)
    total = serializers.IntegerField()
