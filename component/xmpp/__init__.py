"""Everything that touches the XEP-0114 socket and XML lives in this package."""
