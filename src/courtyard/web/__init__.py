"""The server-rendered web client (Jinja2 + htmx) and the operator consoles."""
