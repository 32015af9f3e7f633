"""mailbridge: an email-driven IT service desk daemon."""

__all__ = ["__version__"]

__version__ = "0.1.0"
