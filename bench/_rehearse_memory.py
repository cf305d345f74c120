"""GPU memory estimates for the paper rehearsal: measured activations per token on CPU, scaled.

Activations are measured, not guessed: during one forward pass with autograd on (CPU, the cut
model), every tensor autograd saves for the backward pass is counted once (by storage) and
attributed to the block that saved it (a decoder layer, a vision block, the LM head / loss, or
the rest). Dividing by the tokens (or patches) of that pass gives bytes per token per block,
which scale linearly in tokens (SDPA / flash attention: no L^2 term) and in the number of blocks
the full model has. Parameter, gradient and optimizer terms come from parameter counts of the
full architecture (built on the meta device) and dtypes. GB = 1e9 bytes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

GB = 1e9
BUDGET_80GB = 80.0  # grpo / sample: the A800 / A100-80G pool
BUDGET_24GB = 24.0  # align: RTX 3090
CUDA_OVERHEAD_GB = 4.0  # CUDA context, NCCL buffers, allocator fragmentation (docs/grpo.md)


def saved_bytes_by_scope(
    forward: Callable[[], Any], scopes: dict[str, list[Any]], model: Any
) -> dict:
    """Bytes autograd saves during `forward()`, by scope (modules named in `scopes`, else 'rest').

    Tensors sharing a storage count once; `model`'s parameters (and views of them) never count.
    """
    import torch

    current = ["rest"]
    seen = {(p.untyped_storage().data_ptr(), p.untyped_storage().nbytes())
            for p in model.parameters()}  # fmt: skip
    totals: dict[str, int] = defaultdict(int)
    handles = []

    def enter(name: str) -> Callable[..., None]:
        return lambda *_: current.append(name)

    def leave(*_: Any) -> None:
        current.pop()

    for name, modules in scopes.items():
        for module in modules:
            handles.append(module.register_forward_pre_hook(enter(name)))
            handles.append(module.register_forward_hook(leave))

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        key = (storage.data_ptr(), storage.nbytes())
        if key not in seen and storage.nbytes():
            seen.add(key)
            totals[current[-1]] += storage.nbytes()
        return tensor

    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            forward()
    finally:
        for handle in handles:
            handle.remove()
    return dict(totals)


def full_parameter_count(config: Any) -> tuple[int, int]:
    """(parameters, largest single module's parameters) of the uncut Qwen2.5-VL, on meta."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    with torch.device("meta"):
        model = Qwen2_5_VLForConditionalGeneration(config)
    total = sum(p.numel() for p in model.parameters())
    largest = max(p.numel() for p in model.parameters())
    return total, largest


def measure_vlm(model: Any, inputs: dict, temperature: float) -> dict:
    """Per-token activation bytes of the cut VLM: one forward + TRL's per-token log-probs."""

    inner = model.model
    scopes = {
        "text_layer": list(inner.language_model.layers),
        "vision_block": list(inner.visual.blocks),
        "head": [model.lm_head],
    }
    ids = inputs["input_ids"]

    def forward() -> None:
        logits = model(**inputs).logits[:, :-1] / temperature
        # TRL's selective_log_softmax: logsumexp over the vocabulary, gather the token's logit
        logps = logits.gather(-1, ids[:, 1:, None]).squeeze(-1) - logits.logsumexp(-1)
        logps.sum()

    was_training = model.training
    model.train()
    for p in model.parameters():
        p.requires_grad_(True)
    try:
        totals = saved_bytes_by_scope(forward, scopes, model)
    finally:
        model.train(was_training)
    tokens = int(ids.numel())
    patches = int(inputs["image_grid_thw"].prod(-1).sum())
    layers, blocks = len(scopes["text_layer"]), len(scopes["vision_block"])
    return {
        "tokens": tokens,
        "patches": patches,
        "text_layer_bytes_per_token": totals.get("text_layer", 0) / tokens / layers,
        "vision_block_bytes_per_patch": totals.get("vision_block", 0) / patches / blocks,
        "head_bytes_per_token": (totals.get("head", 0) + totals.get("rest", 0)) / tokens,
    }  # fmt: skip


def _activations_gb(m: dict, cfg: Any, seq: int, patches: int, text: Any, vision: Any) -> float:
    """Training activations of grpo's per-device batch (`cfg`: GRPO section; `text`, `vision`:
    the full model's configs), scaled from the per-token measurement."""
    text_per_seq = m["text_layer_bytes_per_token"] * seq
    vision_per_seq = m["vision_block_bytes_per_patch"] * patches
    if cfg.gradient_checkpointing:  # one bf16 hidden state kept per layer, one layer recomputed
        text_act = seq * text.hidden_size * 2 * text.num_hidden_layers + text_per_seq
        vision_act = patches * vision.hidden_size * 2 * vision.depth + vision_per_seq
    else:
        text_act = text_per_seq * text.num_hidden_layers
        vision_act = vision_per_seq * vision.depth
    head = m["head_bytes_per_token"] * cfg.max_completion_length
    return cfg.per_device_train_batch_size * (text_act + vision_act + head) / GB


def grpo_memory(m: dict, params: Any, config: Any, prompt_tokens: int) -> dict:
    """Per-GPU memory of the preset's grpo (ZeRO-3 over the pod's ranks), in GB."""
    cfg = params.grpo
    n_params, largest = full_parameter_count(config)
    ranks = 8  # the gpu-cluster pool's 8-GPU pod (`launcher.num_processes: auto`)
    text, vision = config.text_config, config.vision_config
    patches = cfg.max_pixels // vision.patch_size**2
    seq = prompt_tokens + cfg.max_completion_length
    states = (2 + 4 + 8 + 4 + (2 if cfg.beta > 0 else 0)) * n_params / ranks / GB
    gathered = 2 * largest / GB
    act = _activations_gb(m, cfg, seq, patches, text, vision)
    vllm_awake = cfg.vllm_gpu_memory_utilization * BUDGET_80GB if cfg.use_vllm else 0.0
    vllm_asleep = 1.0 if cfg.use_vllm and cfg.vllm_enable_sleep_mode else vllm_awake
    train = states + gathered + act + vllm_asleep + CUDA_OVERHEAD_GB
    generate = states + gathered + vllm_awake + CUDA_OVERHEAD_GB
    return {
        "gpu_gb": round(max(train, generate), 1), "budget_gb": BUDGET_80GB,
        "parameters": n_params, "ranks": ranks, "sequence_tokens": seq,
        "states_gb": round(states, 1), "gathered_gb": round(gathered, 1),
        "activations_gb": round(act, 1), "train_phase_gb": round(train, 1),
        "generation_phase_gb": round(generate, 1),
        "measured_bytes_per_token": {k: round(m[k]) for k in (
            "text_layer_bytes_per_token", "vision_block_bytes_per_patch", "head_bytes_per_token")},
    }  # fmt: skip


def sample_memory(m: dict, params: Any, config: Any, prompt_tokens: int) -> dict:
    """One inference engine per GPU at the preset's batch: bf16 weights, KV cache, prefill."""
    cfg = params.sample
    n_params, _ = full_parameter_count(config)
    text = config.text_config
    seq = prompt_tokens + cfg.max_new_tokens
    head_dim = text.hidden_size // text.num_attention_heads
    kv = cfg.batch_size * seq * 2 * text.num_hidden_layers * text.num_key_value_heads * head_dim * 2
    # prefill of the whole batch: one layer's activations live at a time (no autograd)
    prefill = cfg.batch_size * prompt_tokens * m["text_layer_bytes_per_token"]
    weights = 2 * n_params
    total = (weights + kv + prefill) / GB + CUDA_OVERHEAD_GB
    return {
        "gpu_gb": round(total, 1), "budget_gb": BUDGET_80GB, "weights_gb": round(weights / GB, 1),
        "kv_cache_gb": round(kv / GB, 1), "prefill_gb": round(prefill / GB, 1),
        "sequence_tokens": seq,
    }  # fmt: skip


def align_memory(params: Any) -> dict:
    """The preset's align on one 24 GB GPU: CLIP weights, LoRA states, measured activations."""
    import open_clip
    import torch

    cfg = params.align
    model = open_clip.create_model(cfg.model_name, pretrained=None)
    visual = model.visual
    size = visual.image_size[0] if isinstance(visual.image_size, tuple) else visual.image_size
    blocks = list(visual.transformer.resblocks)
    x = torch.zeros(1, 3, size, size)
    totals = saved_bytes_by_scope(lambda: visual(x).sum(), {"block": blocks}, visual)
    tokens = (size // visual.patch_size[0]) ** 2 + 1
    per_block = totals.get("block", 0) / len(blocks)  # fp32 on CPU, bf16 autocast on GPU: / 2
    width = visual.transformer.width
    if cfg.gradient_checkpointing:
        per_sample = tokens * width * 2 * len(blocks) + per_block / 2
    else:
        per_sample = per_block / 2 * len(blocks)
    per_sample += totals.get("rest", 0) / 2
    n_params = sum(p.numel() for p in model.parameters())
    trainable = _lora_parameters(visual, cfg) if cfg.finetune == "lora" else n_params
    del model
    weights = 4 * n_params  # fp32 weights, bf16 autocast
    states = (4 + 8) * trainable  # fp32 gradients + Adam moments of what is trained
    act = cfg.batch_size * per_sample
    total = (weights + states + act) / GB + CUDA_OVERHEAD_GB / 2
    return {
        "gpu_gb": round(total, 1), "budget_gb": BUDGET_24GB, "parameters": n_params,
        "trainable": trainable, "weights_gb": round(weights / GB, 1),
        "activations_gb": round(act / GB, 1),
        "activation_mb_per_sample": round(per_sample / 1e6, 1),
    }  # fmt: skip


def _lora_parameters(visual: Any, cfg: Any) -> int:
    """LoRA parameters the preset adds: r x (in + out) per targeted linear of the image tower."""
    import torch

    total = 0
    for name, module in visual.named_modules():
        if isinstance(module, torch.nn.MultiheadAttention) and "attn" in cfg.lora.target_modules:
            d = module.embed_dim
            total += cfg.lora.r * (d + 3 * d + d + d)  # in_proj (d -> 3d) and out_proj
        elif (isinstance(module, torch.nn.Linear)
              and name.rsplit(".", 1)[-1] in cfg.lora.target_modules):  # fmt: skip
            total += cfg.lora.r * (module.in_features + module.out_features)
    return total
