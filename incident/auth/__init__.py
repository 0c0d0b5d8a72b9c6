"""People: departments, users, roles, login and API tokens."""
