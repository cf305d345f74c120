"""`sample` and `caption` sections: how the reasoning texts and the captions are generated.

Both stages share the generation settings of `GenerationConfig` (backend, seeds, temperatures,
nucleus/top-k sampling, lengths, batching); `sample` adds its questions, `caption` its model and
caption prompt. Every generation is keyed by (image_id, question_id, seed, temperature).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from realign_pipeline.config.base import CpuThreads, PixelBounds, Section


class QuestionConfig(Section):
    """One question asked about every image."""

    id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Stable id stored in the question_id column (letters, digits, _ . -).",
    )
    text: str = Field(min_length=1, description="The question put to the model with the image.")


class VllmConfig(Section):
    """vLLM engine settings (used only when backend is `vllm`)."""

    tensor_parallel_size: int = Field(ge=1, description="GPUs one model is split over.")
    gpu_memory_utilization: float = Field(
        gt=0, le=1, description="Fraction of GPU memory vLLM may reserve (weights + KV cache)."
    )
    max_model_len: int = Field(gt=0, description="Longest prompt + completion in tokens.")
    limit_images_per_prompt: int = Field(ge=1, description="Images per request (we send one).")


class GenerationConfig(PixelBounds):
    """Generation settings shared by `sample` and `caption`."""

    backend: Literal["transformers", "vllm"] = Field(
        description="transformers: batched HF generate (default, CPU or GPU); vllm: one request "
        "per key with per-request seeds (needs the vllm package and a GPU)."
    )
    seeds: list[int] = Field(
        min_length=1,
        description="Sampling seeds; each is one key component (torch.manual_seed before each "
        "generate call / SamplingParams.seed in vLLM).",
    )
    temperatures: list[float] = Field(
        min_length=1,
        description="Sampling temperatures; 0 means greedy decoding (paper: several, for "
        "diversity).",
    )
    top_p: float = Field(gt=0, le=1, description="Nucleus sampling mass (1.0 = off).")
    top_k: int = Field(
        ge=0,
        description="Top-k sampling (0 = off). Set explicitly: Qwen2.5-VL's generation config "
        "defaults to top_k=1, which makes every seed give the same text.",
    )
    max_new_tokens: int = Field(gt=0, description="Longest completion in tokens.")
    batch_size: int = Field(
        gt=0,
        description="Prompts (image x question) per generate call; one call per (seed, "
        "temperature) of a batch. Results depend on it: keep it fixed to reproduce a run.",
    )
    max_images: int | None = Field(
        ge=1,
        description="Use at most this many images of the manifest (the first by image_id, a "
        "label-blind pseudo-random pick); null = all.",
    )
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        description="Model weights dtype (CPU: float32; GPU: bfloat16)."
    )
    device: str = Field(
        min_length=1, description="Torch device for the transformers backend: cpu, cuda, cuda:1."
    )
    cpu_threads: CpuThreads
    num_workers: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        description="Worker processes, each generating its `--shard i/N` slice with its own "
        "engine, then one merge: `auto` = one per visible GPU (per tensor_parallel_size GPUs "
        "with vLLM; 1 on CPU); N > 1 on CUDA pins worker i to its GPU(s) with "
        "CUDA_VISIBLE_DEVICES. The table does not depend on it."
    )
    vllm: VllmConfig

    @field_validator("seeds")
    @classmethod
    def _check_seeds(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value) or any(s < 0 for s in value):
            raise ValueError(f"seeds must be distinct non-negative integers, got {value}")
        return value

    @field_validator("temperatures")
    @classmethod
    def _check_temperatures(cls, value: list[float]) -> list[float]:
        if len(set(value)) != len(value) or any(t < 0 or t > 5 for t in value):
            raise ValueError(f"temperatures must be distinct values in [0, 5], got {value}")
        return value


class SampleConfig(GenerationConfig):
    """Reasoning sampling with the GRPO-trained model (AIGI-R1), paper step 2."""

    questions: list[QuestionConfig] = Field(
        min_length=1,
        description="Questions asked about every image: the paper's fixed question plus "
        "paraphrases, each with a stable id.",
    )
    use_system_prompt: bool = Field(
        description="Send the system prompt AIGI-R1 was trained with "
        "(prompts.DEFAULT_SYSTEM_PROMPT, asking for <think>..</think><answer>real|fake</answer>)."
    )

    @field_validator("questions")
    @classmethod
    def _check_question_ids(cls, value: list[QuestionConfig]) -> list[QuestionConfig]:
        ids = [q.id for q in value]
        if len(set(ids)) != len(ids):
            raise ValueError(f"question ids must be unique, got {ids}")
        return value


class CaptionConfig(GenerationConfig):
    """Plain image captions from the base VLM, the text of the paper's caption ablations."""

    model: str = Field(
        min_length=1,
        description="Base VLM: a hub id (paper: Qwen/Qwen2.5-VL-7B-Instruct) or a local model "
        "folder (tiny preset: artifacts/tiny_models/vlm).",
    )
    prompt_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="question_id stored with every caption.",
    )
    prompt: str = Field(min_length=1, description="Caption instruction put to the model.")
    system_prompt: str | None = Field(
        description="System turn for captions; null sends none (the chat template may add its own)."
    )
