"""Report types and the reporting workflow's shared parts (docs/architecture.md, "The reporting workflow").

A report type is one pydantic row model (``types.ReportRow``, e.g. ``sales.SalesRow``)
registered in ``types.REPORT_TYPES``, plus one ``.xlsx`` template in the bucket's
``templates/``. The rest is shared by every type:

- ``schema``: the workflow's input and result and its activities' (plain data,
  imported by workflow code), ``REPORT_WORKFLOW_NAME`` and ``REPORT_WORKFLOW_DESCRIPTION``;
- ``parsing``: a CSV, XLSX or JSON data file as rows of cells;
- ``validation``: those rows against the row model, with row-level errors;
- ``figures``: totals and per-group sums;
- ``workbook``: the template filled with openpyxl;
- ``summary``: ``summary.json``, reproducible byte for byte;
- ``narrative``: what the model is asked for the optional narrative.

Nothing is imported here, so workflow code can import ``schema`` without
loading openpyxl.
"""
