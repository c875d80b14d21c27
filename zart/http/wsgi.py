"""The little WSGI machinery the API needs, and no framework: requests,
JSON responses, errors as JSON, and a router whose path parameters may
hold any character, slashes included.

Why the router reads the raw URI: a WSGI server decodes ``%2F`` into ``/``
before it fills ``PATH_INFO``, so an execution id holding a slash would
split into two path segments there. Servers also pass the path as it was
sent (waitress ``REQUEST_URI``, gunicorn and werkzeug ``RAW_URI``); the
router splits that on ``/`` first and decodes each segment after, and falls
back to ``PATH_INFO`` when the raw path is missing or does not agree with it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote, unquote_plus, urlsplit

import attrs

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]
Headers = list[tuple[str, str]]

# Deeper JSON is refused with a 400 before anything walks it: every reader
# of a stored document (the converter, the stores, json itself) recurses.
MAX_DEPTH = 100
# The query string, like the body, is read from the client: bounded.
MAX_QUERY = 16 * 1024
_JSON_TYPE = re.compile(r"^application/(?:[\w.+-]+\+)?json$")


class HttpError(Exception):
    """An answer other than success: its status, a short machine-readable
    ``code`` and a message for people. Rendered as ``{"error", "message"}``."""

    def __init__(self, status: int, code: str, message: str, headers: Headers | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or []


@attrs.frozen
class Response:
    status: int
    body: bytes
    headers: Headers = attrs.field(factory=list)

    def __call__(self, start_response: StartResponse) -> list[bytes]:
        phrase = HTTPStatus(self.status).phrase
        headers = [*self.headers, ("Content-Length", str(len(self.body)))]
        start_response(f"{self.status} {phrase}", headers)
        return [self.body]


_JSON_HEADERS = [
    ("Content-Type", "application/json"),
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
]


def json_response(status: int, document: Any, headers: Headers | None = None) -> Response:
    # ensure_ascii: whatever a document holds, the body is plain ASCII.
    body = json.dumps(document, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return Response(status, body, [*_JSON_HEADERS, *(headers or [])])


def error_response(error: HttpError) -> Response:
    return json_response(
        error.status, {"error": error.code, "message": error.message}, error.headers
    )


def bad_request(message: str, code: str = "bad_request") -> HttpError:
    return HttpError(400, code, message)


# -- requests --------------------------------------------------------------------


@attrs.frozen
class Request:
    """One request: its method, its decoded path segments, its query."""

    environ: Environ
    method: str
    segments: tuple[str, ...]
    query: dict[str, list[str]]

    @classmethod
    def read(cls, environ: Environ) -> Request:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        return cls(environ, method, path_segments(environ), _query(environ))

    def header(self, name: str) -> str | None:
        key = "HTTP_" + name.upper().replace("-", "_")
        if name.lower() in ("content-type", "content-length"):
            key = name.upper().replace("-", "_")
        value = self.environ.get(key)
        return None if value is None else str(value)

    def param(self, name: str) -> str | None:
        """A query parameter given at most once (twice is a 400)."""
        values = self.query.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise bad_request(f"query parameter {name!r} is given {len(values)} times")
        return values[0]

    def body(self, limit: int) -> bytes:
        """The body, at most ``limit`` bytes (413 past it)."""
        return read_body(self.environ, limit)

    def json(self, limit: int, *, empty: Any = None) -> Any:
        """The body as JSON (``empty`` when there is none): 400 for another
        content type, text that is not UTF-8 JSON, or nesting past MAX_DEPTH."""
        raw = self.body(limit)
        if not raw:
            return empty
        content_type = (self.header("Content-Type") or "").split(";")
        if not _JSON_TYPE.match(content_type[0].strip().lower()):
            shown = content_type[0].strip() or "none"
            raise HttpError(
                400, "unsupported_media_type", f"send JSON (application/json), not {shown}"
            )
        for param in content_type[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
                raise bad_request(f"JSON must be UTF-8, not {value.strip()!r}", "bad_charset")
        return parse_json(raw)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes) -> Any:
    """Strict JSON from bytes: UTF-8, no NaN or Infinity, at most
    MAX_DEPTH deep. Anything else is a 400, never a 500."""
    try:
        text = raw.decode("utf-8")
        document = json.loads(text, parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise bad_request("the body is not UTF-8", "malformed_json") from None
    except RecursionError:
        raise bad_request(f"JSON nested deeper than {MAX_DEPTH} levels", "too_deep") from None
    except ValueError as exc:  # JSONDecodeError, NaN, or an int past Python's digit limit
        raise bad_request(f"malformed JSON: {exc}", "malformed_json") from None
    # Depth d needs d brackets: counting them (in C) spares most bodies the walk.
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and depth(document) > MAX_DEPTH:
        raise bad_request(f"JSON nested deeper than {MAX_DEPTH} levels", "too_deep")
    return document


def depth(document: Any) -> int:
    """How deeply arrays and objects nest in ``document``, without recursion."""
    deepest, stack = 0, [(document, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        elif not isinstance(value, list):
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            break
        stack.extend((item, level + 1) for item in value)
    return deepest


def read_body(environ: Environ, limit: int) -> bytes:
    """Read at most ``limit`` bytes: Content-Length is honoured (a larger
    one is refused unread), and a body without one is read to ``limit + 1``
    so that a longer one is caught without holding all of it."""
    stream = environ.get("wsgi.input")
    length_text = str(environ.get("CONTENT_LENGTH") or "").strip()
    if length_text:
        if not length_text.isdigit() or len(length_text) > 18:
            raise bad_request(f"bad Content-Length {length_text[:40]!r}")
        length = int(length_text)
        if length > limit:
            raise _too_large(limit)
        return b"" if stream is None or length == 0 else stream.read(length)
    # No length: only a server that ends the stream itself (chunked bodies,
    # wsgi.input_terminated) may be read to its end.
    if stream is None or not environ.get("wsgi.input_terminated"):
        return b""
    raw: bytes = stream.read(limit + 1)
    if len(raw) > limit:
        raise _too_large(limit)
    return raw


def _too_large(limit: int) -> HttpError:
    return HttpError(413, "body_too_large", f"the body is over the limit of {limit:,} bytes")


def _query(environ: Environ) -> dict[str, list[str]]:
    text = str(environ.get("QUERY_STRING") or "")
    if not text:
        return {}
    if len(text) > MAX_QUERY:
        raise bad_request(f"the query string is over {MAX_QUERY:,} characters")
    try:
        # The WSGI string is bytes as latin-1; the query's escapes are UTF-8.
        raw = text.encode("latin-1").decode("utf-8")
        return parse_qs(raw, keep_blank_values=True, errors="strict", max_num_fields=100)
    except (UnicodeError, ValueError) as exc:
        raise bad_request(f"malformed query string: {_not_utf8(text) or exc}") from None


def _not_utf8(text: str) -> str | None:
    """Which parameter of a query string is not UTF-8, if one is."""
    for field in text.split("&"):
        try:
            unquote_plus(field.encode("latin-1").decode("utf-8"), errors="strict")
        except UnicodeError:
            name = unquote_plus(field.split("=", 1)[0], errors="replace")
            return f"query parameter {name!r} is not UTF-8"
    return None


def path_segments(environ: Environ) -> tuple[str, ...]:
    """The path below the mount point, as decoded segments (see the module
    docstring: a ``%2F`` inside a segment stays inside it)."""
    path_info = _wsgi_text(str(environ.get("PATH_INFO") or ""), "path")
    raw_uri = str(environ.get("REQUEST_URI") or environ.get("RAW_URI") or "")
    # Without an escape the raw path splits as PATH_INFO does.
    if "%" in raw_uri:
        raw_path = urlsplit(raw_uri).path
        mounted = str(environ.get("SCRIPT_NAME") or "").rstrip("/")
        raw = raw_path.split("/")[mounted.count("/") + 1 :]
        try:
            segments = tuple(unquote(s, errors="strict") for s in raw)
        except UnicodeDecodeError:
            raise bad_request("the path is not UTF-8") from None
        if "/" + "/".join(segments) == path_info:
            return segments
    return tuple(path_info.split("/")[1:])


def _wsgi_text(value: str, what: str) -> str:
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise bad_request(f"the {what} is not UTF-8") from None


# -- routing -------------------------------------------------------------------------

Handler = Callable[[Request, dict[str, str]], Response]


@attrs.frozen
class Route:
    """``method path`` to ``handler``; ``{name}`` segments are parameters.
    An ``action`` changes something: read-only mode refuses it. A
    ``public`` route needs no token. ``query``: the parameters it reads;
    any other is a 400 (a misspelt filter must not list everything)."""

    method: str
    path: str
    handler: Handler
    action: bool = False
    public: bool = False
    query: tuple[str, ...] = ()
    pattern: tuple[str, ...] = attrs.field(
        init=False,
        default=attrs.Factory(lambda route: tuple(route.path.split("/")[1:]), takes_self=True),
    )

    def match(self, segments: Sequence[str]) -> dict[str, str] | None:
        pattern = self.pattern
        if len(pattern) != len(segments):
            return None
        params: dict[str, str] = {}
        for part, segment in zip(pattern, segments, strict=True):
            if part.startswith("{"):
                params[part[1:-1]] = segment
            elif part != segment:
                return None
        return params


class Router:
    """Finds the route of a request: 404 for a path no route has, 405
    (with ``Allow``) for a method the path does not take."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = tuple(routes)

    def find(self, request: Request) -> tuple[Route, dict[str, str]]:
        allowed: list[str] = []
        for route in self.routes:
            params = route.match(request.segments)
            if params is None:
                continue
            if route.method == request.method:
                unknown = sorted(set(request.query) - set(route.query))
                if unknown:
                    raise bad_request(f"unknown query parameter(s): {', '.join(unknown)[:200]}")
                return route, params
            allowed.append(route.method)
        if not allowed:
            raise HttpError(404, "not_found", "no such route")
        raise HttpError(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed here; allowed: {', '.join(allowed)}",
            [("Allow", ", ".join(allowed))],
        )
