"""The bad-input sweep (issue 24): every public entry point walked with each
kind of bad input. Each must be refused with a ``ZartError``, ``ValueError``
or ``TypeError`` (an HTTP 4xx, a CLI exit 2) whose message names the culprit
and what was wrong with it, and must leave nothing stored changed.

``cases`` holds the bad inputs as tables; each module crosses them with the
entry points of one surface: authoring (decorators, commands, policies,
configs, URLs), ``Client``, ``TestEnv``, names full of SQL metacharacters
(which must work), the command line and the HTTP API.
"""
