"""Domain confidence tokens: `<CN_MATH>` when the answer was right, `<UN_MATH>` when wrong (`<|c_math|>`)."""

from __future__ import annotations

DOMAIN_TOKEN_NAMES: dict[str, str] = {
    "math": "MATH",
    "gsm8k": "MATH",
    "numeric": "MATH",
    "mc": "MED",
    "medqa": "MED",
    "yesno": "READ",
    "boolq": "READ",
    "code": "CODE",
}


def token_domain(domain: str, overrides: dict[str, str] | None = None) -> str:
    names = {**DOMAIN_TOKEN_NAMES, **(overrides or {})}
    return names.get(domain, domain.upper())


def record_token_domain(record: dict[str, str], overrides: dict[str, str] | None = None) -> str:
    """A record's token domain: an override for its source (`medqa-test` or `medqa`) wins over its domain, so
    two multiple-choice sources can get different tokens."""
    overrides = overrides or {}
    source = str(record.get("source") or "")
    for key in (source, source.split("-")[0]):
        if key and key in overrides:
            return overrides[key]
    return token_domain(str(record.get("domain") or "math"), overrides)


def confidence_token(correct: bool, domain: str, style: str = "angle",
                     overrides: dict[str, str] | None = None) -> str:
    name = token_domain(domain, overrides)
    if style == "pipe":
        return f"<|{'c' if correct else 'u'}_{name.lower()}|>"
    return f"<{'CN' if correct else 'UN'}_{name}>"


def all_tokens(domains: list[str], style: str = "angle",
               overrides: dict[str, str] | None = None) -> list[str]:
    """Every token a tokenizer must know for these domains (for SFT vocab extension)."""
    return sorted({confidence_token(c, d, style, overrides) for d in domains for c in (True, False)})
