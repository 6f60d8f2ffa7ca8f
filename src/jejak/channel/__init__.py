"""Fingerprint channels: how a release carries its recipient's secret marks.

Each channel is one module with embed and read side by side. For a cell, the channel computes
from the *registry* value alone how many equivalent renderings ``m`` the cell allows; the
release's symbol is ``AES_key(row digest) mod m`` and the released value is rendering number
``symbol``. An innocent release's symbol is uniform on ``m`` values and independent of a leak,
so a leaked cell agrees with it with probability exactly ``1/m``: the basis of the
false-accusation bound.

Robust channels (``ts_jitter``, ``amount_digits``, canaries) survive a leaker who normalises
everything; format channels (``phone_format``, ``email_case``) carry marks in equivalent
renderings and are lost to normalisation, which the reader detects.
"""

from jejak.channel.base import CHANNELS, Channel, MarkResult, Policy, embed_release

__all__ = ["CHANNELS", "Channel", "MarkResult", "Policy", "embed_release"]
