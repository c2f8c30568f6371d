"""Two-factor authentication with TOTP (django-otp).

Coordinators, agency administrators and staff (permissions.policy.requires_two_factor) are
sent to enrol a device, or to enter its current code, before any other page; everyone else
may enrol from their account page. Whether the person must use a second factor is decided
once at log-in and kept in the session, so that ordinary requests cost no extra query.
"""

from __future__ import annotations

import time
from typing import Any

import qrcode
import qrcode.image.svg
from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django_otp import login as otp_login
from django_otp import user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice

from permissions.policy import requires_two_factor

REQUIRED_KEY = "otagai_2fa_required"
TOUCH_KEY = "otagai_touched"
TOUCH_EVERY = 60  # seconds: a session in use is saved (its idle expiry renewed) at most this often
# Paths a person who still owes a second factor may reach.
OPEN_PREFIXES = ("/accounts/2fa/", "/accounts/logout/", "/static/", "/i18n/", "/jsi18n/")
OPEN_PATHS = ("/healthz",)


@receiver(user_logged_in)
def _remember_requirement(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any):
    if request is not None and hasattr(request, "session"):
        request.session[REQUIRED_KEY] = requires_two_factor(user)
        request.session[TOUCH_KEY] = int(time.time())


def touch_due(session: Any) -> bool:
    """Whether a session in use (a request's, or its data as a dict) is due for saving, to
    renew its idle expiry."""
    return int(time.time()) - int(session.get(TOUCH_KEY, 0)) >= TOUCH_EVERY


def _owes_second_factor(request: HttpRequest) -> bool:
    user = request.user
    if not user.is_authenticated:
        return False
    required = request.session.get(REQUIRED_KEY)
    if required is None:  # a session from before this rule: decide once
        required = request.session[REQUIRED_KEY] = requires_two_factor(user)
    return bool(required) and not user.is_verified()  # type: ignore[union-attr,attr-defined]


class RequireTwoFactorMiddleware:
    """Sends a person who must use a second factor and has not yet to enrol or verify.

    It also keeps the idle timer going: a request renews the session's server-side expiry
    (SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES) at most once a minute, so that idle expiry
    costs no write on every request.
    """

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            if touch_due(request.session):
                request.session[TOUCH_KEY] = int(time.time())
            path = request.path
            if (
                not path.startswith(OPEN_PREFIXES)
                and path not in OPEN_PATHS
                and _owes_second_factor(request)
            ):
                target = "twofactor-verify" if user_has_device(request.user) else "twofactor-setup"
                query = urlencode({"next": request.get_full_path()})
                return HttpResponseRedirect(f"{reverse(target)}?{query}")
        return self.get_response(request)


class TokenForm(forms.Form):
    token = forms.CharField(
        label=_("Six-digit code from your authenticator app"),
        min_length=6,
        max_length=8,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return reverse(settings.LOGIN_REDIRECT_URL)


def qr_svg(data: str) -> str:
    """The QR code as an inline SVG element, drawn on the server (no third party sees it)."""
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    svg = image.to_string(encoding="unicode")
    return svg.replace("<svg ", '<svg role="img" class="qr-code" aria-hidden="true" ', 1)


@login_required
def setup(request: HttpRequest) -> HttpResponse:
    """Enrol a TOTP device: scan the QR code (or type the key), then confirm with a code."""
    user = request.user
    if user_has_device(user) and not user.is_verified():  # type: ignore[union-attr]
        # Replacing a device needs the old one first: a stolen password alone must not be
        # enough to enrol the thief's phone.
        return redirect(f"{reverse('twofactor-verify')}?{urlencode({'next': _next_url(request)})}")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()  # type: ignore[misc]
    if device is None:
        device = TOTPDevice.objects.create(
            user=user,  # type: ignore[misc]
            name=str(_("Authenticator app")),
            confirmed=False,
        )
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["token"]):
            # One confirmed device per person: a new enrolment replaces the old one.
            TOTPDevice.objects.filter(user=user, confirmed=True).delete()  # type: ignore[misc]
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            otp_login(request, device)
            return redirect(_next_url(request))
        form.add_error("token", _("That code is not right. Check the time on your phone."))
    key = "".join(
        device.config_url.split("secret=")[1].split("&")[0][i : i + 4] + " "
        for i in range(0, 32, 4)
    ).strip()
    context = {
        "form": form,
        "qr": mark_safe(qr_svg(device.config_url)),  # noqa: S308 - generated SVG, no input
        "key": key,
        "next": _next_url(request),
        "required": request.session.get(REQUIRED_KEY, False),
    }
    return render(request, "accounts/twofactor_setup.html", context)


@login_required
def verify(request: HttpRequest) -> HttpResponse:
    """Enter the current code of the enrolled device."""
    if not user_has_device(request.user):
        return redirect(f"{reverse('twofactor-setup')}?{urlencode({'next': _next_url(request)})}")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        for device in TOTPDevice.objects.filter(user=request.user, confirmed=True):  # type: ignore[misc]
            if device.verify_is_allowed()[0] and device.verify_token(form.cleaned_data["token"]):
                otp_login(request, device)
                return redirect(_next_url(request))
        form.add_error("token", _("That code is not right. Check the time on your phone."))
    return render(
        request, "accounts/twofactor_verify.html", {"form": form, "next": _next_url(request)}
    )
