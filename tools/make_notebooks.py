import nbformat as nbf
from nbformat.v4 import new_notebook, new_markdown_cell as md, new_code_cell as code

KS = {"kernelspec": {"name": "cspack", "display_name": "cspack (Python 3.11)", "language": "python"},
      "language_info": {"name": "python"}}
PARAMS = code('# Financial quarter such as 2021-22-Q1 (blank: the latest params file)\n'
              'quarter = ""\n'
              '# Working folder (blank: data/processed/<quarter>; the runner passes a staging folder)\n'
              'work_dir = ""',
              metadata={"tags": ["parameters"]})
SETUP = ("from IPython.display import display\n\n"
         "from pipeline import sections\n"
         "from pipeline.context import open_quarter\n\n"
         "ctx = open_quarter(quarter, work_dir)")

def write(name, cells, in_pack=True):
    nb = new_notebook(cells=cells, metadata=dict(KS))
    if not in_pack:
        nb.metadata["cspack"] = {"in_pack": False}
    for c in nb.cells:
        pass
    nbf.validate(nb)
    nbf.write(nb, f"notebooks/{name}")

write("00_prepare.ipynb", [
    md("# Prepare the quarter's inputs\n\n"
       "Reads every input named in the quarter's params file (`params/<quarter>.yaml`), checks it against its "
       "schema, and writes typed tables, the input register, the quarantine and the quality findings to "
       "`data/processed/<quarter>/`. This notebook is not part of the pack: the *Data quality and method* "
       "section reports what it found."),
    PARAMS,
    code("from pipeline.context import open_quarter\n\nctx = open_quarter(quarter, work_dir)\nregister = ctx.prepare()\n"
         'register[["input", "rows_in", "rows_kept", "rows_quarantined", "synthetic"]]'),
    code("ctx.findings()"),
], in_pack=False)

write("10_summary.ipynb", [
    md("## Summary"),
    PARAMS,
    code(SETUP, metadata={"tags": ["remove"]}),
    code("display(sections.summary_text(ctx))"),
    code("display(sections.position_table(ctx))"),
    code("display(sections.variance_figure(ctx))"),
    md("### Analyst's commentary"),
    code('display(sections.commentary(ctx, "Summary"))'),
])

write("90_data_and_method.ipynb", [
    md("## Data quality and method"),
    PARAMS,
    code(SETUP, metadata={"tags": ["remove"]}),
    code("display(sections.data_text(ctx))"),
    md("### What was read"),
    code("display(sections.register_table(ctx))"),
    md("### What the checks found"),
    code("display(sections.findings_table(ctx))"),
    md("### Quarantined rows"),
    code("display(sections.quarantine_view(ctx))"),
    md("### Method\n\n"
       "- Under (-) / over spend is the full-year forecast less the controllable budget, computed from the "
       "figures as supplied and shown in £m to three decimals. A line with a zero budget and a forecast shows "
       "100.0%; a negative (income) budget takes its percentage against the absolute value.\n"
       "- Published reports round each line, so columns may not cast by £0.001m to £0.002m; totals here are "
       "computed from the lines, and any difference from a published total is listed above rather than forced.\n"
       "- Rows that fail a check are quarantined with the file, row, column and reason, and counted: for every "
       "input, rows read = rows kept + rows quarantined.\n"
       "- DfE suppression markers (`c`, `x`, `z`, `k`, `low`) stay missing and are never read as zero.\n\n"
       "### What this pack covers\n\n"
       "This edition of cspack builds the summary and this data section. The performance measures rated against "
       "targets, the budget table by service line with key variances, the placement projection, and savings, "
       "growth, risks, reserves, debt and traded services are added in later releases; their source tables are "
       "already read and checked above."),
    md("### Analyst's notes"),
    code('display(sections.commentary(ctx, "Data quality and method"))'),
])
