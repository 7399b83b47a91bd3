"""Window attribution as one family: which LR pixels does an SR network use for one output window?

Every member answers it its own way and returns the same kind of result (``.map`` LR-shaped in [0, 1],
``.gini``, ``.diffusion_index``, ``.attribution`` ``[3, h, w]``, ``.completeness`` where defined), through one entry
point, :func:`attribute` (also ``srwidgets.attribute``):

====================  ============================================================================================
``lam``               LAM (Gu & Dong, CVPR 2021): integrated gradients along a progressive blur; the default
``ig``                integrated gradients from a baseline: black, uniform, gaussian, blurred, max_distance, expected
``gradient``          gradient saliency at the input (map ``max_c |∇|``)
``erf``               the effective receptive field (map ``Σ_c |∇|``)
``smoothgrad``        SmoothGrad over any member (``inner=``), seeded
``cem``               Causal Effect Maps (Hu et al., TPAMI 2025): interventions on input blocks, the window's PSNR
                      against the HR image (``hr=``); no gradients
``occlusion``         occlusion (Zeiler & Fergus 2014): an LR square filled with a constant, the objective's change
``input_x_gradient``  ``x ⊙ ∇_x D`` (Shrikumar et al. 2016)
``gradcam``           Grad-CAM (Selvaraju et al. 2017) at a layer (``layer=``): channel-mean gradient weights; not local
``hirescam``          HiResCAM (Draelos & Carin 2020): element-wise gradient × activation; local
``captum``            any ``captum.attr`` algorithm (``algorithm=``) on the window objective, crop and result type
====================  ============================================================================================

Adding a method is one file and one line: subclass :class:`WindowMethod` (it prepares the model, checks inputs,
offers the primitives — input gradients, forward-only objective values, a layer's activation and gradient — in
memory-sized chunks on the verified receptive-field crop, and builds the result), declare its knobs
(:class:`Knob`) and capabilities, then ``register("name", MyMethod)`` (or an entry point in the group
``srwidgets.methods``). The runtime names a member may use are public:
:mod:`srwidgets.engine` (``windows``, ``objectives``, ``prepare``, ``results``, ``inputs``, ``chunks``).
"""
from ..engine.results import MAP_RULES, WindowAttribution
from .base import LayerGradients, LazyInputs, WindowMethod
from .cem import CEMMethod
from .erf import ERF
from .gradient import Gradient
from .ig import BASELINES, IntegratedGradients
from .knobs import KINDS, NOT_KNOBS, Knob, accepted_arguments, check_knobs, knobs_of, window_grid
from .lam import LAMMethod
from .registry import attribute, engine, members, method_class, methods, plugin_errors, plugins, register, unregister
from .smoothgrad import SmoothGrad
from .occlusion import Occlusion
from .input_x_gradient import InputXGradient
from .gradcam import GradCAM
from .hirescam import HiResCAM
from .captum_adapter import CaptumMethod

register("lam", LAMMethod)
register("ig", IntegratedGradients)
register("gradient", Gradient)
register("erf", ERF)
register("smoothgrad", SmoothGrad)
register("cem", CEMMethod)
register("occlusion", Occlusion)
register("input_x_gradient", InputXGradient)
register("gradcam", GradCAM)
register("hirescam", HiResCAM)
register("captum", CaptumMethod)

__all__ = ["attribute", "register", "unregister", "methods", "members", "method_class", "engine", "plugins",
           "plugin_errors", "Knob", "KINDS", "NOT_KNOBS", "knobs_of", "check_knobs", "accepted_arguments", "window_grid",
           "WindowMethod", "WindowAttribution",
           "LazyInputs", "MAP_RULES", "BASELINES", "LAMMethod", "IntegratedGradients", "Gradient", "ERF", "SmoothGrad",
           "CEMMethod",
           "Occlusion", "InputXGradient", "GradCAM", "HiResCAM", "CaptumMethod", "LayerGradients"]
