"""Tests log in the way a person does: with a confirmed TOTP device and its current code.

`confirmed_device(user)` enrols a device as the set-up page would; `current_token(device)`
is what the authenticator app shows now. `complete_second_factor(client, user)` enters it
for a test client that is already logged in (the same session key the verify page sets).
"""

from __future__ import annotations

import time
from typing import Any

from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from config.twofactor import REQUIRED_KEY, TOUCH_KEY
from permissions.policy import requires_two_factor


def confirmed_device(user: Any) -> TOTPDevice:
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="test phone", confirmed=True)


def current_token(device: TOTPDevice) -> str:
    # A real phone logging in twice within one 30-s step would wait for the next code; a test
    # does not wait: forget the last step used, so the current code is accepted again.
    TOTPDevice.objects.filter(pk=device.pk).update(last_t=-1)
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def complete_second_factor(client: Client, user: Any) -> None:
    if not requires_two_factor(user):
        session = client.session
        session[REQUIRED_KEY] = False
        session[TOUCH_KEY] = int(time.time())
        session.save()
        return
    device = confirmed_device(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session[REQUIRED_KEY] = True
    session[TOUCH_KEY] = int(time.time())
    session.save()
