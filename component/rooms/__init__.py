"""The group model: rooms, members, options (values), and the typed room requests."""
