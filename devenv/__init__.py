"""Development and test environment: throw-away XMPP servers on loopback, and the demo.

Nothing here is part of the daemon. `devenv.ejabberd` runs an isolated Debian ejabberd (one per
test session), `devenv.demo` wires it to the daemon for a manual try-out.
"""
