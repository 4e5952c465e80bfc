"""The control loop: snapshot -> plan -> record intents -> act (clouds, pool) -> finish (forget, sample)."""
