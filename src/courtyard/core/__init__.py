"""Cross-cutting infrastructure: settings, database, bus, ids, errors, clock."""
