"""Temporal activities: every side effect lives here. Thin: they call infrastructure/ and services/."""
