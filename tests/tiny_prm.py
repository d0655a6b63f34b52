"""A tiny randomly initialised process reward model of Qwen2.5-Math-PRM's architecture
(``Qwen2ForProcessRewardModel``), made by the tests that serve it: a word-level tokenizer with the step tag
``<extra_0>`` and a chat template, one transformer layer and the two-label score head. It tests the mechanics of
serving a PRM, never its accuracy."""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = ["<unk>", "<pad>", "<|im_start|>", "<|im_end|>", "<extra_0>"]


def make_tiny_prm(folder: Path, hidden: int = 128, seed: int = 0) -> int:
    """Write the model to ``folder``; returns the step tag's token id (for ``--pooler-config``)."""
    import torch
    from safetensors.torch import save_file
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2Model

    words = [chr(c) for c in range(33, 127)] + [f"w{i}" for i in range(100)]
    vocab = {token: i for i, token in enumerate([*SPECIALS, *words])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Punctuation()])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", pad_token="<pad>",
                                   eos_token="<|im_end|>", additional_special_tokens=SPECIALS[2:])  # fmt: skip
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(folder)
    config = Qwen2Config(
        vocab_size=len(vocab), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=1024, tie_word_embeddings=False,
        num_labels=2, architectures=["Qwen2ForProcessRewardModel"], torch_dtype="float32",
    )  # fmt: skip
    torch.manual_seed(seed)
    body = Qwen2Model(config)
    weights = {f"model.{name}": tensor.contiguous() for name, tensor in body.state_dict().items()}
    weights |= {"score.0.weight": torch.randn(hidden, hidden) * 0.1, "score.0.bias": torch.zeros(hidden),
                "score.2.weight": torch.randn(2, hidden) * 0.1, "score.2.bias": torch.zeros(2)}  # fmt: skip
    save_file(weights, str(folder / "model.safetensors"))
    config.save_pretrained(folder)
    return vocab["<extra_0>"]
