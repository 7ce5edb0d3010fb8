from editor.testing import plugin_manager, registered_plugin  # noqa: F401 - fixtures trackedit ships
