"""The database layer: engines and sessions, the SQLite writer queue, the tables
and their migrations. It knows no domain rule."""
