"""Small live line charts (QtCharts) of per-iteration metrics."""

from __future__ import annotations

from PySide6.QtCharts import QChart, QChartView, QLineSeries, QValueAxis
from PySide6.QtCore import QMargins, Qt
from PySide6.QtGui import QPainter


class MetricChart(QChartView):
    """One chart, one line per metric key, iterations along x."""

    def __init__(self, title: str, lines: list[tuple[str, str]], parent=None):
        chart = QChart()
        chart.setTitle(title)
        chart.setMargins(QMargins(4, 4, 4, 4))
        chart.legend().setAlignment(Qt.AlignBottom)
        super().__init__(chart, parent)
        self.setRenderHint(QPainter.Antialiasing)
        self.setMinimumHeight(190)
        self.x_axis, self.y_axis = QValueAxis(), QValueAxis()
        self.x_axis.setLabelFormat("%d")
        self.x_axis.setTitleText("iteration")
        self.y_axis.setLabelFormat("%.3g")
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
        self.clear()

    def clear(self) -> None:
        for series in self.series.values():
            series.clear()
        self.x_axis.setRange(0, 1)
        self.y_axis.setRange(0, 1)

    def add(self, iteration: int, metrics: dict) -> None:
        for key, series in self.series.items():
            value = metrics.get(key)
            if isinstance(value, (int, float)):
                series.append(iteration, float(value))
        self._fit()

    def values(self, key: str) -> list[tuple[float, float]]:
        return [(p.x(), p.y()) for p in self.series[key].points()]

    def _fit(self) -> None:
        points = [p for s in self.series.values() for p in s.points()]
        if not points:
            return
        xs, ys = [p.x() for p in points], [p.y() for p in points]
        low, high = min(ys), max(ys)
        pad = (high - low) * 0.1 or abs(high) * 0.1 or 0.1
        self.x_axis.setRange(min(xs), max(max(xs), min(xs) + 1))
        self.x_axis.setTickCount(min(11, int(max(xs) - min(xs)) + 1) if max(xs) > min(xs) else 2)
        self.y_axis.setRange(low - pad, high + pad)
