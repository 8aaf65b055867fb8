"""Request parameters the way Mastodon clients send them.

The same endpoint may receive a query string, an urlencoded form, a multipart form or a
JSON body, with arrays spelled ``media_ids[]=1&media_ids[]=2`` (or a JSON list) and
nested records spelled ``fields_attributes[0][name]=...`` or
``media_attributes[][id]=...``. :class:`Params` reads all of them and gives typed values;
a value of the wrong type is a 422 naming the parameter, before anything is changed.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request

from tessera.errors import InvalidInput

_TRUE = {"true", "1", "t", "on", "yes", "y"}
_FALSE = {"false", "0", "f", "off", "no", "n", ""}
_NESTED = re.compile(r"^([A-Za-z_]+)\[(\d*)\]\[([A-Za-z_]+)\]$")


class Params:
    def __init__(self, items: list[tuple[str, Any]], body: dict[str, Any] | None = None) -> None:
        self.items = items
        self.body = body or {}

    @classmethod
    async def read(cls, request: Request, *, max_files: int = 0) -> Params:
        items: list[tuple[str, Any]] = list(request.query_params.multi_items())
        body: dict[str, Any] | None = None
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            ctype = request.headers.get("content-type", "").lower()
            if "json" in ctype:
                raw = await request.body()
                if raw.strip():
                    try:
                        parsed = json.loads(raw)
                    except ValueError:
                        raise InvalidInput(
                            "The request body is not valid JSON.", status=400
                        ) from None
                    if not isinstance(parsed, dict):
                        raise InvalidInput("The request body must be a JSON object.", status=400)
                    body = parsed
            elif "form" in ctype:
                form = await request.form(
                    max_files=max_files, max_fields=1000, max_part_size=1024 * 1024
                )
                items.extend(form.multi_items())
        return cls(items, body)

    # --- raw access ----------------------------------------------------------------------

    def _values(self, name: str) -> list[Any]:
        if name in self.body:
            value = self.body[name]
            return list(value) if isinstance(value, list) else [value]
        if f"{name}[]" in self.body:
            value = self.body[f"{name}[]"]
            return list(value) if isinstance(value, list) else [value]
        return [v for k, v in self.items if k in (name, f"{name}[]")]

    def has(self, name: str) -> bool:
        return bool(self._values(name))

    def _one(self, name: str) -> Any:
        values = self._values(name)
        return values[-1] if values else None

    # --- typed values --------------------------------------------------------------------

    def text(
        self, name: str, default: str | None = None, *, max_length: int = 100_000
    ) -> str | None:
        value = self._one(name)
        if value is None:
            return default
        if isinstance(value, bool | UploadFile):
            raise InvalidInput(f"{name} must be text.")
        if isinstance(value, int | float):
            value = str(value)
        if not isinstance(value, str):
            raise InvalidInput(f"{name} must be text.")
        if len(value) > max_length:
            raise InvalidInput(f"{name} is longer than {max_length} characters.")
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        value = self._one(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise InvalidInput(f"{name} must be true or false.")

    def number(
        self, name: str, default: int | None = None, *, lo: int = 0, hi: int = 2**63 - 1
    ) -> int | None:
        value = self._one(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            raise InvalidInput(f"{name} must be a whole number.")
        text = str(value).strip()
        if not re.fullmatch(r"-?[0-9]{1,19}", text):  # \d would take non-ASCII digits
            raise InvalidInput(f"{name} must be a whole number.")
        number = int(text)
        if not lo <= number <= hi:
            raise InvalidInput(f"{name} must be between {lo} and {hi}.")
        return number

    def id(self, name: str) -> int | None:
        """An id parameter (ids are strings of digits in the API)."""
        return self.number(name, None, lo=0)

    def many(self, name: str, *, max_items: int = 100) -> list[str]:
        values = self._values(name)
        if len(values) > max_items:
            raise InvalidInput(f"{name} has more than {max_items} values.")
        out = []
        for value in values:
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise InvalidInput(f"{name} must be a list of text values.")
            out.append(str(value))
        return out

    def file(self, name: str) -> UploadFile | None:
        value = self._one(name)
        if value is None or (isinstance(value, str) and value == ""):
            return None
        if not isinstance(value, UploadFile):
            raise InvalidInput(f"{name} must be a file upload.")
        return value

    def records(self, name: str, *, max_items: int = 20) -> list[dict[str, Any]]:
        """Nested records: a JSON list/dict of objects, or ``name[i][key]`` form fields
        (``name[][key]`` starts a new record whenever a key repeats)."""
        if name in self.body:
            raw = self.body[name]
            values = list(raw.values()) if isinstance(raw, dict) else raw
            if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
                raise InvalidInput(f"{name} must be a list of objects.")
            records = values
        else:
            indexed: dict[str, dict[str, Any]] = {}
            sequential: list[dict[str, Any]] = []
            for key, value in self.items:
                match = _NESTED.match(key)
                if not match or match.group(1) != name:
                    continue
                index, field = match.group(2), match.group(3)
                if index:
                    indexed.setdefault(index, {})[field] = value
                else:
                    if not sequential or field in sequential[-1]:
                        sequential.append({})
                    sequential[-1][field] = value
            records = [indexed[k] for k in sorted(indexed, key=int)] + sequential
        if len(records) > max_items:
            raise InvalidInput(f"{name} has more than {max_items} entries.")
        return records

    def nested_value(self, group: str, key: str) -> Any:
        """``source[privacy]`` as a form key, or ``{"source": {"privacy": ...}}`` in JSON."""
        if isinstance(self.body.get(group), dict):
            return self.body[group].get(key)
        found = [v for k, v in self.items if k == f"{group}[{key}]"]
        return found[-1] if found else None
