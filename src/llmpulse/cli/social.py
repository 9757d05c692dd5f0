"""`llmpulse social consume`: posts from a RabbitMQ queue into a running server."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from llmpulse.bus.amqp import BusError, dead_name
from llmpulse.cli.common import console, fail, print_rejections
from llmpulse.cli.remote import DEFAULT_URL, Key, Url
from llmpulse.sim.sender import EventSender, SendError
from llmpulse.social.consume import ConsumeError, Consumer
from llmpulse.social.follow import Follower, FollowError

social_app = typer.Typer(
    help="Social posts: from a RabbitMQ queue or an X filtered stream.", no_args_is_help=True
)


@social_app.command()
def consume(
    amqp: Annotated[
        str,
        typer.Option(
            envvar="LLMPULSE_AMQP", help="RabbitMQ, e.g. amqp://guest:guest@127.0.0.1:5672/"
        ),
    ] = "amqp://guest:guest@127.0.0.1:5672/",
    queue: Annotated[
        str, typer.Option(help="The durable queue of posts (declared if missing).")
    ] = "posts",
    url: Url = DEFAULT_URL,
    api_key: Key = None,
    batch_size: Annotated[
        int, typer.Option(min=1, max=1000, help="Messages per request to the server.")
    ] = 500,
    classify_with: Annotated[
        str | None,
        typer.Option(
            help="Also label each post's sentiment and topic with this model, through an "
            "OpenAI-compatible endpoint (--llm-base-url); the calls are LLM events of the project."
        ),
    ] = None,
    llm_base_url: Annotated[
        str | None,
        typer.Option(
            help="OpenAI-compatible base URL for --classify-with: LLMPulse's proxy "
            "(llmpulse proxy) or any provider's, e.g. http://127.0.0.1:8787/v1."
        ),
    ] = None,
    llm_api_key: Annotated[
        str, typer.Option(envvar="OPENAI_API_KEY", help="The key for --llm-base-url.")
    ] = "unused",
    exit_when_idle: Annotated[
        float | None, typer.Option(help="Stop after the queue stayed empty this many seconds.")
    ] = None,
) -> None:
    """Send the posts of a RabbitMQ queue to the server, acking each batch once the server
    has it durably. Bad messages go to QUEUE.dead with the reason; Ctrl-C stops after the
    batch in hand."""
    classifier = None
    if classify_with and not llm_base_url:
        raise fail("--classify-with needs --llm-base-url: an OpenAI-compatible endpoint")
    if classify_with and llm_base_url:
        import llmpulse
        from llmpulse.social.classify import Classifier

        llmpulse.init(endpoint=url, api_key=api_key)
        classifier = Classifier(classify_with, llm_base_url, llm_api_key)
    consumer = Consumer(amqp, queue, url, api_key, batch_size=batch_size, classify=classifier)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await consumer.run(stop, exit_when_idle)

    console.print(f"consuming {queue!r} into {url} (dead letters: {dead_name(queue)!r})")
    try:
        asyncio.run(main())
    except (BusError, ConsumeError) as exc:
        raise fail(str(exc)) from None
    finally:
        if classifier is not None:
            classifier.close()
            import llmpulse

            llmpulse.shutdown()
    stats = consumer.stats
    console.print(
        f"messages {stats.messages}: posts sent {stats.posts_sent}, accepted {stats.accepted}, "
        f"dead-lettered {stats.dead_lettered}, classified {stats.classified}, "
        f"retries {stats.retries}"
    )
    for reason in stats.errors[-5:]:
        console.print(f"  dead-lettered: {reason}", highlight=False)


@social_app.command()
def follow(
    stream: Annotated[
        str,
        typer.Argument(
            help="The stream, e.g. https://api.x.com/2/tweets/search/stream?tweet.fields="
            "created_at,public_metrics,entities,lang,author_id&expansions=author_id"
            "&user.fields=public_metrics,verified"
        ),
    ],
    bearer: Annotated[
        str | None, typer.Option(envvar="X_BEARER_TOKEN", help="The stream's bearer token.")
    ] = None,
    url: Url = DEFAULT_URL,
    api_key: Key = None,
    batch_size: Annotated[int, typer.Option(min=1, max=1000, help="Posts per request.")] = 500,
    exit_at_end: Annotated[
        bool, typer.Option(help="Stop when the stream ends instead of reconnecting.")
    ] = False,
) -> None:
    """Send an X API v2 filtered stream (one post per line) to the server as it comes,
    in batches; reconnects with backoff when the connection drops."""
    sender = EventSender(url, api_key, path="/v1/social/posts")
    follower = Follower(stream, bearer, sender, batch_size=batch_size, reconnect=not exit_at_end)
    console.print(f"following {stream} into {url}")
    try:
        follower.run()
    except (FollowError, SendError) as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        pass
    finally:
        sender.close()
    stats = sender.stats
    console.print(
        f"lines {follower.lines}: posts accepted {stats.accepted}, rejected {stats.rejected}, "
        f"reconnects {follower.reconnects}, retries {stats.retries}"
    )
    print_rejections(stats.errors)
