"""`align` section: ReAlign alignment training and the exported detector (docs/paper.md, step 4)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from realign_pipeline.config.base import CpuThreads, LoraConfig, Section

TextVariant = Literal["full", "reasoning_only", "label_caption", "caption_only", "label_only"]
Strategy = Literal["joint", "sequential", "bce_only"]
Finetune = Literal["lora", "full", "frozen"]


class AlignConfig(Section):
    """CLIP alignment with the reviewed reasoning text plus a real/fake head."""

    model_name: str = Field(
        min_length=1,
        description="open_clip architecture name (paper: ViT-L-14-336; tiny: realign-tiny-vit, "
        "registered from the repo's model_configs/).",
    )
    pretrained: str | None = Field(
        description="open_clip pretrained tag (paper: openai), a local checkpoint file, or null "
        "for random weights."
    )
    quick_gelu: bool | None = Field(
        description="Activation the weights were trained with. null: as they say (a tag's own "
        "setting, e.g. QuickGELU for openai; open_clip_config.json beside a local file, else an "
        "error). true for a local copy of OpenAI's weights; false for GELU-trained ones."
    )
    text_variant: TextVariant = Field(
        description="Alignment text (pairs.parquet column text_<variant>); paper default: full "
        "(label sentence + reasoning)."
    )
    strategy: Strategy = Field(
        description="joint: contrastive + bce_weight x BCE every step (paper); sequential: "
        "contrastive only for sequential_contrastive_epochs, then BCE only; bce_only: no text."
    )
    sequential_contrastive_epochs: int = Field(
        ge=1, description="Epochs of contrastive-only training before BCE (strategy=sequential)."
    )
    finetune: Finetune = Field(
        description="Image encoder training: lora (paper), full parameters, or frozen."
    )
    lora: LoraConfig = Field(
        description="PEFT LoRA on the image tower (finetune=lora; paper: r 6, alpha 6). "
        "target_modules match by suffix: 'attn' is every attention block, add 'c_fc'/'c_proj' "
        "for the MLPs."
    )
    head_hidden_dim: int = Field(gt=0, description="Hidden width of the two-layer MLP head.")
    head_normalize_input: bool = Field(
        description="L2-normalise the image embedding before the head."
    )
    bce_weight: float = Field(ge=0, description="alpha in L = L_contrastive + alpha L_BCE (8).")
    train_logit_scale: bool = Field(
        description="Train CLIP's logit scale (inverse temperature); clamped to [0, ln 100] after "
        "each optimizer step as open_clip does. false keeps the pretrained value."
    )
    num_train_epochs: int = Field(gt=0, description="Training epochs (paper: 10).")
    batch_size: int = Field(
        ge=2, description="Images per step (the contrastive loss needs at least 2)."
    )
    learning_rate: float = Field(gt=0, description="AdamW learning rate (paper: 1e-4).")
    weight_decay: float = Field(ge=0, description="AdamW weight decay.")
    lr_scheduler_type: Literal["constant", "cosine", "linear"] = Field(
        description="Learning-rate decay after warmup, over all training steps."
    )
    warmup_steps: int = Field(ge=0, description="Linear warmup steps from 0 to learning_rate.")
    max_grad_norm: float = Field(ge=0, description="Gradient clipping norm; 0 disables it.")
    bf16: bool = Field(description="bf16 autocast for forward passes (GPU; slow on CPU).")
    gradient_checkpointing: bool = Field(description="Gradient checkpointing in the image tower.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        description="Training device; auto picks cuda when available."
    )
    num_workers: int = Field(ge=0, description="DataLoader worker processes (0 = main process).")
    cpu_threads: CpuThreads
    image_cache_mb: int = Field(
        ge=0,
        description="Memory for decoded images kept as uint8 after resize/crop, so each file is "
        "decoded once per run, not once per epoch (0: decode every epoch; 336 px: 0.33 MB/image).",
    )
    text_batch_size: int = Field(gt=0, description="Texts per forward when filling the cache.")
    eval_batch_size: int = Field(gt=0, description="Images per forward for validation.")
    threshold: float = Field(gt=0, lt=1, description="p_fake above this means fake (0.5).")
    logging_steps: int = Field(gt=0, description="Log step metrics every this many steps.")

    @model_validator(mode="after")
    def _check_sequential(self) -> AlignConfig:
        if (
            self.strategy == "sequential"
            and self.sequential_contrastive_epochs >= self.num_train_epochs
        ):
            raise ValueError(
                f"align.sequential_contrastive_epochs ({self.sequential_contrastive_epochs}) must "
                f"be < align.num_train_epochs ({self.num_train_epochs}) so the BCE phase gets at "
                "least one epoch"
            )
        return self
