"""The server: settings, the Starlette app factory, seed data and the ``objectql`` CLI.

Entry points: :func:`objectql.server.app.create_app`, :class:`objectql.server.settings.Settings` and
:func:`objectql.server.cli.main`. Nothing is imported here, so the CLI's offline commands do not load
the web stack.
"""
