"""`tiny_models` section: the tiny offline Qwen2.5-VL (`realign tiny-models`)."""

from __future__ import annotations

from pydantic import Field, model_validator

from realign_pipeline.config.base import PixelBounds


class TinyModelsConfig(PixelBounds):
    """The tiny Qwen2.5-VL built offline by `realign tiny-models` (random weights, tiny BPE).

    Same architecture class and files as a hub snapshot, only small: tests and the tiny preset
    load it with the same `from_pretrained` calls as Qwen/Qwen2.5-VL-7B-Instruct.
    """

    vocab_size: int = Field(
        ge=300,
        le=8192,
        description="Byte-level BPE vocabulary size to train (256 byte tokens + merges); the "
        "special, tag and real/fake tokens are added on top.",
    )
    text_hidden_size: int = Field(gt=0, description="Language model hidden size (7B: 3584).")
    text_layers: int = Field(gt=0, description="Language model decoder layers (7B: 28).")
    text_heads: int = Field(gt=0, description="Attention heads (7B: 28).")
    text_kv_heads: int = Field(gt=0, description="Key/value heads, divides text_heads (7B: 4).")
    text_intermediate_size: int = Field(gt=0, description="MLP inner size (7B: 18944).")
    text_mrope_section: list[int] = Field(
        min_length=3,
        max_length=3,
        description="Multimodal RoPE split (temporal, height, width); must sum to "
        "text_hidden_size / text_heads / 2 (7B: [16, 24, 24]).",
    )
    max_position_embeddings: int = Field(gt=0, description="Longest sequence in tokens.")
    vision_depth: int = Field(gt=0, description="Vision transformer blocks (7B: 32).")
    vision_hidden_size: int = Field(gt=0, description="Vision transformer width (7B: 1280).")
    vision_heads: int = Field(gt=0, description="Vision attention heads (7B: 16).")
    vision_intermediate_size: int = Field(gt=0, description="Vision MLP inner size (7B: 3420).")

    @model_validator(mode="after")
    def _check_shapes(self) -> TinyModelsConfig:
        if self.text_hidden_size % self.text_heads or self.text_heads % self.text_kv_heads:
            raise ValueError(
                f"text_hidden_size ({self.text_hidden_size}) must be divisible by text_heads "
                f"({self.text_heads}), and text_heads by text_kv_heads ({self.text_kv_heads})"
            )
        half_head = self.text_hidden_size // self.text_heads // 2
        if sum(self.text_mrope_section) != half_head:
            raise ValueError(
                f"text_mrope_section {self.text_mrope_section} must sum to "
                f"text_hidden_size / text_heads / 2 = {half_head}"
            )
        if self.vision_hidden_size % self.vision_heads:
            raise ValueError(
                f"vision_hidden_size ({self.vision_hidden_size}) must be divisible by "
                f"vision_heads ({self.vision_heads})"
            )
        return self
