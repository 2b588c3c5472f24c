"""Delivery: the openlineage-python client, the emitter that never fails the pipeline, spool and replay.

Event building hands finished RunEvents to `get_emitter().emit(...)`; nothing here knows about pandas.
"""

from openlineage_pandas.delivery.emitter import Emitter, get_emitter, set_emitter

__all__ = ["Emitter", "get_emitter", "set_emitter"]
