"""The bearer token rule: with a token, every API call carries
``Authorization: Bearer <token>``; a missing one is a 401, a wrong one a 403.

Comparisons run in constant time (``hmac.compare_digest`` on bytes), so the
time an answer takes tells nothing of how much of a guess was right.
"""

from __future__ import annotations

import hmac

from .wsgi import Environ, HttpError

ENV_VAR = "ZART_API_TOKEN"


def check_token(token: object) -> str | None:
    """A usable token or None; ValueError for an empty or non-string one,
    or one that cannot travel in an HTTP header (not printable ASCII)."""
    if token is None:
        return None
    if not isinstance(token, str) or not token.strip():
        raise ValueError(f"the API token ({ENV_VAR}) must be a non-empty string")
    if not token.isascii() or not token.isprintable() or token != token.strip():
        raise ValueError(
            f"the API token ({ENV_VAR}) must be printable ASCII with no surrounding blanks"
        )
    return token


def token_matches(given: str, token: str) -> bool:
    """Whether ``given`` is ``token``, compared in constant time."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), token.encode("utf-8"))


def require_bearer(environ: Environ, token: str | None) -> None:
    """Raise the 401 or 403 the request has earned, if any."""
    if token is None:
        return
    header = str(environ.get("HTTP_AUTHORIZATION") or "")
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise HttpError(
            401,
            "unauthorized",
            "this API needs Authorization: Bearer <token>",
            [("WWW-Authenticate", 'Bearer realm="zart"')],
        )
    if not token_matches(credentials.strip(), token):
        raise HttpError(
            403,
            "forbidden",
            "the bearer token is wrong",
            [("WWW-Authenticate", 'Bearer realm="zart", error="invalid_token"')],
        )
