"""DRF serializers of the audit context: query filters in, records out."""

from __future__ import annotations

from rest_framework import serializers

from apps.audit.models import AuditRecord, Outcome
from apps.audit.selectors import RecordFilter


class RecordSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditRecord
        fields = [
            "id", "sequence", "event_type", "event_id", "occurred_at", "recorded_at", "actor", "subject_type",
            "subject_id", "project_id", "outcome", "client_ip", "user_agent", "request_id", "details",
            "prev_hash", "hash",
        ]
        read_only_fields = fields


class FilterSerializer(serializers.Serializer):
    actor = serializers.CharField(required=False, max_length=64, help_text="User id, or 'system'")
    project = serializers.CharField(required=False, max_length=64, help_text="Project id")
    event_type = serializers.CharField(
        required=False, max_length=200,
        help_text="Exact versioned type (images.project.created.v1) or a prefix ending in '.' or '*'",
    )
    subject_type = serializers.CharField(required=False, max_length=64)
    subject_id = serializers.CharField(required=False, max_length=64)
    outcome = serializers.ChoiceField(required=False, choices=Outcome.values)
    request_id = serializers.CharField(required=False, max_length=128)
    since = serializers.DateTimeField(required=False, help_text="occurred_at >= since (ISO 8601)")
    until = serializers.DateTimeField(required=False, help_text="occurred_at < until (ISO 8601)")

    def validate(self, attrs):
        if attrs.get("since") and attrs.get("until") and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": ["Must be later than since."]})
        return attrs

    def to_filter(self, *, with_project: bool = True) -> RecordFilter:
        data = self.validated_data
        return RecordFilter(
            actor=data.get("actor"),
            project_id=data.get("project") if with_project else None,
            event_type=data.get("event_type"),
            subject_type=data.get("subject_type"),
            subject_id=data.get("subject_id"),
            outcome=data.get("outcome"),
            request_id=data.get("request_id"),
            since=data.get("since"),
            until=data.get("until"),
        )
