"""Who may use the dashboard, and proof that a form was posted from it.

Login: with a token configured, ``/login`` asks for it and, when it is
right, sets a cookie holding an HMAC of the token under a secret drawn once
per process. The cookie proves the token without holding it (a leaked
cookie does not leak the token, and a restart logs everybody out), and it
is checked in constant time. It is HttpOnly (no script reads it) and
SameSite=Strict (no other site's page sends it).

CSRF: every form carries a per-session token in a hidden field, and the same
token is in a cookie; a post whose field does not match its cookie is
refused. Another site can make a browser post here but can neither read
the cookie nor set it, so it cannot fill in the field (SameSite=Strict
already keeps the login cookie off such posts: this covers browsers that
ignore SameSite, and a dashboard without a token).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from .dashboard_web import Request, Response

AUTH_COOKIE = "zart_auth"
CSRF_COOKIE = "zart_csrf"
CSRF_FIELD = "csrf"

# One secret per process: every dashboard in it accepts the same cookie,
# and none survives a restart.
_SECRET = secrets.token_bytes(32)

# How long a login lasts in the browser (the process may end it sooner).
LOGIN_SECONDS = 12 * 3600


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


class Guard:
    """The login and CSRF rules for one dashboard."""

    def __init__(self, token: str | None) -> None:
        if token is not None and not token:
            raise ValueError("the dashboard's token must not be empty (None: no login)")
        self.token = token

    @property
    def needs_login(self) -> bool:
        return self.token is not None

    def _proof(self) -> str:
        assert self.token is not None
        return hmac.new(_SECRET, self.token.encode("utf-8"), hashlib.sha256).hexdigest()

    def logged_in(self, request: Request) -> bool:
        """Whether the request may see the dashboard."""
        if self.token is None:
            return True
        return _same(request.cookies.get(AUTH_COOKIE, ""), self._proof())

    def right_token(self, given: str) -> bool:
        return self.token is not None and _same(given, self.token)

    def log_in(self, response: Response, request: Request) -> None:
        response.set_cookie(AUTH_COOKIE, self._proof(), request, max_age=LOGIN_SECONDS)

    @staticmethod
    def log_out(response: Response, request: Request) -> None:
        response.set_cookie(AUTH_COOKIE, "", request, max_age=0)

    # -- CSRF ----------------------------------------------------------------
    @staticmethod
    def csrf_token(request: Request) -> str:
        """The session's CSRF token: the cookie's, or a new one (which
        ``keep_csrf`` then sets)."""
        current = request.cookies.get(CSRF_COOKIE, "")
        return current if len(current) >= 32 else secrets.token_urlsafe(32)

    @staticmethod
    def keep_csrf(response: Response, request: Request, token: str) -> None:
        if request.cookies.get(CSRF_COOKIE) != token:
            response.set_cookie(CSRF_COOKIE, token, request)

    @staticmethod
    def csrf_ok(request: Request) -> bool:
        """Whether a post carries its session's CSRF token."""
        cookie = request.cookies.get(CSRF_COOKIE, "")
        field = request.form.get(CSRF_FIELD, "")
        return len(cookie) >= 32 and _same(field, cookie)
