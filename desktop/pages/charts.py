"""Small line charts (QtCharts) a non-engineer can read: round tick values (0, 0.5, 1, 1.5, not
3.26, 2.27), axes that never show a value a metric cannot take (a KL below 0, a share above 1),
and each line's meaning on hover, from core.journey.metric_words."""

from __future__ import annotations

import math
from typing import Optional

from PySide6.QtCharts import QChart, QChartView, QLineSeries, QValueAxis
from PySide6.QtCore import QMargins, Qt
from PySide6.QtGui import QPainter, QPen

from core.journey.metric_words import bounds, explain
from desktop.pages.base import esc

STEPS = (1, 2, 5, 10)  # tick spacing: one of these times a power of ten


def nice_range(low: float, high: float, ticks: int = 5, whole: bool = False) -> tuple[float, float, float]:
    """(start, end, step) of an axis that shows ``low`` to ``high`` with about ``ticks`` ticks,
    each a round number: the step is 1, 2 or 5 times a power of ten (at least 1 if ``whole``),
    and the ends are multiples of it."""
    if high < low:
        low, high = high, low
    span = high - low or abs(high) * 0.2 or 1.0
    raw = span / max(1, ticks - 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(s * power for s in STEPS if s * power >= raw * (1 - 1e-9))
    if whole:
        step = max(1.0, round(step))
    start, end = math.floor(low / step + 1e-9) * step, math.ceil(high / step - 1e-9) * step
    if end <= start:
        end = start + step
    return _tidy(start), _tidy(end), step


def _tidy(x: float) -> float:
    return round(x, 12) + 0.0  # 0.30000000000000004 -> 0.3, -0.0 -> 0.0


def decimals(step: float) -> int:
    """Digits after the point that tell ticks ``step`` apart: 0 for 1 or 20, 1 for 0.5, 2 for 0.05."""
    return max(0, -math.floor(math.log10(step) + 1e-9))


def set_nice(axis: QValueAxis, low: float, high: float, ticks: int = 5, whole: bool = False) -> None:
    start, end, step = nice_range(low, high, ticks, whole)
    axis.setRange(start, end)
    axis.setTickCount(int(round((end - start) / step)) + 1)
    axis.setLabelFormat(f"%.{decimals(step)}f")


class MetricChart(QChartView):
    """One chart, one line per metric key, iterations along x. The y axis starts at the lowest
    value the chart's metrics can take, if they have one (0 for KL), and ends at the highest
    (1 for a share); between, it fits the data with round ticks."""

    def __init__(self, title: str, lines: list[tuple[str, str]], parent=None):
        chart = QChart()
        chart.setTitle(title)
        chart.setMargins(QMargins(4, 4, 4, 4))
        chart.legend().setAlignment(Qt.AlignBottom)
        super().__init__(chart, parent)
        self.setRenderHint(QPainter.Antialiasing)
        self.setMinimumHeight(190)
        self.x_axis, self.y_axis = QValueAxis(), QValueAxis()
        self.x_axis.setTitleText("iteration")
        chart.addAxis(self.x_axis, Qt.AlignBottom)
        chart.addAxis(self.y_axis, Qt.AlignLeft)
        self.series: dict[str, QLineSeries] = {}
        for key, label in lines:
            series = QLineSeries(name=label)
            series.setPointsVisible(True)
            chart.addSeries(series)
            series.attachAxis(self.x_axis)
            series.attachAxis(self.y_axis)
            self.series[key] = series
        lows, highs = zip(*(bounds(key) for key, _ in lines))
        self.floor: Optional[float] = None if None in lows else min(lows)
        self.ceiling: Optional[float] = None if None in highs else max(highs)
        self.setToolTip("<br>".join(f"<b>{esc(label)}</b>: {esc(explain(key))}" for key, label in lines))
        self.clear()

    def clear(self) -> None:
        for series in self.series.values():
            series.clear()
        set_nice(self.x_axis, 0, 1, whole=True)
        set_nice(self.y_axis, *self._y_span(0.0, 1.0))

    def add(self, iteration: int, metrics: dict) -> None:
        for key, series in self.series.items():
            value = metrics.get(key)
            if isinstance(value, (int, float)):
                series.append(iteration, float(value))
        self._fit()

    def values(self, key: str) -> list[tuple[float, float]]:
        return [(p.x(), p.y()) for p in self.series[key].points()]

    def _y_span(self, low: float, high: float) -> tuple[float, float]:
        if self.floor is not None:
            low = self.floor
        if self.ceiling is not None:
            high = self.ceiling
        return low, high

    def _fit(self) -> None:
        points = [p for s in self.series.values() for p in s.points()]
        if not points:
            return
        xs, ys = [p.x() for p in points], [p.y() for p in points]
        set_nice(self.x_axis, min(xs), max(max(xs), min(xs) + 1), ticks=min(11, int(max(xs) - min(xs)) + 1),
                 whole=True)
        set_nice(self.y_axis, *self._y_span(min(ys), max(ys)))


class AccuracyChart(QChartView):
    """The reward model's agreement with the user's held-out ratings, by version, with its
    likely range (the stored 95% interval) and the 50% a coin flip would score."""

    def __init__(self, parent=None):
        chart = QChart()
        chart.setMargins(QMargins(4, 4, 4, 4))
        chart.legend().setAlignment(Qt.AlignBottom)
        super().__init__(chart, parent)
        self.setRenderHint(QPainter.Antialiasing)
        self.setMinimumHeight(200)
        self.x_axis, self.y_axis = QValueAxis(), QValueAxis()
        self.x_axis.setTitleText("version")
        self.y_axis.setRange(0, 100)  # a share: never below 0% or above 100%
        self.y_axis.setTickCount(5)
        self.y_axis.setLabelFormat("%d%%")
        chart.addAxis(self.x_axis, Qt.AlignBottom)
        chart.addAxis(self.y_axis, Qt.AlignLeft)
        self.accuracy = QLineSeries(name="agrees with you")
        self.accuracy.setPointsVisible(True)
        self.low, self.high = QLineSeries(name="likely range (95%)"), QLineSeries()
        self.chance = QLineSeries(name="50%: a coin flip")
        for series, style in ((self.low, Qt.DashLine), (self.high, Qt.DashLine), (self.chance, Qt.DotLine)):
            pen = QPen(Qt.gray, 1.5, style)
            series.setPen(pen)
        for series in (self.accuracy, self.low, self.high, self.chance):
            chart.addSeries(series)
            series.attachAxis(self.x_axis)
            series.attachAxis(self.y_axis)
        chart.legend().markers(self.high)[0].setVisible(False)  # the range is named once
        self.setToolTip(esc(explain("accuracy")) + " The dashed lines show where the true figure likely lies: "
                        "the more ratings it is checked on, the narrower.")

    def show_versions(self, name: str, rows: list[dict]) -> None:
        """Plot ``rows`` ({"version", "accuracy", "low", "high"}, accuracy None where too few
        ratings were held out); versions without an accuracy are left out."""
        measured = [r for r in rows if r.get("accuracy") is not None]
        self.chart().setTitle(f"How often “{esc(name)}” agrees with you, by version")
        for series in (self.accuracy, self.low, self.high, self.chance):
            series.clear()
        for r in measured:
            self.accuracy.append(r["version"], 100 * r["accuracy"])
            if r.get("low") is not None and r.get("high") is not None:
                self.low.append(r["version"], 100 * r["low"])
                self.high.append(r["version"], 100 * r["high"])
        versions = [r["version"] for r in measured] or [1]
        first, last = min(versions), max(max(versions), min(versions) + 1)
        set_nice(self.x_axis, first, last, ticks=min(11, last - first + 1), whole=True)
        self.x_axis.setLabelFormat("%d")
        for x in (self.x_axis.min(), self.x_axis.max()):
            self.chance.append(x, 50)

    def values(self, series: QLineSeries) -> list[tuple[float, float]]:
        return [(p.x(), p.y()) for p in series.points()]
