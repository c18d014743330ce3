"""The curation spec: one stage, one `action` (pass rates, buckets, weak/strong filter, mixed, critique, sampling).

One spec rather than seven keeps one registry line, one launch form (the action picks which fields matter) and
lets any action follow a grading run in a `then` chain (`input_run` is set by the chain).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from experiments.specs import BaseSpec

Action = Literal["passrates", "buckets", "annotate", "filter", "mixed", "critique", "sample"]
Verdict = Literal["auto", "rule", "judge", "human", "best", "reward"]


class CurationSpec(BaseSpec):
    """Training-data curation over graded or judged runs with n samples per prompt."""

    stage: Literal["curation"] = "curation"
    action: Action = Field("passrates", description="passrates | buckets | annotate | filter | mixed | critique | "
                           "sample: what this run computes")
    input_run: str = Field("", description="a graded/judged run (passrates, buckets) or a mixed run (critique); "
                           "set by a `then` chain")
    runs: list[str] = Field(default_factory=list, description="graded/judged runs for passrates/buckets "
                            "(several datasets, one or more models)")
    weak_runs: list[str] = Field(default_factory=list, description="the weak model's graded runs (low_pass_rate)")
    strong_runs: list[str] = Field(default_factory=list, description="the strong model's graded runs "
                                   "(high_pass_rate)")
    verdict: Verdict = Field("auto", description="which verdict counts: rule `correct`, judge `judge_correct`, "
                             "human (the runs' reviews), best (human where reviewed, else judge, else rule), "
                             "reward (a numeric field >= correct_reward_threshold); auto: rule, else judge")
    reward_field: str = Field("reward", description="the numeric field read when verdict = reward")
    correct_reward_threshold: float = Field(1.0, description="verdict = reward: a sample is correct when its "
                                            "reward >= this")
    save_mapping: bool = Field(False, description="buckets: also save the combined {dataset: {row index: rate}} "
                               "mapping (outputs/combined_passrates.json)")
    source: str = Field("", description="annotate/filter: the source parquet (row i = record index i); empty: "
                        "one row per question built from the weak run's records")
    low_thresh: float = Field(0.0, ge=0, le=1, description="filter: drop rows with low_pass_rate <= this")
    high_thresh: float = Field(1.0, ge=0, le=1, description="filter: drop rows with high_pass_rate >= this")
    keep_disagreement: bool = Field(False, description="mixed: also keep questions one model always gets right "
                                    "and the other always wrong (the reference drops them)")
    max_per_question: int = Field(4, ge=1, description="critique: solutions sampled per kept question")
    data_source: str = Field("critique", description="critique: the verl rows' data_source")
    files: list[str] = Field(default_factory=list, description="sample: parquet files, one domain each "
                             "(or a domain column)")
    domain_column: str = Field("", description="sample: the column naming each row's domain; empty: the file name")
    prompt_column: str = Field("prompt", description="sample: the prompt column (text or a list of "
                               "{role, content} messages)")
    max_prompt_tokens: int | None = Field(None, ge=1, description="sample: drop prompts longer than this many "
                                          "tokens")
    tokenizer: str = Field("smollm2-135m", description="sample: the model whose tokenizer counts prompt tokens "
                           "(alias or local folder)")
    target_per_domain: int | None = Field(None, ge=1, description="sample: rows kept per domain (all when unset)")
    seed: int = Field(0, description="critique and sample: the random seed (same seed, same rows)")
    out: str = Field("", description="also write the main output here (parquet, or JSON for passrates/buckets)")

    @model_validator(mode="after")
    def _inputs_for_action(self) -> CurationSpec:
        need = {
            "annotate": self.weak_runs and self.strong_runs,
            "filter": self.weak_runs and self.strong_runs,
            "mixed": self.weak_runs and self.strong_runs,
            "critique": self.input_run or (self.weak_runs and self.strong_runs),
            "sample": self.files,
        }
        if self.action in need and not need[self.action]:
            what = {"sample": "`files`", "critique": "`input_run` (a mixed run) or `weak_runs` and `strong_runs`"}
            raise ValueError(f"action {self.action!r} needs {what.get(self.action, '`weak_runs` and `strong_runs`')}")
        return self

    def rate_runs(self) -> list[str]:
        """The runs whose pass rates `passrates`/`buckets` compute: `runs`, else `input_run`."""
        return list(self.runs) or ([self.input_run] if self.input_run else [])
