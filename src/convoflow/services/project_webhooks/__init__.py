"""Project webhooks: their configuration, the events that create deliveries, and sending them."""
