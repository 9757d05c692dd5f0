"""`python -m llmpulse` runs the CLI."""

from llmpulse.cli.main import app

app()
