"""EDSR (Lim et al. 2017), BasicSR parameter naming. Baseline: 64 features, 16 blocks; full: 256 x 32, res_scale 0.1."""
from __future__ import annotations


from ._common import (MeanShiftResidualSR, ResidualBlockNoBN, StateDict, block_count, blocks_on_region, crop_to, grow,
                      make_layer, official_value_range, rename_official, upsample_scale)

ARCH = "EDSR"


class EDSR(MeanShiftResidualSR):
    """``[N, 3, h, w]`` in [0, 1] -> ``[N, 3, s*h, s*w]``. Keys: ``conv_first``, ``body.i.conv{1,2}``,
    ``conv_after_body``, ``upsample.{0,2,...}``, ``conv_last``."""

    arch = ARCH

    def __init__(self, num_feat: int = 64, num_block: int = 16, upscale: int = 4, res_scale: float = 1.0,
                 img_range: float = 255.0, rgb_mean=(0.4488, 0.4371, 0.4040)):
        super().__init__()
        self.scale = int(upscale)
        self.config = dict(num_feat=num_feat, num_block=num_block, upscale=upscale, res_scale=res_scale,
                           img_range=img_range, rgb_mean=tuple(rgb_mean))
        self._build_head(num_feat, img_range, rgb_mean)
        self.body = make_layer(ResidualBlockNoBN, num_block, num_feat=num_feat, res_scale=res_scale)
        self._build_tail(num_feat, upscale)

    def features_region(self, x, region):
        """``features(x)`` on LR rows ``r0:r1``, columns ``c0:c1`` only (``region = (r0, r1, c0, c1)``), exactly,
        with the residual blocks computed on a shrinking cone around it (see ``blocks_on_region``)."""
        height, width = x.shape[-2:]
        x0 = self.conv_first(self.shift.normalize(x))
        body_region = grow(region, 1, height, width)  # conv_after_body reaches 1 pixel
        f = crop_to(self.conv_after_body(blocks_on_region(self.body, x0, body_region)), body_region, region)
        return f + crop_to(x0, (0, height, 0, width), region)


MODEL = EDSR


# The official checkpoints' ``sub_mean`` / ``add_mean`` biases state ``rgb_range * mean``: ``load`` builds the model
# with that ``img_range`` and ``rgb_mean`` (see ``_common.official_value_range``).
value_range = official_value_range


def convert(sd: StateDict) -> StateDict:
    """Map the official EDSR-PyTorch naming (``head.0``, ``body.i.body.{0,2}``, ``body.N``, ``tail``) to ours."""
    if "head.0.weight" not in sd or "body.0.body.0.weight" not in sd:
        return sd
    n = block_count(sd, "body.", ARCH)
    return rename_official(sd, [
        (rf"^body\.{n - 1}\.", "conv_after_body."),
        (r"^body\.(\d+)\.body\.0\.", r"body.\1.conv1."),
        (r"^body\.(\d+)\.body\.2\.", r"body.\1.conv2."),
    ])


def detect(sd: StateDict):
    need = ("conv_first.weight", "body.0.conv1.weight", "conv_after_body.weight", "upsample.0.weight", "conv_last.weight")
    if not all(k in sd for k in need) or "upconv1.weight" in sd:
        return None
    num_feat = sd["conv_first.weight"].shape[0]
    # EDSR-L (256 features) is trained with res_scale 0.1; the state dict cannot tell, so follow the paper.
    return dict(num_feat=num_feat, num_block=block_count(sd, "body.", ARCH), upscale=upsample_scale(sd, "upsample.", num_feat),
                res_scale=0.1 if num_feat >= 256 else 1.0)
