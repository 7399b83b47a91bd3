"""The engine runtime: what every attribution engine (LAM, DDR, FAIG, ...) needs, with no method in it.

=================  ==========================================================================================
``devices``        :func:`parse_device`, :func:`resolve_device` (the device, and the model placed there)
``guard``          :func:`guarded`: eval mode, frozen parameters, modes / flags / buffers restored afterwards
``inputs``         :func:`image_tensor`, :func:`check_int`, :func:`check_number`, :func:`check_choice`, ...
``memory``         :func:`saved_bytes` meter, :func:`estimate_chunk`, :func:`ensure_fits`
``chunks``         :func:`run_chunks`: cancel → size → run → progress, the loop of every engine
``outputs``        :func:`check_output`: an output path is never an input, checked before computing
``cache``          :class:`LRUCache` and :func:`model_key` / :func:`cache_key` (weights **and** buffers, image digest)
=================  ==========================================================================================
"""
from .cache import LRUCache, cache_key, image_digest, model_key
from .chunks import run_chunks
from .devices import model_device, parse_device, resolve_device
from .guard import explain_model_error, frozen, guarded
from .inputs import MAX_STEPS, VALUE_TOLERANCE, check_choice, check_int, check_memory_budget, check_number, check_seed, check_steps, image_tensor
from .outputs import check_distinct_outputs, check_output, same_file
from .memory import available_bytes, ensure_fits, estimate_chunk, saved_bytes

__all__ = ["LRUCache", "cache_key", "image_digest", "model_key", "run_chunks", "model_device", "parse_device",
           "resolve_device", "frozen", "guarded", "explain_model_error", "VALUE_TOLERANCE", "check_choice", "check_int", "check_number",
           "check_seed", "check_steps", "check_memory_budget", "MAX_STEPS", "image_tensor", "check_output", "check_distinct_outputs", "same_file", "available_bytes", "ensure_fits", "estimate_chunk", "saved_bytes"]
