"""Supervised fine-tuning of a student on a published revision's `cot` train split, with TRL's ``SFTTrainer``.

Each row's ``messages`` (system, user, assistant) becomes a conversational prompt-completion pair, so the loss is on
the assistant turn only. LoRA through ``peft`` by default (a full fine-tune on request); CPU or GPU by ``device``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal


@dataclass(frozen=True)
class SFTSettings:
    """How hard to train: steps or epochs, batch, learning rate, sequence length, LoRA or full, where."""

    max_steps: int = 8  # -1: train for ``epochs`` instead
    epochs: float = 1.0
    batch_size: int = 4
    gradient_accumulation: int = 1
    learning_rate: float = 5e-4
    max_length: int = 512
    method: Literal["lora", "full"] = "lora"
    lora_rank: int = 16
    lora_alpha: int = 32
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 0
    loss_rows: int = 16  # the training rows whose loss is measured before and after


@dataclass(frozen=True)
class SFTResult:
    """What a training run did: its steps and tokens, the loss per step, the loss on the training rows before and
    after, and where the tuned weights are (an adapter folder for LoRA, a whole model for a full fine-tune)."""

    output_dir: str
    method: str
    device: str
    rows: int
    steps: int
    tokens: int
    wall_s: float
    losses: list[float] = field(default_factory=list)
    train_loss_before: float = math.nan
    train_loss_after: float = math.nan

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)


def conversation_pairs(messages: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, list[dict[str, str]]]]:
    """Each chat as TRL's conversational prompt-completion pair: every turn before the last assistant turn is the
    prompt, that turn the completion (a ``reasoning_content`` field stays with its turn where it is set)."""
    pairs = []
    for i, chat in enumerate(messages):
        turns = [{k: v for k, v in turn.items() if v is not None} for turn in chat]
        if not turns or turns[-1].get("role") != "assistant" or not turns[-1].get("content"):
            raise ValueError(f"row {i}: messages must end with a non-empty assistant turn, got {chat!r}")
        pairs.append({"prompt": turns[:-1], "completion": turns[-1:]})
    return pairs


def resolve_device(device: str) -> str:
    """``auto``: CUDA where a GPU is visible, else the CPU."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no GPU")
    return device


def train_student(
    messages: Sequence[Sequence[dict[str, Any]]],
    base_model: Path,
    output_dir: Path,
    settings: SFTSettings = SFTSettings(),
    log: Callable[[str], None] = print,
) -> SFTResult:
    """Fine-tune ``base_model`` (a Hugging Face folder) on the chats; the tuned weights and ``result.json`` land in
    ``output_dir``. The loss on the first ``loss_rows`` training rows is measured before and after."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    if not messages:
        raise ValueError("no training rows: the revision's cot train split is empty")
    device = resolve_device(settings.device)
    dataset = Dataset.from_list(conversation_pairs(messages))
    tokenizer = AutoTokenizer.from_pretrained(base_model)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(base_model, dtype=dtype)
    peft_config = None
    if settings.method == "lora":
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=settings.lora_rank, lora_alpha=settings.lora_alpha, lora_dropout=0.0, target_modules="all-linear",
            task_type="CAUSAL_LM",
        )  # fmt: skip
    args = SFTConfig(
        output_dir=str(output_dir / "trainer"),
        max_steps=settings.max_steps,
        num_train_epochs=settings.epochs,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation,
        learning_rate=settings.learning_rate,
        lr_scheduler_type="constant",
        max_length=settings.max_length,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=device == "cpu",
        bf16=device == "cuda",
        seed=settings.seed,
        data_seed=settings.seed,
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",
    )
    steps_done: list[float] = []

    class Progress(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **_: Any) -> None:
            if logs and "loss" in logs:
                steps_done.append(float(logs["loss"]))
                log(f"step {state.global_step}/{state.max_steps}: loss {logs['loss']:.4f}")

    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        eval_dataset=dataset.select(range(min(settings.loss_rows, len(dataset)))),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[Progress()],
    )
    before = trainer.evaluate()["eval_loss"]
    started = time.monotonic()
    trainer.train()
    wall = time.monotonic() - started
    after = trainer.evaluate()["eval_loss"]
    output_dir.mkdir(parents=True, exist_ok=True)
    trainer.model.save_pretrained(output_dir / "model")  # type: ignore[union-attr,operator]  # set by the Trainer
    tokenizer.save_pretrained(output_dir / "model")
    tokens = int(trainer.state.num_input_tokens_seen)  # every token trained on, over all steps, padding left out
    result = SFTResult(
        output_dir=str(output_dir / "model"),
        method=settings.method,
        device=device,
        rows=len(dataset),
        steps=trainer.state.global_step,
        tokens=tokens,
        wall_s=round(wall, 2),
        losses=steps_done,
        train_loss_before=float(before),
        train_loss_after=float(after),
    )
    (output_dir / "result.json").write_text(result.to_json())
    log(f"trained {result.steps} steps in {wall:.0f} s: train loss {before:.3f} -> {after:.3f}")
    return result
