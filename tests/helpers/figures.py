"""Figures each book notebook must produce in the quick profile (notebook stem -> number of images).

Shared by the notebook tests (image/png outputs in the executed notebook) and the rendered-book checks
(<img> tags in the HTML page), so a figure that silently stops being drawn fails at both stages.
"""

FIGURES = {
    "robust_aggregation_2d": 2,
    "gamma_search": 3,
    "main_table": 1,  # the impact heat map beside the main table
    "malicious_fraction": 2,  # the quick figure and the committed scale-profile figure
    "performance": 1,  # the committed benchmark results
    "flower": 1,  # accuracy per round of the four Flower runs
    "your_own_rule": 3,  # the report card, the deviation cards side by side, the FL cards side by side
}

#: The Results and Summary pages (_toc.yml): written for readers, so their code is behind a toggle, their
#: parameters cell is removed and the first screen shows a table or a figure.
READER_PAGES = ("fl_setup", "main_table", "afa_fang_defense", "cross_device", "perturbations",
                "malicious_fraction", "dnc_table", "paper_vs_ours", "robustness_benchmark")
