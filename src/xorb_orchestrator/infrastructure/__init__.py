"""The outside world: Temporal, Redis, HTTP, metrics, logging and the embedded dev stack."""
