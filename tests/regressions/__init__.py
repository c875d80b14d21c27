"""Regression tests: each guards a defect found outside the test suite (a
probe, a bug report) and names it in its docstring."""
