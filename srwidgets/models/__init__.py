"""SR architectures, checkpoint loading and model checks.

``load(path)`` reads a public checkpoint (plain state dict, or wrapped in ``{"params": ...}`` /
``{"params_ema": ...}`` / ``{"state_dict": ...}``), detects the architecture and its width, depth and scale from
the parameter names and shapes, and returns the model in eval mode. Checkpoint families that load:

========== =========================================================================================
FSRCNN     3-channel FSRCNN with the common ``first_part/mid_part/last_part`` naming (scale from the
           file name ``x2/x3/x4`` or ``scale=``, since a transposed conv does not record its stride)
EDSR       BasicSR naming (``conv_first``, ``body.N.conv1``, ``upsample``...), e.g. ``EDSR_Mx4_f64b16``,
           ``EDSR_Lx4_f256b32``; and the official EDSR-PyTorch naming (``head``, ``body.N.body.0``, ``tail``)
MSRResNet  BasicSR ``MSRResNet`` (SRResNet without BN, global bilinear residual), x2/x3/x4
RCAN       BasicSR naming (``residual_group``, ``rcab``) and the official RCAN naming (``body.N.body.M.body``)
RRDBNet    BasicSR / Real-ESRGAN naming (``body.N.rdb1.conv1``), x1/x2/x4, and the old ESRGAN naming
           (``RRDB_trunk``, ``trunk_conv``, ``HRconv``)
SwinIR     official / BasicSR naming (``layers.N.residual_group.blocks.M``), classical (pixelshuffle),
           lightweight (pixelshuffledirect) and real-world (nearest+conv) variants
RFDN       official naming (``fea_conv``, ``B1.c1_d`` ... ``B4.esa.conv4``, ``c.0``, ``LR_conv``,
           ``upsampler.0``), e.g. the AIM 2020 ``RFDN_AIM.pth`` (x4); the network works on 0..255 (measured), the
           model takes [0, 1] and scales inside (``img_range=255``)
IMDN       official naming (``fea_conv``, ``IMDB1.c1`` ... ``IMDB6.cca.conv_du.2``, ``c.0``, ``LR_conv``,
           ``upsampler.0``), x2/x3/x4; [0, 1] RGB as the official test feeds (``img_range=1``)
PAN        official naming (``conv_first``, ``SCPA_trunk.N.PAConv.k2``, ``trunk_conv``, ``upconv1``,
           ``att1``, ``HRconv1``, [``upconv2``, ``att2``, ``HRconv2``,] ``conv_last``); x4 from the weights,
           x2/x3 from the file name (``PANx2_DF2K.pth``) or ``scale=``; [0, 1] RGB (``img_range=1``)
CARN       official naming (``sub_mean.shifter``, ``entry``, ``b1.b1.body.0`` ... ``b3.c3``, ``c1`` ... ``c3``,
           ``upsample.up2/up3/up4`` or ``upsample.up``, ``exit``); a multi-scale file is one network for x2, x3
           and x4: ``load(path, scale=4)`` picks the upsampler (refused without one); [0, 1] RGB (``img_range=1``)
CARN-M     the same naming with one shared, grouped residual block per cascading block (``b1.b1.body.4``),
           e.g. the official multi-scale ``carn_m.pth``
========== =========================================================================================

Value ranges: every loaded model takes and returns RGB in [0, 1]. Official EDSR-PyTorch / RCAN checkpoints state
the range they were trained on (``--rgb_range``) and the data mean in their ``sub_mean`` / ``add_mean`` biases;
``load`` reads them. Otherwise each family's official range is assumed, and ``load(path, img_range=...)`` sets it
(the error says so when the biases leave it ambiguous). Single-channel (Y) checkpoints load with a warning;
``load(path, y_only="wrap")`` or :class:`YChannelWrapper` makes them take and return RGB. A network that needs input
sides that are multiples of N runs on any size in :class:`PadToMultiple` (``check`` offers it).

Checkpoints of architectures without a family here (SPAN, DAT, ATD, OmniSR, ...) load through spandrel when it is
installed (``pip install "srwidgets[spandrel]"``; see :mod:`srwidgets.models.spandrel_adapter`); :func:`families`
lists both routes.

Any other ``nn.Module`` that maps ``[N, 3, h, w]`` in ``[0, 1]`` to ``[N, 3, s*h, s*w]`` is accepted everywhere;
``check(model, scale)`` tells you clearly when a model does not. To make ``load`` recognise another family's
checkpoints, register it: ``register(name, detect=..., build=...)`` (the built-in families are entries of the
same registry; ``architectures()`` lists them all). ``load`` reads ``.pth`` / ``.pt`` files and, with the
``safetensors`` package, ``.safetensors`` files.

Modules: ``registry`` (families, :func:`register`, :func:`build`, :func:`detect`), ``checkpoints`` (file reading,
:func:`load`, :func:`save`, :func:`families`), ``spandrel_adapter`` (the spandrel route, :class:`SpandrelModel`),
``probes`` (:func:`check`, :func:`infer_scale`, on :mod:`srwidgets.engine.probes`), ``wrappers`` (:class:`PadToMultiple`,
:class:`YChannelWrapper`), one module per built-in family; this package re-exports the public names.
"""
from __future__ import annotations

from .checkpoints import families, load, save, unwrap_state_dict
from .probes import check, infer_scale
from .registry import Family, StateDictT, architectures, build, detect, register, unregister
from .spandrel_adapter import SpandrelModel
from .wrappers import PadToMultiple, YChannelWrapper, rgb_to_ycbcr, ycbcr_to_rgb

__all__ = ["architectures", "families", "build", "load", "save", "check", "detect", "infer_scale",
           "unwrap_state_dict", "register", "unregister", "Family", "SpandrelModel", "PadToMultiple",
           "YChannelWrapper", "rgb_to_ycbcr", "ycbcr_to_rgb"]
