"""Build a tiny Qwen2.5-VL fully offline and save it like a hub snapshot.

Writes (to `out_dir`, atomically): `config.json`, `generation_config.json`, `model.safetensors`,
`tokenizer.json` + `tokenizer_config.json` (with the Qwen chat template), the processor configs
(`Qwen2VLImageProcessor` with the configured min/max pixels, `Qwen2VLVideoProcessor`). Loading it
back with `load_vlm(out_dir)` (or `AutoProcessor` / `AutoModelForImageTextToText`) takes the same
code path as the real Qwen/Qwen2.5-VL-7B-Instruct.

Pitfalls handled here:
- the tokenizer holds Qwen's special tokens, and `<think>`, `</think>`, `<answer>`, `</answer>`,
  `real`, `fake` as single tokens, so even a random model sometimes writes a parseable answer;
- `mrope_section` must sum to half the text head size;
- the model is a folder on disk, so `from_pretrained` records it as `_name_or_path`, which TRL
  uses to rebuild the reference model when beta > 0.

Built by the tiny_models stage (`tiny_models.stage.run_tiny_models`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from realign_pipeline.atomic import atomic_dir
from realign_pipeline.config.tiny_models import TinyModelsConfig
from realign_pipeline.prompts import COLD_START_REASONING, DEFAULT_SYSTEM_PROMPT, PAPER_QUESTION

__all__ = ["ANSWER_TOKENS", "QWEN_CHAT_TEMPLATE", "SPECIAL_TOKENS", "build_tiny_vlm"]

logger = logging.getLogger(__name__)

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
ANSWER_TOKENS = ("<think>", "</think>", "<answer>", "</answer>", "real", "fake")

# Qwen2-VL's chat template (as shipped with Qwen2.5-VL-*-Instruct).
QWEN_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Text the BPE merges are learned from: the prompts plus everyday forensic vocabulary. Any text
# still encodes (byte-level), this only makes the usual words short.
_CORPUS = (
    DEFAULT_SYSTEM_PROMPT,
    PAPER_QUESTION,
    *COLD_START_REASONING,
    "The lighting is consistent and the shadows fall naturally.",
    "The textures look smooth and repetitive, edges are blurred and unnatural.",
    "Sensor noise is visible across the image, as in a photo taken by a camera.",
    "The hands, faces and text show artifacts typical of a generator.",
    "The image is a natural photograph with fine detail and random grain.",
    "The pattern is periodic and too regular for a real scene.",
    "This is a real image. This is a fake image.",
)


def _build_tokenizer(cfg: TinyModelsConfig):  # noqa: ANN202 - transformers type
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(list(_CORPUS) * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        model_max_length=cfg.max_position_embeddings,
        padding_side="left",
        chat_template=QWEN_CHAT_TEMPLATE,
    )
    tokenizer.add_tokens(list(ANSWER_TOKENS))
    return tokenizer


def _build_processor(cfg: TinyModelsConfig, tokenizer):  # noqa: ANN001, ANN202
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    image_processor = Qwen2VLImageProcessor(min_pixels=cfg.min_pixels, max_pixels=cfg.max_pixels)
    video_processor = Qwen2VLVideoProcessor(min_pixels=cfg.min_pixels, max_pixels=cfg.max_pixels)
    return Qwen2_5_VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=QWEN_CHAT_TEMPLATE,
    )


def _build_config(cfg: TinyModelsConfig, tokenizer):  # noqa: ANN001, ANN202
    from transformers import Qwen2_5_VLConfig

    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in SPECIAL_TOKENS}
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": cfg.text_hidden_size,
        "intermediate_size": cfg.text_intermediate_size,
        "num_hidden_layers": cfg.text_layers,
        "num_attention_heads": cfg.text_heads,
        "num_key_value_heads": cfg.text_kv_heads,
        "max_position_embeddings": cfg.max_position_embeddings,
        "max_window_layers": cfg.text_layers,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 10000.0,
            "mrope_section": list(cfg.text_mrope_section),
        },
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    vision = {
        "depth": cfg.vision_depth,
        "hidden_size": cfg.vision_hidden_size,
        "num_heads": cfg.vision_heads,
        "intermediate_size": cfg.vision_intermediate_size,
        "out_hidden_size": cfg.text_hidden_size,
        "fullatt_block_indexes": [cfg.vision_depth - 1],
    }
    return Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=False,
    )


def build_tiny_vlm(out_dir: str | Path, cfg: TinyModelsConfig, *, seed: int = 0) -> Path:
    """Build a seeded, randomly initialised tiny Qwen2.5-VL and save it to `out_dir`.

    Args:
        out_dir: Folder to (re)create; replaced as a whole on success.
        cfg: Sizes of the text and vision towers, BPE vocabulary and image pixel bounds.
        seed: Seeds the weight initialisation (same seed and config, same weights).

    Returns:
        `out_dir` as a Path.
    """
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration

    out_dir = Path(out_dir)
    tokenizer = _build_tokenizer(cfg)
    processor = _build_processor(cfg, tokenizer)
    config = _build_config(cfg, tokenizer)
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=[tokenizer.convert_tokens_to_ids("<|im_end|>"), config.pad_token_id],
        pad_token_id=config.pad_token_id,
    )
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        processor.save_pretrained(tmp)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info(
        "tiny Qwen2.5-VL (%d parameters, vocab %d) -> %s", n_params, len(tokenizer), out_dir
    )
    return out_dir
