"""Decisions as plain functions from facts: enrichment facts, the response plan, playbook selection. Pure."""
