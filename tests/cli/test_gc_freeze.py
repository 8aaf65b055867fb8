"""``tessera serve`` hides what start-up made from the cyclic garbage collector."""

from __future__ import annotations

import gc

from tessera.serving import freeze_startup_objects


def test_startup_objects_are_frozen_out_of_collections() -> None:
    class Cycle:
        def __init__(self) -> None:
            self.me = self

    keep = Cycle()  # made "at start-up": must not be walked by later collections
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    gc.disable()  # as tessera serve is while it starts
    try:
        freeze_startup_objects()
        assert gc.isenabled()  # collection is back on for what the server makes
        frozen = gc.get_freeze_count()
        assert frozen > 0
        gc.collect()
        assert gc.get_freeze_count() == frozen
        assert not any(o is keep for o in gc.get_objects())  # out of every generation
    finally:
        gc.unfreeze()
        gc.enable()
    assert any(o is keep for o in gc.get_objects())
