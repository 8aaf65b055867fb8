"""The URLs of local objects: one place that knows how ids and pages are spelled.

ActivityPub ids are permanent, so these must never change once an instance federates.
"""

from __future__ import annotations

from urllib.parse import quote


class Urls:
    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")

    def actor(self, username: str) -> str:
        return f"{self.base}/users/{username}"

    def key_id(self, username: str) -> str:
        return f"{self.actor(username)}#main-key"

    def inbox(self, username: str) -> str:
        return f"{self.actor(username)}/inbox"

    def outbox(self, username: str) -> str:
        return f"{self.actor(username)}/outbox"

    def followers(self, username: str) -> str:
        return f"{self.actor(username)}/followers"

    def following(self, username: str) -> str:
        return f"{self.actor(username)}/following"

    def shared_inbox(self) -> str:
        return f"{self.base}/inbox"

    def profile(self, username: str) -> str:
        return f"{self.base}/@{username}"

    def post_id(self, username: str, post_id: int) -> str:
        return f"{self.actor(username)}/statuses/{post_id}"

    def post_page(self, username: str, post_id: int) -> str:
        return f"{self.base}/@{username}/{post_id}"

    def tag(self, name: str) -> str:
        return f"{self.base}/tags/{quote(name.lower())}"

    def tags_base(self) -> str:
        return f"{self.base}/tags"

    def media(self, key: str) -> str:
        return f"{self.base}/media/{key}"
