"""Threat intelligence, the pure part: feed formats to SourceVerdicts, decay and the combined verdict."""
