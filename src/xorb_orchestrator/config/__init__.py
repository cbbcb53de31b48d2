"""Settings from the environment. Nothing else in the package reads os.environ."""

from xorb_orchestrator.config.settings import Settings, SettingsError, load_settings

__all__ = ["Settings", "SettingsError", "load_settings"]
