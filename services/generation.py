"""A first reading of generation metadata, to pre-fill the prompt and model of a post.

Full parsing (sampler, seed, LoRAs, ComfyUI graphs) and C2PA verification come later;
this only takes what a person would copy by hand from an Automatic1111/Forge
``parameters`` block: the positive prompt and the model name.
"""

from __future__ import annotations

import re

_MODEL_RE = re.compile(r"(?:^|,\s*)Model:\s*([^,\n]+)")


def prompt_and_model(a1111_parameters: str | None) -> tuple[str, str]:
    if not a1111_parameters:
        return "", ""
    text = a1111_parameters.replace("\r\n", "\n").strip()
    lines = text.split("\n")
    settings_index = next(
        (i for i in range(len(lines) - 1, -1, -1) if lines[i].startswith("Steps:")), None
    )
    model = ""
    if settings_index is not None:
        match = _MODEL_RE.search(lines[settings_index])
        if match:
            model = match.group(1).strip()
        lines = lines[:settings_index]
    prompt_lines: list[str] = []
    for line in lines:
        if line.startswith("Negative prompt:"):
            break
        prompt_lines.append(line)
    return "\n".join(prompt_lines).strip()[:5000], model[:255]
