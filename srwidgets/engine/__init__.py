"""The engine runtime: what every attribution engine (LAM, DDR, FAIG, ...) needs, with no method in it.

=================  ==========================================================================================
``devices``        :func:`parse_device`, :func:`resolve_device` (the device, and the model placed there)
``guard``          :func:`guarded`: eval mode, frozen parameters, modes / flags / buffers restored afterwards
``inputs``         :func:`image_tensor`, :func:`check_int`, :func:`check_number`, :func:`check_choice`, ...
``memory``         :func:`saved_bytes` meter, :func:`estimate_chunk`, :func:`ensure_fits`
``chunks``         :func:`run_chunks`: cancel → size → run → progress, the loop of every engine
``cache``          :class:`LRUCache` and :func:`model_key` / :func:`cache_key` (weights **and** buffers, image digest)
=================  ==========================================================================================
"""
from .cache import LRUCache, cache_key, image_digest, model_key
from .chunks import run_chunks
from .devices import model_device, parse_device, resolve_device
from .guard import explain_model_error, frozen, guarded
from .inputs import VALUE_TOLERANCE, check_choice, check_int, check_number, check_seed, image_tensor
from .memory import available_bytes, ensure_fits, estimate_chunk, saved_bytes

__all__ = ["LRUCache", "cache_key", "image_digest", "model_key", "run_chunks", "model_device", "parse_device",
           "resolve_device", "frozen", "guarded", "explain_model_error", "VALUE_TOLERANCE", "check_choice", "check_int", "check_number",
           "check_seed", "image_tensor", "available_bytes", "ensure_fits", "estimate_chunk", "saved_bytes"]
