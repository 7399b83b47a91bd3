"""CARN-M, the mobile CARN: its family entry for the registry (``load`` / ``build("CARN-M", ...)``). The network
and its detection live in :mod:`srwidgets.models.carn`, beside CARN's."""
from __future__ import annotations

from .carn import ARCH_M as ARCH
from .carn import CARNM, convert, value_range
from .carn import detect_mobile as detect

MODEL = CARNM

__all__ = ["ARCH", "MODEL", "CARNM", "convert", "detect", "value_range"]
