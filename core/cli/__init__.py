"""The ``superhf`` command: the headless interface, and the engine process the desktop app
starts for model work."""
