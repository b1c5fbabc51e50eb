"""Territoria: self-hosted AI platform for French local public administrations."""

__version__ = "0.1.0"
