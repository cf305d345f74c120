"""The training loop: text tower bit-identical, LoRA and head move, schedule shape; text cache."""

from __future__ import annotations

import pytest
import torch

from realign_pipeline.align.checkpoint import TrainProgress
from realign_pipeline.align.data import ImagePixels, group_pairs, read_pairs
from realign_pipeline.align.models import create_clip, create_spec
from realign_pipeline.align.module import ReAlignModel
from realign_pipeline.align.text_cache import cache_folder, get_text_embeddings
from realign_pipeline.align.train import LrLambda, TrainContext, create_optimizer, fit
from realign_pipeline.detector import create_model_transform
from realign_pipeline.tracking import Tracker


def test_training_moves_lora_and_head_but_not_text_tower(align_inputs, tiny_align_cfg, tmp_path):
    cfg = tiny_align_cfg.model_copy(update={"num_train_epochs": 2, "finetune": "lora"})
    bundle = create_clip(cfg.model_name, cfg.pretrained, seed=0)
    images = group_pairs(
        read_pairs(align_inputs["pairs"], "full", needs_text=True),
        align_inputs["data_root"],
        "text_full",
    )
    texts, _ = get_text_embeddings(
        bundle.model,
        bundle.tokenizer,
        images.texts,
        model_key=bundle.model_key,
        cache_dir=None,
        batch_size=8,
        device=torch.device("cpu"),
    )
    spec = create_spec(bundle, cfg, {})
    model = ReAlignModel(bundle.model, spec, cfg)
    text_before = {
        k: v.clone()
        for k, v in model.state_dict().items()
        if not k.startswith(("clip.visual.", "head.", "clip.logit_scale"))
    }
    trained_before = {n: p.detach().clone() for n, p in model.trainable_named_parameters()}
    optimizer, scheduler, _ = create_optimizer(model, cfg, total_steps=4)
    pixels = ImagePixels(create_model_transform(spec), cache_bytes=0)
    ctx = TrainContext(cfg, 0, torch.device("cpu"), images, texts, pixels, Tracker())
    progress = fit(model, optimizer, scheduler, ctx, TrainProgress(), lambda p: None)
    assert progress.epoch == 2 and progress.global_step == 4
    assert text_before  # the text tower (token embedding, transformer, ln_final, projection)
    after = model.state_dict()
    for key, value in text_before.items():
        assert torch.equal(after[key], value), key
    moved = [
        n
        for n, p in model.trainable_named_parameters()
        if not torch.equal(p.detach(), trained_before[n])
    ]
    assert any("lora_B" in n for n in moved)
    assert any(n.startswith("head.") for n in moved)


@pytest.mark.parametrize(
    ("kind", "step", "expected"),
    [
        ("constant", 0, 0.5),  # warmup: (step + 1) / (warmup + 1) with warmup 1
        ("constant", 7, 1.0),
        ("cosine", 1, 1.0),  # start of decay
        ("cosine", 6, 0.5),  # halfway through 10 decay steps
        ("linear", 6, 0.5),
        ("linear", 11, 0.0),  # end of training
    ],
)
def test_lr_lambda_warmup_and_decay(kind, step, expected):
    assert LrLambda(kind, warmup_steps=1, total_steps=11)(step) == pytest.approx(expected)


def test_text_cache_encodes_each_text_once_per_model(tmp_path):
    from realign_pipeline.config import load_params

    cfg = load_params("params.yaml").align
    bundle = create_clip(cfg.model_name, None, seed=0)
    kwargs = {"cache_dir": tmp_path, "batch_size": 2, "device": torch.device("cpu")}
    texts = ["This is a real image.", "This is a fake image.", "This is a real image."]
    first, n1 = get_text_embeddings(
        bundle.model, bundle.tokenizer, texts, model_key=bundle.model_key, **kwargs
    )
    assert n1 == 2 and first.shape == (3, 32)
    torch.testing.assert_close(first[0], first[2])
    torch.testing.assert_close(first.norm(dim=-1), torch.ones(3))
    more = [*texts, "A new text."]
    second, n2 = get_text_embeddings(
        bundle.model, bundle.tokenizer, more, model_key=bundle.model_key, **kwargs
    )
    assert n2 == 1
    assert torch.equal(second[:3], first)
    chunks = sorted(cache_folder(tmp_path, bundle.model_key).glob("chunk-*.safetensors"))
    assert len(chunks) == 2  # the new text was appended as a chunk, nothing rewritten
    chunks[0].write_bytes(b"garbage")  # a damaged chunk is dropped, its texts encoded again
    rebuilt, n_rebuilt = get_text_embeddings(
        bundle.model, bundle.tokenizer, texts, model_key=bundle.model_key, **kwargs
    )
    assert n_rebuilt == 2 and torch.equal(rebuilt, first)
    other = create_clip(cfg.model_name, None, seed=1)  # other weights: other cache key
    _, n3 = get_text_embeddings(
        other.model, other.tokenizer, texts, model_key=other.model_key, **kwargs
    )
    assert n3 == 2
