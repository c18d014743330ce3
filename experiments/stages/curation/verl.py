"""verl training rows for critique examples: exactly data_source, prompt, ability, reward_model, extra_info.

The schema is explicit so every file has the same types whatever the data: `prompt` a list of {role, content},
`reward_model` {ground_truth: "right"|"wrong", style: "rule"}, `extra_info` the original solution, the question's
ground truth, the source model and the ids.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

VERL_COLUMNS = ("data_source", "prompt", "ability", "reward_model", "extra_info")


def verl_schema() -> Any:
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    return pa.schema([
        ("data_source", pa.string()),
        ("prompt", pa.list_(message)),
        ("ability", pa.string()),
        ("reward_model", pa.struct([("ground_truth", pa.string()), ("style", pa.string())])),
        ("extra_info", pa.struct([("solution", pa.string()), ("question_ground_truth", pa.string()),
                                  ("source_model", pa.string()), ("role", pa.string()),
                                  ("example_id", pa.string()), ("index", pa.int64()),
                                  ("sample_idx", pa.int64())])),
    ])


def verl_table(examples: Any, data_source: str = "critique") -> Any:
    """One verl row per critique example (a frame with critique.EXAMPLE_COLUMNS)."""
    import pandas as pd
    import pyarrow as pa

    rows = [{
        "data_source": data_source,
        "prompt": [{"role": "user", "content": e["prompt"]}],
        "ability": "critique",
        "reward_model": {"ground_truth": e["target"], "style": "rule"},
        "extra_info": {"solution": e["solution"], "question_ground_truth": e["ground_truth"],
                       "source_model": e["source_model"], "role": e["role"], "example_id": e["example_id"],
                       "index": None if pd.isna(e["index"]) else int(e["index"]),
                       "sample_idx": int(e["sample_idx"])},
    } for e in examples.to_dict("records")]
    return pa.Table.from_pylist(rows, schema=verl_schema())


def write_verl(examples: Any, path: Path, data_source: str = "critique") -> Path:
    from experiments.stages.curation.passrates import write_parquet

    return write_parquet(verl_table(examples, data_source), path)
