"""REST endpoints under /api/v1/auth/ (thin: validate, throttle, call services)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions, status
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from apps.accounts import services
from apps.accounts.http import serializers as s
from apps.accounts.http.views import RESET_SENT
from apps.accounts.throttling import AUTH_THROTTLES, AuthIPThrottle
from apps.common.context import with_actor

TAG = ["auth"]
_401 = OpenApiResponse(s.ErrorSerializer, description="Invalid credentials or token (one body for every cause).")
_429 = OpenApiResponse(s.ErrorSerializer, description="Too many attempts; see the Retry-After header.")


class InvalidCredentials(exceptions.AuthenticationFailed):
    default_detail = services.GENERIC_CREDENTIALS_ERROR
    default_code = "invalid_credentials"


class InvalidToken(exceptions.AuthenticationFailed):
    default_detail = "Token is invalid or expired."
    default_code = "token_not_valid"


class PublicAuthView(APIView):
    """No authentication needed (and no stale Bearer header can get in the way); throttled."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes: tuple[type[BaseThrottle], ...] = AUTH_THROTTLES

    def get_authenticate_header(self, request):
        return 'Bearer realm="api"'  # keeps 401 a 401 (DRF turns it into 403 without one)


class RegisterView(PublicAuthView):
    @extend_schema(
        tags=TAG,
        summary="Create an account",
        request=s.RegisterSerializer,
        responses={201: s.UserSerializer, 400: s.ErrorSerializer, 429: _429},
    )
    def post(self, request):
        data = s.RegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            user = services.register_user(**data.validated_data, channel="api", request=request)
        except DjangoValidationError as exc:
            raise exceptions.ValidationError(exc.message_dict) from None
        return Response(s.UserSerializer(user).data, status=status.HTTP_201_CREATED)


class TokenView(PublicAuthView):
    @extend_schema(
        tags=TAG,
        summary="Log in: e-mail and password for an access and a refresh token",
        request=s.TokenObtainSerializer,
        responses={200: s.TokenPairSerializer, 401: _401, 403: s.ErrorSerializer, 429: _429},
    )
    def post(self, request):
        data = s.TokenObtainSerializer(data=request.data)
        if not data.is_valid():
            raise InvalidCredentials()  # same answer as a wrong password
        user = services.authenticate_credentials(request=request._request, **data.validated_data)
        if user is None:
            raise InvalidCredentials()
        if not services.login_allowed(user):
            services.refuse_unverified(user, channel="api", request=request)
            raise exceptions.PermissionDenied(services.UNVERIFIED_ERROR, code="email_not_verified")
        return Response(services.issue_tokens(user))


class TokenRefreshView(PublicAuthView):
    throttle_classes = (AuthIPThrottle,)

    @extend_schema(
        tags=TAG,
        summary="Rotate a refresh token",
        description=(
            "Returns a new access and a new refresh token; the refresh token sent is spent. "
            "Presenting a spent refresh token again revokes every token of its login (401)."
        ),
        request=s.RefreshSerializer,
        responses={200: s.TokenPairSerializer, 401: _401, 429: _429},
    )
    def post(self, request):
        data = s.RefreshSerializer(data=request.data)
        if not data.is_valid():
            raise InvalidToken()
        try:
            return Response(services.rotate_refresh_token(data.validated_data["refresh"]))
        except services.RefreshTokenError as exc:
            raise InvalidToken(str(exc)) from None


class LogoutView(PublicAuthView):
    throttle_classes = (AuthIPThrottle,)

    @extend_schema(
        tags=TAG,
        summary="Log out: revoke a refresh token",
        request=s.RefreshSerializer,
        responses={204: None, 401: _401},
    )
    def post(self, request):
        data = s.RefreshSerializer(data=request.data)
        if not data.is_valid():
            raise InvalidToken()
        try:
            services.revoke_refresh_token(data.validated_data["refresh"])
        except services.RefreshTokenError as exc:
            raise InvalidToken(str(exc)) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordResetView(PublicAuthView):
    @extend_schema(
        tags=TAG,
        summary="Mail a password-reset link",
        description="Always answers 202 with the same body, whether or not the account exists.",
        request=s.PasswordResetRequestSerializer,
        responses={202: s.DetailSerializer, 400: s.ErrorSerializer, 429: _429},
    )
    def post(self, request):
        data = s.PasswordResetRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.request_password_reset(email=data.validated_data["email"], request=request._request, channel="api")
        return Response({"detail": RESET_SENT}, status=status.HTTP_202_ACCEPTED)


class MeView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(tags=TAG, summary="The current user", responses={200: s.UserSerializer, 401: _401})
    def get(self, request):
        with_actor(str(request.user.pk))
        return Response(s.UserSerializer(request.user).data)

    @extend_schema(
        tags=TAG,
        summary="Edit my profile (name, organisation, preferred language)",
        request=s.UserSerializer(partial=True),
        responses={200: s.UserSerializer, 400: s.ErrorSerializer, 401: _401},
    )
    def patch(self, request):
        with_actor(str(request.user.pk))
        data = s.UserSerializer(request.user, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes = {k: v for k, v in data.validated_data.items() if k in services.PROFILE_FIELDS}
        user = services.update_profile(request.user, **changes)
        return Response(s.UserSerializer(user).data)
