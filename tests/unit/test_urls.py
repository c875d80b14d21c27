"""Passwords never reach a message or a log line, in any form libpq reads."""

from __future__ import annotations

import pytest

import zart
from zart.urls import redact


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://ann:s3cret@db/app", "postgresql://ann:***@db/app"),
        ("postgres://ann:s3cret@db:5432/app?schema=z", "postgres://ann:***@db:5432/app?schema=z"),
        ("postgresql://:s3cret@db/app", "postgresql://:***@db/app"),
        # An unescaped "@" or "/" in the password: hidden whole.
        ("postgresql://ann:top@s3cret@db/app", "postgresql://ann:***@db/app"),
        ("postgresql://ann:top/s3cret@db/app", "postgresql://ann:***@db/app"),
        # libpq also takes it from the query...
        ("postgresql://ann@db/app?password=s3cret", "postgresql://ann@db/app?password=***"),
        (
            "postgresql://db/app?sslpassword=s3cret&user=ann",
            "postgresql://db/app?sslpassword=***&user=ann",
        ),
        # ...and from a key=value conninfo string, quoted or not.
        ("host=db password=s3cret user=ann", "host=db password=*** user=ann"),
        ("host=db password = 'top s3cret' user=ann", "host=db password = *** user=ann"),
        # Nothing to hide: unchanged.
        ("postgresql://ann@db/app", "postgresql://ann@db/app"),
        ("postgresql://db/app?x=a:b@c", "postgresql://db/app?x=a:b@c"),
        ("sqlite:///zart.db", "sqlite:///zart.db"),
    ],
)
def test_redact_hides_every_password_form(url: str, shown: str) -> None:
    assert redact(url) == shown
    assert "s3cret" not in redact(url)


def test_a_conninfo_string_given_as_a_url_is_refused_without_its_password() -> None:
    with pytest.raises(zart.StoreError) as info:
        zart.connect("host=db password=s3cret")
    assert "unknown database URL scheme in 'host=db password=***'" in str(info.value)
    assert "s3cret" not in str(info.value)
