"""Whether this process can serve: its database probe (what `GET /healthz` answers)."""
