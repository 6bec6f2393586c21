"""Server-rendered forms of the accounts pages."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from apps.accounts import services
from apps.accounts.models import User


class NoColonMixin:
    """Labels read "E-mail address", not "E-mail address:" (screen readers say it better)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class LoginForm(NoColonMixin, auth_forms.AuthenticationForm):
    """E-mail + password. One message for an unknown e-mail, a wrong password and an inactive
    account; an unverified account (when verification is required) gets a fresh link."""

    username = forms.EmailField(
        label=_("E-mail address"), widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )
    error_messages = {
        "invalid_login": _("Please enter a correct e-mail address and password."),
        "inactive": _("Please enter a correct e-mail address and password."),
        "unverified": _(services.UNVERIFIED_ERROR),
    }

    def clean(self):
        if self.cleaned_data.get("username"):
            self.cleaned_data["username"] = services.normalize_email(self.cleaned_data["username"])
        return super().clean()

    def confirm_login_allowed(self, user):
        if not user.is_active:
            raise ValidationError(self.error_messages["inactive"], code="inactive")
        if not services.login_allowed(user):
            services.refuse_unverified(user, channel="web", request=self.request)
            raise ValidationError(self.error_messages["unverified"], code="unverified")


class SignupForm(NoColonMixin, forms.Form):
    email = forms.EmailField(label=_("E-mail address"), widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    name = forms.CharField(label=_("Name"), max_length=150, required=False, widget=forms.TextInput(attrs={"autocomplete": "name"}))
    organisation = forms.CharField(
        label=_("Organisation"), max_length=200, required=False, widget=forms.TextInput(attrs={"autocomplete": "organization"})
    )
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label=_("Password (again)"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password2") and data["password1"] != data["password2"]:
            self.add_error("password2", _("The two passwords differ."))
        return data

    def register(self, request) -> User | None:
        """Create the account; field errors are added to the form (``None`` returned)."""
        try:
            return services.register_user(
                email=self.cleaned_data["email"],
                password=self.cleaned_data["password1"],
                name=self.cleaned_data.get("name", ""),
                organisation=self.cleaned_data.get("organisation", ""),
                channel="web",
                request=request,
            )
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error("password1" if field == "password" else field if field in self.fields else None, messages)
            return None


class ProfileForm(NoColonMixin, forms.ModelForm):
    preferred_language = forms.ChoiceField(label=_("Preferred language"), choices=())

    class Meta:
        model = User
        fields = ["name", "organisation", "preferred_language"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["preferred_language"].choices = settings.LANGUAGES


class DeleteAccountForm(NoColonMixin, forms.Form):
    password = forms.CharField(
        label=_("Your password"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    confirm = forms.BooleanField(label=_("I understand that my account and everything I own will be deleted."))


class ThrottledPasswordResetForm(NoColonMixin, auth_forms.PasswordResetForm):
    email = forms.EmailField(label=_("E-mail address"), max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))


class PasswordChangeForm(NoColonMixin, auth_forms.PasswordChangeForm):
    pass


class SetPasswordForm(NoColonMixin, auth_forms.SetPasswordForm):
    pass
