from .errors import *  # noqa: F403  (placeholder until the public API lands)
