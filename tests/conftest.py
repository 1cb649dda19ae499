"""Shared fixtures for the whole suite: the OPA helpers (`opa_on_path`, `opa_server`, `opa_url`)."""

pytest_plugins = ["tests.fixtures.opa"]
