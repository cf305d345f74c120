"""Keep secrets out of what we log: credentials in URIs, secret-looking param names."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# a secret-looking name segment: `api_token`, `aws_secret_access_key`, `password`; not
# `max_new_tokens` or `tokenizer` (hyperparameters that must be logged)
SECRET_KEY = re.compile(
    r"(?:^|[_.-])(token|secret|password|passwd|credentials?|api[_-]?key|access[_-]?key|"
    r"private[_-]?key)(?:$|[_.-])",
    re.I,
)
MAX_PARAM_LEN = 6000  # MLflow's limit on a param value


def redact_uri(uri: str) -> str:
    """Hide user:password in a URI (`https://user:pw@host` -> `https://***@host`)."""
    return re.sub(r"//[^/@]+@", "//***@", uri)


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested params to `a.b.c` -> string, dropping keys that look like secrets."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if SECRET_KEY.search(str(key)):
            continue
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, f"{name}."))
        else:
            flat[name] = str(value)[:MAX_PARAM_LEN]
    return flat
