"""SuperHF Studio engine: store, models, generation, training and the headless CLI.

Importing this package switches every Hugging Face library to offline mode before any of
them is imported: our users sit in air-gapped networks and nothing may reach for a hub.
This package never imports Qt or the desktop package.
"""

import os

__version__ = "0.1.0"

# Offline, always. Set before transformers / huggingface_hub read their environment.
for _name, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",
}.items():
    os.environ[_name] = _value
