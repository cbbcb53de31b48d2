"""Response actions: one module per action family, each an activity named by its action."""
