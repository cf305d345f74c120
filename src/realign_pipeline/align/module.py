"""The ReAlign training module: frozen CLIP text tower, trainable image tower (LoRA via PEFT, full,
or frozen), a two-layer MLP head, and CLIP's logit scale.

The text tower never trains: its parameters have `requires_grad=False`, its modules stay in eval
mode whatever `train()` is called with, and training reads its outputs from the text-embedding
cache. `export_detector` merges the LoRA weights (`merge_and_unload()`) into a copy of the image
tower and keeps only that tower and the head.
"""

from __future__ import annotations

import copy
import logging
import math

import torch
from torch import nn

from realign_pipeline.config.align import AlignConfig
from realign_pipeline.detector.model import Detector, DetectorHead
from realign_pipeline.detector.spec import DetectorSpec
from realign_pipeline.errors import ConfigError

logger = logging.getLogger(__name__)

# open_clip's training clamps the log scale to [0, ln 100] after every optimizer step. Clamping
# exp(logit_scale) inside the forward pass instead would pass no gradient once the value reaches
# 100, and OpenAI's stored value (4.6052) is ln 100 rounded up: the temperature would never train.
LOG_LOGIT_SCALE_MAX = math.log(100.0)


class ReAlignModel(nn.Module):
    """CLIP (image tower prepared per `cfg.finetune`) + detection head.

    Attributes:
        clip: the open_clip CLIP; `clip.visual` is a PEFT model in LoRA mode.
        head: the two-layer MLP head (always trained).
    """

    def __init__(self, clip: nn.Module, spec: DetectorSpec, cfg: AlignConfig) -> None:
        super().__init__()
        clip.requires_grad_(False)
        if cfg.gradient_checkpointing:
            clip.visual.set_grad_checkpointing(True)
        if cfg.finetune == "lora":
            clip.visual = _with_lora(clip.visual, cfg)
        elif cfg.finetune == "full":
            clip.visual.requires_grad_(True)
        train_scale = cfg.train_logit_scale and cfg.strategy != "bce_only"
        clip.logit_scale.requires_grad_(train_scale)
        self.clip = clip
        self.clamp_logit_scale()
        self.head = DetectorHead(spec.head)
        self.spec = spec
        self.train()

    def text_modules(self) -> list[nn.Module]:
        """The CLIP submodules that are not the image tower (the text tower)."""
        return [m for name, m in self.clip.named_children() if name != "visual"]

    def train(self, mode: bool = True) -> ReAlignModel:
        """Set train/eval mode; the frozen text tower always stays in eval mode."""
        super().train(mode)
        for module in self.text_modules():
            module.eval()
        return self

    def logit_scale(self) -> torch.Tensor:
        """exp(CLIP's log scale): the contrastive loss's inverse temperature (at most 100)."""
        return self.clip.logit_scale.exp()

    @torch.no_grad()
    def clamp_logit_scale(self) -> None:
        """Clamp the log scale into [0, ln 100] in place (after each optimizer step, as
        open_clip's training loop does), so the scale itself stays differentiable."""
        self.clip.logit_scale.clamp_(0.0, LOG_LOGIT_SCALE_MAX)

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(raw image embeddings[B, D], fake logits[B]) for pixels[B, 3, H, W]."""
        embeddings = self.clip.visual(pixels)
        return embeddings, self.head(embeddings)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """Normalised text embeddings from the frozen tower (used only without the cache)."""
        with torch.no_grad():
            return self.clip.encode_text(tokens, normalize=True)

    def checkpoint_state(self) -> dict[str, torch.Tensor]:
        """Everything but the frozen text tower: image tower (base + LoRA), head, logit scale."""
        keep = ("clip.visual.", "head.", "clip.logit_scale")
        return {k: v for k, v in self.state_dict().items() if k.startswith(keep)}

    def trainable_named_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """Parameters that receive gradients, in a stable order."""
        return [(n, p) for n, p in self.named_parameters() if p.requires_grad]


def _with_lora(visual: nn.Module, cfg: AlignConfig) -> nn.Module:
    import peft

    lora = peft.LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=list(cfg.lora.target_modules),
        bias="none",
    )
    try:
        model = peft.get_peft_model(visual, lora)
    except ValueError as exc:
        raise ConfigError(
            f"align.lora.target_modules={cfg.lora.target_modules}: {exc}; module names of "
            "open_clip's ViT blocks are attn, mlp.c_fc, mlp.c_proj"
        ) from None
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    logger.info(
        "LoRA r=%d alpha=%g on %s: %d trainable tower parameters",
        cfg.lora.r,
        cfg.lora.alpha,
        cfg.lora.target_modules,
        n_train,
    )
    return model


def merged_image_tower(model: ReAlignModel) -> nn.Module:
    """A plain open_clip image tower: a copy of the trained one with LoRA merged in."""
    import peft

    visual = copy.deepcopy(model.clip.visual)
    if isinstance(visual, peft.PeftModel):
        visual = visual.merge_and_unload()
    visual.requires_grad_(False)
    if hasattr(visual, "set_grad_checkpointing"):
        visual.set_grad_checkpointing(False)
    return visual.float().cpu().eval()


def export_detector(model: ReAlignModel) -> Detector:
    """The deployable detector (merged image tower + head copy), on CPU in eval mode."""
    head = copy.deepcopy(model.head).float().cpu().requires_grad_(False)
    return Detector(merged_image_tower(model), head, model.spec).eval()
