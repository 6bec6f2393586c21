"""URLs of the accounts context: REST under /api/v1/auth/ and pages under /accounts/."""

from django.urls import include, path

from apps.accounts.http import api_views, views

auth_api = [
    path("register/", api_views.RegisterView.as_view(), name="register"),
    path("token/", api_views.TokenView.as_view(), name="token"),
    path("token/refresh/", api_views.TokenRefreshView.as_view(), name="token-refresh"),
    path("logout/", api_views.LogoutView.as_view(), name="logout"),
    path("password_reset/", api_views.PasswordResetView.as_view(), name="password-reset"),
    path("me/", api_views.MeView.as_view(), name="me"),
]

pages = [
    path("signup/", views.signup, name="signup"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("password_change/", views.PasswordChangeView.as_view(), name="password_change"),
    path("password_change/done/", views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password_reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password_reset/done/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("reset/done/", views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("verify/<uidb64>/<token>/", views.verify_email, name="verify_email"),
    path("profile/", views.profile, name="profile"),
    path("delete/", views.delete_account, name="delete"),
]

api_urlpatterns = [path("auth/", include((auth_api, "auth")))]
page_urlpatterns = [path("accounts/", include((pages, "accounts")))]
