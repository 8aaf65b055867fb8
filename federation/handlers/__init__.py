"""Handlers for stored incoming activities, one module per family of activity types.

Each handler takes an :class:`~federation.handlers.base.InboxContext` and returns
``"done"`` or ``"ignored"``; anything worth retrying (a peer that timed out) raises.
Network work (fetching actors, objects, images) happens before the handler opens its one
write transaction, so SQLite's single writer is never held across a request.
"""
