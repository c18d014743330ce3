"""The guided stage: a small base model writes, a big oracle writes `k` tokens at points a policy picks (at most
`c` per answer), over a dataset and a (c, k) grid, graded (see experiments/stages/__init__.py for the layout)."""
