"""DRF serializers of the accounts API (request and response shapes for the OpenAPI schema)."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from apps.accounts.models import User
from apps.common import openapi


class UserSerializer(serializers.ModelSerializer):
    preferred_language = serializers.ChoiceField(choices=(), required=False)

    class Meta:
        model = User
        fields = ["id", "email", "name", "organisation", "preferred_language", "email_verified", "is_staff", "date_joined"]
        read_only_fields = ["id", "email", "email_verified", "is_staff", "date_joined"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["preferred_language"].choices = settings.LANGUAGES


class RegisterSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(write_only=True, style={"input_type": "password"}, trim_whitespace=False, max_length=4096)
    name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    organisation = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class TokenObtainSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(write_only=True, style={"input_type": "password"}, trim_whitespace=False, max_length=4096)


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField(help_text="JWT access token (Authorization: Bearer), short-lived.")
    refresh = serializers.CharField(help_text="Refresh token: single use, rotated on every refresh.")


class RefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class PasswordResetRequestSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


ErrorSerializer = openapi.ErrorSerializer  # the one "Error" component (apps/common/openapi.py)
