"""The model protocol (:class:`SplitTail`, :class:`RegionFeatures`, :class:`FeatureLayers`, :func:`feature_layers`):
what an engine may ask of a model beyond ``forward``. It lives in the runtime, :mod:`srwidgets.engine.protocol`
(engines read it, so the runtime needs no model catalogue); model authors import it from here or there alike.

Example:
    >>> from srwidgets.models import build
    >>> from srwidgets.models.protocol import SplitTail, feature_layers
    >>> model = build("EDSR", num_feat=8, num_block=2, upscale=2)
    >>> isinstance(model, SplitTail), [name for name, _ in feature_layers(model)]
    (True, ['body.0', 'body.1', 'conv_after_body'])
"""
from ..engine.protocol import FeatureLayers, RegionFeatures, SplitTail, feature_layers

__all__ = ["SplitTail", "RegionFeatures", "FeatureLayers", "feature_layers"]
