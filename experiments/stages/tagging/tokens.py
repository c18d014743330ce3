"""Domain confidence tokens: `<CN_MATH>` when the answer was right, `<UN_MATH>` when wrong (`<|c_math|>`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

DOMAIN_TOKEN_NAMES: dict[str, str] = {
    "math": "MATH",
    "gsm8k": "MATH",
    "numeric": "MATH",
    "arith": "MATH",
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


# Both styles, any domain name: `<CN_MATH>` / `<UN_MATH>` and `<|c_math|>` / `<|u_math|>`.
TOKEN_PATTERN = re.compile(r"<(?P<angle>CN|UN)_(?P<aname>[A-Z0-9_]+)>|<\|(?P<pipe>c|u)_(?P<pname>[a-z0-9_]+)\|>")


@dataclass(frozen=True)
class ParsedToken:
    """The last confidence token of a response: what it says, where it starts, and its pair's two strings."""

    text: str
    confident: bool
    domain: str  # upper case, as in the angle style
    style: str
    start: int

    @property
    def pair(self) -> tuple[str, str]:
        """(confident token, uncertain token) of this token's domain and style."""
        return token_pair(self.domain, self.style)


def token_pair(domain_name: str, style: str = "angle") -> tuple[str, str]:
    """(confident, uncertain) strings for a token domain name such as MATH (no alias lookup)."""
    if style == "pipe":
        return f"<|c_{domain_name.lower()}|>", f"<|u_{domain_name.lower()}|>"
    return f"<CN_{domain_name.upper()}>", f"<UN_{domain_name.upper()}>"


def parse_final_token(response: str) -> ParsedToken | None:
    """The final confidence token in `response` (either style), or None when there is none (missing)."""
    matches = list(TOKEN_PATTERN.finditer(response or ""))
    if not matches:
        return None
    last = matches[-1]
    if last.group("angle"):
        return ParsedToken(last.group(0), last.group("angle") == "CN", last.group("aname"), "angle", last.start())
    return ParsedToken(last.group(0), last.group("pipe") == "c", last.group("pname").upper(), "pipe", last.start())


def strip_tokens(response: str) -> str:
    """The response without any confidence token (what the grader should read)."""
    return TOKEN_PATTERN.sub("", response or "").rstrip()
