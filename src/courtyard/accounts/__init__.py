"""Accounts: registration, sessions, two-factor, profiles, standing and verification."""
