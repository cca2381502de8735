"""Fixtures of the CLI tests."""

from tests.estimator.target_standin import series  # noqa: F401  (a fixture)
