"""Settings from the environment. Nothing else in the package reads os.environ, except the resolution of
secret references (`env:NAME`) at the moment of use (infrastructure/secrets.py)."""

from xorb_orchestrator.config.settings import Settings, SettingsError, load_settings

__all__ = ["Settings", "SettingsError", "load_settings"]
