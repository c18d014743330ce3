"""Mixed-result filter over two models' runs: keep the questions where the verdict varies within a model.

Per model and question the consistency is `all_right` (every graded sample correct), `all_wrong` (none), `mixed`
or `ungraded`. A question is kept when at least one model is `mixed` (the reference's rule). Everything else is
dropped with its reason: `both_all_right`, `both_all_wrong`, `all_right_vs_all_wrong` (each model consistent but
they disagree: dropped, because no model is mixed; `keep_disagreement` keeps them), `one_model_only` (one model
never answered it and the other is consistent) or `ungraded`. Every solution of a kept question is kept, with its
correctness and both models' flags.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from experiments.runs.store import RunStore
from experiments.stages.curation.passrates import (
    KEY_FIELDS,
    VerdictOptions,
    chunk_verdict,
    policy_reviews,
    read_chunk_columns,
    resolve_verdict,
    verdict_fields,
)

ROLES = ("weak", "strong")
SOLUTION_FIELDS = [("sample_idx", "int64"), ("domain", "string"), ("question", "string"), ("gold", "string"),
                   ("response", "string")]


def consistency(n_graded: np.ndarray, n_correct: np.ndarray) -> np.ndarray:
    out = np.full(len(n_graded), "mixed", dtype=object)
    out[(n_graded > 0) & (n_correct == n_graded)] = "all_right"
    out[(n_graded > 0) & (n_correct == 0)] = "all_wrong"
    out[n_graded == 0] = "ungraded"
    return out


def solutions(stores: list[RunStore], opts: VerdictOptions) -> Any:
    """Every record of `stores` as a pandas frame: ids, question, gold, response and a nullable `correct`."""
    import pandas as pd
    import pyarrow as pa

    frames = []
    names = [n for n, _ in [*KEY_FIELDS, *SOLUTION_FIELDS]]
    for store in stores:
        kind = resolve_verdict(store, opts.verdict)
        extra = [f for f in verdict_fields(kind, opts) if f[0] not in names]
        reviews = policy_reviews(store, kind)
        for index in store.done_chunks():
            table = read_chunk_columns(store.chunk_path(index), [*KEY_FIELDS, *SOLUTION_FIELDS, *extra])
            verdict = chunk_verdict(table, kind, opts, reviews)
            table = table.select(names).append_column("correct", verdict)
            frames.append(table.append_column("run_id", pa.array([store.run_id] * table.num_rows, pa.string())))
    if not frames:
        return pd.DataFrame(columns=[n for n, _ in KEY_FIELDS + SOLUTION_FIELDS] + ["correct", "run_id"])
    return pa.concat_tables(frames).to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)


def question_flags(frame: Any, role: str) -> Any:
    """One row per example_id: {role}_n, {role}_graded, {role}_correct, {role}_rate, {role}_consistency."""
    grouped = frame.groupby("example_id", sort=False)["correct"]
    out = grouped.agg(n="size", graded="count", right=lambda s: int(s.fillna(False).sum()))
    graded, right = out["graded"].to_numpy(), out["right"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(graded > 0, right / np.maximum(graded, 1), np.nan)
    return out.assign(rate=rate, consistency=consistency(graded, right)).add_prefix(f"{role}_")


def drop_reason(weak: Any, strong: Any, keep_disagreement: bool) -> np.ndarray:
    """'' for kept questions, else why (see the module docstring). Vectorised over aligned flag arrays."""
    w, s = np.asarray(weak, dtype=object), np.asarray(strong, dtype=object)
    reason = np.full(len(w), "ungraded", dtype=object)
    w_same = (w == "all_right") | (w == "all_wrong")
    s_same = (s == "all_right") | (s == "all_wrong")
    reason[w_same & s_same] = "all_right_vs_all_wrong"
    reason[(w == "all_right") & (s == "all_right")] = "both_all_right"
    reason[(w == "all_wrong") & (s == "all_wrong")] = "both_all_wrong"
    reason[(is_missing(w) & s_same) | (is_missing(s) & w_same)] = "one_model_only"
    keep = (w == "mixed") | (s == "mixed")
    if keep_disagreement:
        keep |= reason == "all_right_vs_all_wrong"
    reason[keep] = ""
    return reason


def is_missing(values: np.ndarray) -> np.ndarray:
    return np.array([v is None or v != v for v in values], dtype=bool)


def mixed_filter(weak: list[RunStore], strong: list[RunStore], opts: VerdictOptions,
                 keep_disagreement: bool = False) -> tuple[Any, Any, dict[str, Any]]:
    """(solutions of kept questions, per-question table with flags and reasons, summary)."""
    frames = {"weak": solutions(weak, opts), "strong": solutions(strong, opts)}
    flags = question_flags(frames["weak"], "weak").join(question_flags(frames["strong"], "strong"), how="outer")
    flags = flags.astype({"weak_consistency": object, "strong_consistency": object})
    import pandas as pd

    firsts = pd.concat(frames.values()).drop_duplicates("example_id").set_index("example_id")
    flags.insert(0, "index", firsts["index"].reindex(flags.index))
    flags["reason"] = drop_reason(flags["weak_consistency"].to_numpy(), flags["strong_consistency"].to_numpy(),
                                  keep_disagreement)
    flags["kept"] = flags["reason"] == ""
    kept_ids = flags.index[flags["kept"]]
    sols = pd.concat([f.assign(role=role) for role, f in frames.items()], ignore_index=True)
    sols = sols[sols["example_id"].isin(kept_ids)]
    sols = sols.join(flags[["weak_consistency", "strong_consistency", "weak_rate", "strong_rate"]],
                     on="example_id")
    sols = sols.sort_values(["example_id", "role", "sample_idx"], kind="stable").reset_index(drop=True)
    reasons = {str(k): int(v) for k, v in flags.loc[~flags["kept"], "reason"].value_counts().items()}
    summary = {"questions": len(flags), "kept_questions": int(flags["kept"].sum()),
               "dropped_questions": int((~flags["kept"]).sum()), "dropped_by_reason": reasons,
               "kept_solutions": len(sols), "keep_disagreement": keep_disagreement,
               "kept_by_consistency": {f"{w}/{s}": int(n) for (w, s), n in flags[flags["kept"]].groupby(
                   ["weak_consistency", "strong_consistency"], dropna=False).size().items()}}
    return sols, flags.reset_index(), summary
