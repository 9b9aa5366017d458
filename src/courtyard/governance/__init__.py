"""Governance: decisions over every write, account capabilities, the audit log."""
