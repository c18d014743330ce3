"""The LLM judge's prompt and JSON schema: question + gold answer + the model's response -> a JSON verdict.

The judge is asked for `{"correct_answer", "model_answer", "reasoning", "correct": "yes"|"no"}`. Where the
server supports structured output the same schema is sent with the request, so the answer is valid JSON by
construction; otherwise `experiments.stages.judging.parse` recovers what it can.
"""

from __future__ import annotations

import json
from typing import Any, Literal

StructuredFormat = Literal["response_format", "structured_outputs"]

VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "correct_answer": {"type": "string"},
        "model_answer": {"type": "string"},
        "reasoning": {"type": "string"},
        "correct": {"type": "string", "enum": ["yes", "no"]},
    },
    "required": ["correct_answer", "model_answer", "reasoning", "correct"],
    "additionalProperties": False,
}

SYSTEM = ("You are a careful, impartial grader. You compare a model's final answer with the reference answer "
          "and reply with a single JSON object, nothing else.")

INSTRUCTIONS = """Decide whether the model's response answers the question correctly.
Use the reference answer as ground truth. Judge only the final answer the response commits to: ignore
formatting, units, rounding to the stated precision, and the style of the reasoning. A response with no
final answer, several conflicting answers, or a different answer is incorrect.

Reply with only this JSON object:
{"correct_answer": "<the reference answer>", "model_answer": "<the model's final answer, or \\"none\\">",
 "reasoning": "<one or two sentences>", "correct": "yes" or "no"}"""

REASK = ("Your previous reply was not a valid JSON verdict. Reply again with only the JSON object with "
         "the keys correct_answer, model_answer, reasoning and correct (\"yes\" or \"no\").")

MAX_FIELD_CHARS = 12_000  # a runaway response must not blow the judge's context: keep head and tail


def clip(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit} characters omitted ...]\n{text[-half:]}"


def _options(context: dict[str, Any] | None) -> str:
    from experiments.datasets.extract import normalize_options

    options = normalize_options((context or {}).get("options"))
    return "\n".join(f"{k}. {v}" for k, v in options.items())


def user_prompt(record: dict[str, Any]) -> str:
    parts = [INSTRUCTIONS, "", "[Question]", clip(str(record.get("question", "")))]
    options = _options(record.get("context"))
    if options:
        parts += ["", "[Options]", options]
    parts += ["", "[Reference answer]", str(record.get("gold", "")),
              "", "[Model response]", clip(str(record.get("response", ""))),
              "", "Your JSON verdict:"]
    return "\n".join(parts)


def judge_messages(record: dict[str, Any], previous: list[str] | None = None) -> tuple[dict[str, str], ...]:
    """Chat messages for one verdict; `previous` unparseable replies turn it into a re-ask."""
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user_prompt(record)}]
    for raw in previous or []:
        messages += [{"role": "assistant", "content": clip(raw, 2000)}, {"role": "user", "content": REASK}]
    return tuple(messages)


def structured_body(fmt: StructuredFormat) -> dict[str, Any]:
    """Request-body fields asking for the verdict schema.

    `response_format` (OpenAI json_schema, also accepted by vLLM >= 0.6 and most OpenAI-compatible servers) or
    vLLM's own `structured_outputs: {"json": schema}` extension.
    """
    if fmt == "structured_outputs":
        return {"structured_outputs": {"json": VERDICT_SCHEMA}}
    schema = {"name": "judge_verdict", "schema": VERDICT_SCHEMA, "strict": True}
    return {"response_format": {"type": "json_schema", "json_schema": schema}}


def schema_text() -> str:
    return json.dumps(VERDICT_SCHEMA, indent=2)
