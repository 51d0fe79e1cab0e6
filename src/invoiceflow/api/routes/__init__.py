"""One router module per resource; each route declares its permission (api/permissions.py)."""
