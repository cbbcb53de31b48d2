"""For development and trying things out: the embedded dev stack and the webhook sink."""
