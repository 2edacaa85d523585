"""Executions: start, resume, status, reads (with `Idempotency-Key`), project-event observers."""
