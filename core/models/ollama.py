"""The files that go next to an exported GGUF: an Ollama ``Modelfile`` (the chat template in
Ollama's Go-template syntax, the stop tokens) and the README's instructions for Ollama and
LM Studio.

The Hugging Face chat template is Jinja, which Ollama does not run; the common families are
recognised by their marker tokens and written in Ollama's syntax. For any other template the
Modelfile has none and says so: Ollama then picks a template from the GGUF file's own
``tokenizer.chat_template`` when it recognises it."""

from __future__ import annotations

import re
from typing import Optional

CHATML = ('{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}'
          '{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}'
          '<|im_start|>assistant\n')
LLAMA3 = ('{{- if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}'
          '{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>'
          '{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n')
MISTRAL = '[INST] {{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }} [/INST]'

# marker in the Jinja template -> (Ollama template, stop tokens, how the default system prompt is written)
FAMILIES = [
    ("<|im_start|>", CHATML, ["<|im_end|>", "<|im_start|>"], r"<\|im_start\|>system\n(.+?)<\|im_end\|>"),
    ("<|start_header_id|>", LLAMA3, ["<|eot_id|>", "<|start_header_id|>"], None),
    ("[INST]", MISTRAL, ["[INST]", "[/INST]"], None),
]


def modelfile(gguf_name: str, chat_template: Optional[str], eos_token: Optional[str]) -> str:
    lines = ["# Ollama: ollama create NAME -f Modelfile, then ollama run NAME", f"FROM ./{gguf_name}", ""]
    family = next((f for f in FAMILIES if chat_template and f[0] in chat_template), None)
    stops = list(family[2]) if family else []
    if family:
        lines += [f'TEMPLATE """{family[1]}"""', ""]
        system = re.search(family[3], chat_template, re.S) if family[3] else None
        if system and not any(c in system.group(1) for c in ("{{", "{%", "'", '"')):
            lines += [f'SYSTEM """{system.group(1)}"""', ""]  # the template's own default system prompt
    else:
        lines += ["# This model's chat template is not one SuperHF Studio translates to Ollama's syntax. Ollama",
                  "# uses the template stored in the GGUF file when it recognises it; otherwise write a TEMPLATE",
                  "# here (https://github.com/ollama/ollama/blob/main/docs/template.md).", ""]
    if eos_token and eos_token not in stops:
        stops.append(eos_token)
    lines += [f'PARAMETER stop "{s}"' for s in stops]
    return "\n".join(lines) + "\n"


def instructions(gguf_name: str) -> str:
    """The README section on running the GGUF file in the usual local tools."""
    return "\n".join([
        "## Run it in Ollama, LM Studio or llama.cpp", "",
        f"`{gguf_name}` is a single GGUF file with the tokenizer and chat template inside.", "",
        "**Ollama**: in this folder, run", "",
        "```sh", "ollama create my-tuned-model -f Modelfile", "ollama run my-tuned-model", "```", "",
        "The `Modelfile` names the file, the chat template in Ollama's syntax and the stop tokens.", "",
        "**LM Studio**: `lms import " + gguf_name + "` (or copy the file into a folder under LM Studio's "
        "models folder, e.g. `~/.lmstudio/models/local/my-tuned-model/`), then pick it in the model list. "
        "LM Studio reads the chat template from the file.", "",
        f"**llama.cpp**: `llama-cli -m {gguf_name} -cnv`.", "",
    ])
