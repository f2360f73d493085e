"""Tables and an HTML page from an accuracy assessment (pure Python: the CSV, HTML and table layer share them)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np

from .accuracy import AreaEstimate, SampleAccuracy
from .class_areas import HECTARE_DIGITS, table_number

CITATION = ("Olofsson, P., Foody, G. M., Herold, M., Stehman, S. V., Woodcock, C. E., Wulder, M. A. (2014). Good "
            "practices for estimating area and assessing accuracy of land change. Remote Sensing of Environment "
            "148, 42-57.")


@dataclass
class Assessment:
    """Everything one assessment found (areas in hectares; ``estimate`` absent when not estimable)."""

    class_names: list[str]
    samples: SampleAccuracy
    estimate: AreaEstimate | None
    map_hectares: np.ndarray
    notes: list[str] = field(default_factory=list)

    def class_rows(self) -> list[dict[str, object]]:
        """One row per class: counts, sample measures and (when estimable) Olofsson estimates."""
        s, e = self.samples, self.estimate
        rows = []
        for i, name in enumerate(self.class_names):
            row = {"class": name, "map_hectares": table_number(self.map_hectares[i], HECTARE_DIGITS),
                   "map_samples": int(s.matrix[i].sum()), "reference_samples": int(s.matrix[:, i].sum()),
                   "users_accuracy": table_number(s.users[i]), "producers_accuracy": table_number(s.producers[i]),
                   "f1": table_number(s.f1[i])}
            if e is not None:
                row.update({"users_accuracy_adj": table_number(e.users[i]),
                            "users_ci95": table_number(e.users_ci[i]),
                            "producers_accuracy_adj": table_number(e.producers[i]),
                            "producers_ci95": table_number(e.producers_ci[i]),
                            "area_hectares": table_number(e.area[i], HECTARE_DIGITS),
                            "area_ci95_hectares": table_number(e.area_ci[i], HECTARE_DIGITS)})
            rows.append(row)
        return rows

    def summary(self) -> dict[str, object]:
        summary = {"samples": int(self.samples.matrix.sum()), "overall_accuracy": self.samples.overall,
                   "kappa": table_number(self.samples.kappa)}
        if self.estimate is not None:
            summary.update({"overall_accuracy_adj": self.estimate.overall,
                            "overall_ci95": self.estimate.overall_ci})
        return summary

    def html(self, title: str) -> str:
        """A self-contained HTML report: summary, confusion matrix, per-class table, notes, citation."""
        names = [html.escape(n) for n in self.class_names]
        matrix = self.samples.matrix
        head = "".join(f"<th>{n}</th>" for n in names)
        body = "".join(f"<tr><th>{n}</th>" + "".join(f"<td>{v}</td>" for v in matrix[i])
                       + f"<td><b>{matrix[i].sum()}</b></td></tr>" for i, n in enumerate(names))
        totals = "".join(f"<td><b>{v}</b></td>" for v in matrix.sum(axis=0))
        rows = self.class_rows()
        columns = list(rows[0]) if rows else []
        table = ("<tr>" + "".join(f"<th>{c}</th>" for c in columns) + "</tr>"
                 + "".join("<tr>" + "".join(f"<td>{_cell(r[c])}</td>" for c in columns) + "</tr>" for r in rows))
        summary = "".join(f"<li>{k}: {_cell(v)}</li>" for k, v in self.summary().items())
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                "<style>table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px;"
                "text-align:right}</style></head><body>"
                f"<h1>{html.escape(title)}</h1><ul>{summary}</ul>"
                "<h2>Confusion matrix (sample counts; rows = map, columns = reference)</h2>"
                f"<table><tr><th></th>{head}<th>total</th></tr>{body}<tr><th>total</th>{totals}"
                f"<td><b>{matrix.sum()}</b></td></tr></table>"
                "<h2>Per class</h2><p>*_adj, *_ci95 and area_*: stratified estimators of Olofsson et al. "
                "(2014) with the map classes as strata, 95 % confidence half-widths; areas in hectares.</p>"
                f"<table>{table}</table>" + (f"<h2>Notes</h2><ul>{notes}</ul>" if notes else "")
                + f"<p><small>{html.escape(CITATION)}</small></p></body></html>")


def _cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return html.escape(str(value))
