"""Conversation test suites (`convoflow test`): YAML cases run against the real engine
in-process (throwaway SQLite, sandbox channel, a clock the suite moves) or against a
running server through its public API. model (the file), drivers (local / remote),
matcher (expectations and their diffs), runner, reporters (console, JUnit)."""
