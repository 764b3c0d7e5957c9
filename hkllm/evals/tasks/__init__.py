"""Built-in benchmark tasks, one module per benchmark. Each registers itself on import, as a plugin would."""
