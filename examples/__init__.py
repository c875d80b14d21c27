"""Runnable zart examples, one workflow pattern per module.

Run one with ``python -m examples.onboarding [DATABASE_URL]`` (default
``sqlite:///zart-example.db``; ``memory://`` works too).
"""
