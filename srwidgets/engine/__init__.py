"""The engine runtime: what every attribution engine (LAM, DDR, FAIG, the window-attribution family, CEM, trust)
needs, with no method in it.

=================  ==========================================================================================
``prepare``        :func:`prepare_model`: device, scale, dtype and the shape probe; :func:`model_errors`;
                   :class:`PreparedModel` (``forward`` / ``super_resolve``, guarded, errors in plain words)
``windows``        windows in SR pixels (validate, clip), the verified receptive field, LR crop boxes, ``paste``
``objectives``     window objectives: LAM's :func:`gradient_detector` and :data:`OBJECTIVES` (register your own)
``forward``        :func:`window_forward`: ``F(x)``, or for split-tail models only the SR patch the windows read
``results``        :class:`WindowAttribution` (what every window method returns) and the map rules
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
from .forward import window_forward
from .objectives import OBJECTIVES, get_objective, gradient_detector, gradient_magnitude, register_objective
from .prepare import PreparedModel, model_errors, prepare_model
from .results import MAP_RULES, WindowAttribution
from .windows import clip_window, crop_box, measure_receptive_field, paste, validate_window
from .chunks import run_chunks
from .devices import model_device, parse_device, resolve_device
from .guard import explain_model_error, frozen, guarded
from .inputs import MAX_STEPS, VALUE_TOLERANCE, check_choice, check_int, check_memory_budget, check_number, check_seed, check_steps, image_tensor
from .outputs import check_distinct_outputs, check_output, free_name, same_file
from .memory import available_bytes, ensure_fits, estimate_chunk, saved_bytes

__all__ = ["prepare_model", "PreparedModel", "model_errors", "window_forward", "OBJECTIVES", "get_objective", "gradient_detector",
           "gradient_magnitude", "register_objective", "WindowAttribution", "MAP_RULES", "validate_window",
           "clip_window", "measure_receptive_field", "crop_box", "paste", "LRUCache", "cache_key", "image_digest", "model_key", "run_chunks", "model_device", "parse_device",
           "resolve_device", "frozen", "guarded", "explain_model_error", "VALUE_TOLERANCE", "check_choice", "check_int", "check_number",
           "check_seed", "check_steps", "check_memory_budget", "MAX_STEPS", "image_tensor", "check_output", "check_distinct_outputs", "same_file", "free_name", "available_bytes", "ensure_fits", "estimate_chunk", "saved_bytes"]
