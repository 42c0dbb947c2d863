"""The Typer + rich command line: parses, builds Settings, calls runtime or a service, renders."""
