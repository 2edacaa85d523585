"""Project functions: CRUD and invocation of the HTTP endpoints a project hosts."""
