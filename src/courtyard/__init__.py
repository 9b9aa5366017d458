"""Courtyard: a self-hostable social platform with transparent governance."""

__version__ = "0.1.0"
