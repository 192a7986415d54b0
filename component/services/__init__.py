"""Services: what the API does, free of HTTP and sockets (they take small Protocols)."""
