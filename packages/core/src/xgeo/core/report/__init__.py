"""Results one can look at: CMC curves, retrieval grids, localisation plots and a self-contained HTML page.

Three layers, each usable on its own:

- :mod:`~xgeo.core.report.data` - the data behind each plot (CMC values, verdict and frame colour per
  retrieved cell, accuracy-vs-distance curve), no drawing;
- :mod:`~xgeo.core.report.plots` - matplotlib (Agg) drawing of that data to PNG files;
- :mod:`~xgeo.core.report.html` - the self-contained page (images inlined as data URIs).

:func:`write_report` ties them together for two feature files (``xgeo report`` and every method's
``--report DIR``); :func:`report_section` does the same for one section of a larger page.
"""

from xgeo.core.report.build import METRICS_FILE, REPORT_FILE, Report, report_section, write_report
from xgeo.core.report.data import (
    FRAME_COLOURS,
    CmcCurve,
    DistanceCurve,
    RetrievalCell,
    RetrievalRow,
    accuracy_vs_distance,
    cmc_curve,
    retrieval_rows,
    sample_queries,
    top1_errors,
    verdict,
)
from xgeo.core.report.html import ReportSection, data_uri, render_page, write_page
from xgeo.core.report.plots import (
    plot_accuracy_vs_distance,
    plot_cmc,
    plot_error_histogram,
    plot_location_map,
    plot_retrieval_grid,
)

__all__ = [
    "FRAME_COLOURS", "METRICS_FILE", "REPORT_FILE", "CmcCurve", "DistanceCurve", "Report", "ReportSection",
    "RetrievalCell", "RetrievalRow", "accuracy_vs_distance", "cmc_curve", "data_uri", "plot_accuracy_vs_distance",
    "plot_cmc", "plot_error_histogram", "plot_location_map", "plot_retrieval_grid", "render_page", "report_section",
    "retrieval_rows", "sample_queries", "top1_errors", "verdict", "write_page", "write_report",
]
