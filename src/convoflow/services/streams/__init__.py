"""Live streams (the API's server-sent events): what changed in an execution, a
conversation or a project's inbox, as it is committed (`follow.py`: the loop; `feeds.py`:
what each stream reads)."""
