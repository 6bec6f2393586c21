"""Server-rendered pages under /accounts/ (thin: parse, throttle, call services, render)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AnonymousUser
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from apps.accounts import services, throttling
from apps.accounts.http.forms import (
    DeleteAccountForm,
    LoginForm,
    PasswordChangeForm,
    ProfileForm,
    SetPasswordForm,
    SignupForm,
    ThrottledPasswordResetForm,
)

RESET_SENT = "If an account exists for this e-mail address, a link to set a new password was sent to it."


def throttled_response(request, wait: int):
    response = render(request, "accounts/throttled.html", {"retry_after": wait}, status=429)
    response["Retry-After"] = str(wait)
    return response


class ThrottledPostMixin:
    """Counts every POST per client IP and per submitted e-mail; answers 429 beyond the rates."""

    def post(self, request, *args, **kwargs):
        wait = throttling.check_page(request)
        if wait is not None:
            return throttled_response(request, wait)
        return super().post(request, *args, **kwargs)


class LoginView(ThrottledPostMixin, auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    """POST only (Django 5): a link cannot log anyone out."""

    http_method_names = ["post", "options"]


@sensitive_post_parameters("password1", "password2")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    if request.method == "POST":
        wait = throttling.check_page(request)
        if wait is not None:
            return throttled_response(request, wait)
        form = SignupForm(request.POST)
        if form.is_valid():
            user = form.register(request)
            if user is not None:
                if services.verification_required():
                    return render(request, "accounts/signup_done.html", {"email": user.email})
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                messages.success(request, _("Welcome! We have sent you a link to confirm your e-mail address."))
                return redirect(resolve_url(settings.LOGIN_REDIRECT_URL))
    else:
        form = SignupForm()
    return render(request, "accounts/signup.html", {"form": form})


@never_cache
@require_http_methods(["GET"])
def verify_email(request, uidb64: str, token: str):
    user = services.verify_email(uidb64=uidb64, token=token)
    if user is None:
        return render(request, "accounts/verify_invalid.html", status=400)
    messages.success(request, _("Your e-mail address is confirmed."))
    return redirect("accounts:profile" if request.user.is_authenticated else "accounts:login")


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    form_class = PasswordChangeForm
    success_url = reverse_lazy("accounts:password_change_done")

    def form_valid(self, form):
        response = super().form_valid(form)  # saves and keeps this session signed in
        services.password_changed(form.user, via_reset=False)
        return response


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "accounts/password_change_done.html"


class PasswordResetView(ThrottledPostMixin, auth_views.PasswordResetView):
    """Always answers the same: never says whether the account exists."""

    template_name = "accounts/password_reset.html"
    form_class = ThrottledPasswordResetForm
    success_url = reverse_lazy("accounts:password_reset_done")

    def form_valid(self, form):
        services.request_password_reset(email=form.cleaned_data["email"], request=self.request, channel="web")
        return redirect(self.get_success_url())


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"
    extra_context = {"message": RESET_SENT}


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's single-use link (the token hashes the password and last login; it expires
    after PASSWORD_RESET_TIMEOUT). The token leaves the URL before the form is shown."""

    template_name = "accounts/password_reset_confirm.html"
    form_class = SetPasswordForm
    success_url = reverse_lazy("accounts:password_reset_complete")
    post_reset_login = False

    def form_valid(self, form):
        response = super().form_valid(form)
        services.password_changed(form.user, via_reset=True)
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def profile(request):
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        services.update_profile(request.user, **form.cleaned_data)
        messages.success(request, _("Your profile is saved."))
        return redirect("accounts:profile")
    return render(
        request,
        "accounts/profile.html",
        {"form": form, "verification_required": services.verification_required()},
    )


@sensitive_post_parameters("password")
@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def delete_account(request):
    form = DeleteAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = request.user
        if services.delete_account(user, password=form.cleaned_data["password"]):
            request.session.flush()  # no logged-out event: the account is gone
            request.user = AnonymousUser()
            messages.success(request, _("Your account has been deleted."))
            return redirect("accounts:login")
        form.add_error("password", _("This password is not correct."))
    return render(request, "accounts/delete.html", {"form": form})
