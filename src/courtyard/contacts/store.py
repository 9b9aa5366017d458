"""Contacts tables."""
