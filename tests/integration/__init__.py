"""Tests against a real ejabberd (started once per session by `conftest.ejabberd`)."""
