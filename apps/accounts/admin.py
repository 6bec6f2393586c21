"""Django admin of the accounts context: find users, (de)activate them, set the staff flag.

The password hash is never shown: the form only links to Django's change-password page.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.utils.translation import gettext_lazy as _

from apps.accounts import services
from apps.accounts.models import User


class UserChangeFormWithoutHash(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = ("email", "name", "organisation", "preferred_language", "email_verified", "is_active", "is_staff",
                  "is_superuser", "groups", "user_permissions")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields.pop("password", None)


class UserCreationForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("email",)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeFormWithoutHash
    add_form = UserCreationForm
    change_password_form = DjangoUserAdmin.change_password_form
    list_display = ("email", "name", "organisation", "is_active", "email_verified", "is_staff", "date_joined", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser", "email_verified", "preferred_language", "date_joined")
    search_fields = ("email", "name", "organisation")
    ordering = ("email",)
    readonly_fields = ("id", "date_joined", "last_login", "change_password_link")
    fieldsets = (
        (None, {"fields": ("id", "email", "change_password_link")}),
        (_("Profile"), {"fields": ("name", "organisation", "preferred_language")}),
        (_("Status"), {"fields": ("is_active", "email_verified", "is_staff", "is_superuser")}),
        (_("Permissions"), {"classes": ("collapse",), "fields": ("groups", "user_permissions")}),
        (_("Dates"), {"fields": ("date_joined", "last_login")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),)
    actions = ["activate_users", "deactivate_users"]

    @admin.display(description=_("Password"))
    def change_password_link(self, obj):
        from django.urls import reverse
        from django.utils.html import format_html

        if obj is None or obj.pk is None:
            return "-"
        url = reverse("admin:auth_user_password_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Change the password"))

    @admin.action(description=_("Activate selected users"))
    def activate_users(self, request, queryset):
        n = services.set_active(user_ids=queryset.values_list("pk", flat=True), active=True, actor_id=str(request.user.pk))
        self.message_user(request, _("%(n)d user(s) activated.") % {"n": n}, messages.SUCCESS)

    @admin.action(description=_("Deactivate selected users (revokes their API tokens)"))
    def deactivate_users(self, request, queryset):
        ids = [pk for pk in queryset.values_list("pk", flat=True) if pk != request.user.pk]
        n = services.set_active(user_ids=ids, active=False, actor_id=str(request.user.pk))
        self.message_user(request, _("%(n)d user(s) deactivated.") % {"n": n}, messages.SUCCESS)
