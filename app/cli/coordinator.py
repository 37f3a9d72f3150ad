"""The live side a foreground command needs: the hub (embedded if so configured and free),
ingest and the job launcher."""

from __future__ import annotations

import time

from app.cli.context import CliContext
from app.errors import InvalidInput


class Coordinator:
    """The hub (embedded if so configured), ingest and launcher, for a foreground command."""

    def __init__(self, ctx: CliContext, standby: bool = False, serve: bool = True) -> None:
        """`standby`: a command that starts runs as it goes (the scheduler, a flow) keeps
        a warm server process for the next one. `serve=False`: the hub only, until
        `serve_here()` (a command that may hand its run to a running center)."""
        from app.backends.embedded import connect_joined, start_or_join
        from app.backends.factory import create_hub
        from app.services.security.hub_access import HubAccess
        from app.wire.hub import HubError
        from app.wire.transports import client_url, embeddable, embedded_kind

        hub_url = ctx.settings.hub_url
        self.ctx, self.standby = ctx, standby
        self.embedded = self.ingest = self.launcher = self.desk = None
        kind = embedded_kind(hub_url)
        if kind is not None and not kind.crosses_processes:
            served = " or ".join(
                f"embedded://{n}" for n, t in embeddable().items() if t.crosses_processes
            )
            raise InvalidInput(
                f"{hub_url} is in-process: it cannot reach edge processes; use {served}"
            )
        if kind is not None:  # None: a control center already serves the port; join it
            access = HubAccess.for_settings(ctx.services.db, ctx.settings)
            self.embedded = start_or_join(kind.name, ctx.settings.wire, access)
        self.url = client_url(hub_url)
        token = ctx.settings.hub_token
        self.hub = create_hub(
            self.url, f"cli-{int(time.time())}", token=token, limits=ctx.settings.wire
        )
        try:
            connect_joined(self.hub, hub_url, self.embedded)
        except HubError:
            self.close()
            raise
        if serve:
            self.serve_here()

    def serve_here(self) -> None:
        from app.services.runs.ingest import IngestService
        from app.services.runs.launcher import JobLauncher

        self.ingest = IngestService(self.ctx.services.db, self.hub).start()
        self.launcher = JobLauncher(
            self.ctx.services,
            self.ctx.settings,
            self.hub,
            self.url,
            events=self.ingest.events,
            standby=self.standby,
        )

    def take_launch_requests(self) -> None:
        """Start the runs FedDeck commands ask for (a long-lived center: the scheduler)."""
        from app.services.runs.launch_requests import LaunchDesk

        self.desk = LaunchDesk(self.hub, self.ctx.services, self.launcher.start)

    def close(self) -> None:
        if self.desk is not None:
            self.desk.close()
        if self.launcher is not None:
            self.launcher.shutdown()
        if self.ingest is not None:
            self.ingest.settle(quiet_s=0.3, timeout=10)  # last words crossing the hub
            self.ingest.stop()
        self.hub.close()
        if self.embedded is not None:
            self.embedded.stop()
