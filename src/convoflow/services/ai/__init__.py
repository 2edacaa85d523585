"""AI use-cases: the project's provider models (`provider_models`)."""
