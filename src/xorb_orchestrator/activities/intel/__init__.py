"""Threat-intelligence activities: feed syncs (feed_sync.py) and indicator lookups for enrichment."""
