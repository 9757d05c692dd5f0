"""The `llmpulse` command."""

from __future__ import annotations

import typer

from llmpulse import __version__
from llmpulse.cli.alerts import alerts_app
from llmpulse.cli.governance import set_retention, users_app
from llmpulse.cli.keys import keys_app, projects_app
from llmpulse.cli.lake import lake_app
from llmpulse.cli.pricing import pricing_app
from llmpulse.cli.probe import probe
from llmpulse.cli.proxy import proxy
from llmpulse.cli.quality import quality
from llmpulse.cli.serve import demo, serve
from llmpulse.cli.simulate import simulate
from llmpulse.cli.social import social_app

app = typer.Typer(
    name="llmpulse",
    help="LLMPulse: LLM telemetry and analytics on ClickHouse, in one process.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(serve)
app.command()(simulate)
# The short name the docs of the social stream use.
app.command("sim", help="Same as simulate.", hidden=True)(simulate)
app.command()(demo)
app.command()(proxy)
app.command()(probe)
app.command()(quality)
app.add_typer(projects_app, name="projects")
app.add_typer(keys_app, name="keys")
app.add_typer(alerts_app, name="alerts")
app.add_typer(pricing_app, name="pricing")
app.add_typer(lake_app, name="lake")
app.add_typer(users_app, name="users")
app.add_typer(social_app, name="social")
projects_app.command("set-retention")(set_retention)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)
