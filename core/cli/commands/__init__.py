"""The CLI's commands, by topic: each parses nothing, calls the engine and returns the JSON result."""
