"""PostgreSQL access: the embedded server, the pool, migrations and repositories."""
