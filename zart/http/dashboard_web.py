"""The dashboard's own small WSGI layer: a request read once from the
environ, a response that knows its cookies, and the static files.

The dashboard is a plain WSGI app (``make_app`` hands it every path that is
not the API's), so it depends on nothing but the WSGI spec: it can be
mounted alone, under a prefix (``SCRIPT_NAME``), in any server.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Callable, Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

WSGIEnviron = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[WSGIEnviron, StartResponse], Iterable[bytes]]

STATIC = Path(__file__).resolve().parent / "static"

# A form posts an event's payload, and a payload may be 1 MiB (the stores'
# default limit); the rest of a form is small. Past this, 413.
MAX_FORM = 2 * 1024 * 1024

# Every page: no script or style from anywhere but /static/ (no inline
# script runs even if escaping were ever missed), no framing, forms post
# only here.
SECURITY_HEADERS = [
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
]


class BadRequest(Exception):
    """The request cannot be read: a body too large, text that is not UTF-8."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _text(raw: str) -> str:
    # WSGI hands the path over as latin-1 code points of the raw bytes.
    try:
        return raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise BadRequest(400, "the address is not valid UTF-8") from None


def _fields(raw: str) -> dict[str, str]:
    """Form or query fields, the first value of each name."""
    try:
        parsed = parse_qs(raw, keep_blank_values=True, errors="strict")
    except (UnicodeError, ValueError):
        raise BadRequest(400, "the form or query is not valid UTF-8") from None
    return {name: values[0] for name, values in parsed.items()}


class Request:
    """What the dashboard reads of a request, decoded once."""

    def __init__(self, environ: WSGIEnviron) -> None:
        self.method: str = environ.get("REQUEST_METHOD", "GET").upper()
        self.root: str = _text(environ.get("SCRIPT_NAME", "")).rstrip("/")
        self.path: str = _text(environ.get("PATH_INFO", "")) or "/"
        self.query = _fields(_text(environ.get("QUERY_STRING", "")))
        self.https = environ.get("wsgi.url_scheme") == "https"
        self.cookies = _cookies(environ.get("HTTP_COOKIE", ""))
        self.form: dict[str, str] = {}
        if self.method == "POST":
            try:
                text = _body(environ).decode("utf-8")
            except UnicodeError:
                raise BadRequest(400, "the form is not valid UTF-8") from None
            self.form = _fields(text)

    def url(self, path: str) -> str:
        """``path`` (from the dashboard's root) as an address in this mount."""
        return self.root + path

    @property
    def full_path(self) -> str:
        """The path and query as asked for, within the mount (for ``next``)."""
        query = "&".join(f"{quote(k)}={quote(v)}" for k, v in self.query.items())
        return self.path + (f"?{query}" if query else "")


def _body(environ: WSGIEnviron) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise BadRequest(400, "bad Content-Length") from None
    if length > MAX_FORM:
        raise BadRequest(413, f"the form is larger than {MAX_FORM} bytes")
    if length <= 0:
        return b""
    data: bytes = environ["wsgi.input"].read(length)
    return data


def _cookies(header: str) -> dict[str, str]:
    """The cookies by name, the first of each. Read leniently (not with
    ``SimpleCookie``, which drops every cookie after one it cannot parse):
    another app on the same host may set cookies of any shape."""
    found: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name and name not in found:
            found[name] = value.strip().strip('"')
    return found


class Response:
    """A status, headers and a body, with the cookies to set."""

    def __init__(
        self,
        body: str | bytes = b"",
        status: int = 200,
        content_type: str = "text/html; charset=utf-8",
    ) -> None:
        self.status = status
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.headers: list[tuple[str, str]] = [("Content-Type", content_type)]

    def set_cookie(
        self,
        name: str,
        value: str,
        request: Request,
        *,
        max_age: int | None = None,
        http_only: bool = True,
    ) -> None:
        """A cookie for this mount only, never sent cross-site; Secure when
        the request came over https."""
        parts = [f"{name}={value}", f"Path={request.root or '/'}", "SameSite=Strict"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if http_only:
            parts.append("HttpOnly")
        if request.https:
            parts.append("Secure")
        self.headers.append(("Set-Cookie", "; ".join(parts)))

    def __call__(self, start_response: StartResponse) -> list[bytes]:
        phrase = HTTPStatus(self.status).phrase
        headers = [*self.headers, ("Content-Length", str(len(self.body)))]
        start_response(f"{self.status} {phrase}", headers)
        return [self.body]


def redirect(location: str, status: int = 303) -> Response:
    """Go to ``location`` (303: after a POST, a GET of the page)."""
    response = Response(b"", status)
    response.headers.append(("Location", location))
    return response


class Static:
    """The files of ``zart/http/static``, read once, with a version for
    their addresses: a page asks for ``/static/x.css?v=<hash>``, so a
    browser may cache a file for long and still sees a new one at once."""

    def __init__(self, folder: Path = STATIC) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        for path in sorted(folder.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                if kind.startswith("text/") or kind.endswith("javascript"):
                    kind += "; charset=utf-8"
                self.files[path.name] = (path.read_bytes(), kind)
        digest = hashlib.sha256(b"".join(body for body, _ in self.files.values()))
        self.version = digest.hexdigest()[:12]

    def serve(self, name: str) -> Response | None:
        """The file ``name`` (no folders: nothing else can be reached), or None."""
        found = self.files.get(name)
        if found is None:
            return None
        response = Response(found[0], 200, found[1])
        response.headers.append(("Cache-Control", "public, max-age=86400"))
        return response
