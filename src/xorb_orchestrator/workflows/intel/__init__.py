"""Threat-intelligence workflows: one feed's sync."""
