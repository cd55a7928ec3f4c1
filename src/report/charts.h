// Charts drawn as SVG documents (svg.h): histogram, horizontal bar chart, x-y line/scatter plot
// with linear or log axes, and a heatmap with row/column labels and a colour scale. Each chart
// is described by a plain struct and drawn by one function returning a finished SvgDocument
// (call .str() for the text, .save(path) for a file, or SvgDocument::embed to compose).
//
// Every chart has: the title as the document <title> and as a heading, axis labels as <text>
// elements, tick marks with labels from nice_ticks / log_ticks, and a <title> tooltip on each
// bar / cell / point with its exact value. Groups have stable ids ("x-axis", "y-axis",
// "legend", "bars", "cells", "series-0", ...) so tests and readers can find parts.
//
// Example:
//   report::Histogram h;
//   h.title = "document length";  h.x_label = "characters";
//   h.edges = {0, 10, 20, 30};    h.counts = {5, 12, 3};
//   report::histogram(h).save("lengths.svg");
//
// Bad data never crashes a chart: NaN/inf values are skipped (a heatmap draws them as a grey
// "missing" cell), empty inputs draw the frame and a "no data" note, and log axes ignore
// values <= 0.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "report/svg.h"

namespace loupe::report {

// Up to about max_ticks "nice" values (steps of 1, 2, 2.5 or 5 times a power of ten) covering
// [lo, hi]; the first is <= lo and the last >= hi. lo == hi gives a small range around it.
std::vector<double> nice_ticks(double lo, double hi, int max_ticks = 6);
// Powers of ten covering [lo, hi] (lo > 0), thinned to about max_ticks (every 10^k-th decade).
std::vector<double> log_ticks(double lo, double hi, int max_ticks = 8);

// A categorical palette of 10 distinguishable colours (Tableau 10); index wraps.
std::string palette_colour(size_t index);

// Colour scales for heatmaps: t in [0, 1] (clamped) to "#rrggbb".
enum class ColourScale {
  Viridis,    // perceptually uniform, dark blue (0) .. yellow (1)
  Diverging,  // blue (0) .. white (0.5) .. red (1), for signed values centred on zero
};
std::string scale_colour(ColourScale scale, double t);

// Common frame settings.
struct Frame {
  std::string title{};
  double width = 640;
  double height = 400;
};

struct Axis {
  std::string label{};
  bool log = false;           // log10 scale; values <= 0 are not drawn
  std::optional<double> min;  // fixed range; default from the data
  std::optional<double> max;
};

// A histogram of precomputed bins: edges has counts.size() + 1 increasing values.
struct Histogram {
  Frame frame;
  std::string x_label{};
  std::string y_label = "count";
  std::vector<double> edges{};
  std::vector<double> counts{};
  bool log_y = false;
  std::string colour = "#4c78a8";
};
// Asserts edges.size() == counts.size() + 1 when counts is non-empty.
SvgDocument histogram(const Histogram& h);

// Horizontal bars, one per row, labels left of the axis, value at the end of each bar. The
// height grows with the number of bars (frame.height is a minimum).
struct Bar {
  std::string label{};
  double value = 0;
};
struct BarChart {
  Frame frame;
  std::string value_label{};  // the x axis label
  std::vector<Bar> bars{};    // drawn top to bottom in this order
  std::string colour = "#4c78a8";
};
SvgDocument bar_chart(const BarChart& c);

// An x-y plot of one or more series, as lines, points or both, with a legend when there is
// more than one named series.
struct Series {
  std::string name{};
  std::vector<double> x{};  // same length as y (asserted)
  std::vector<double> y{};
  bool lines = true;
  bool points = false;
  std::string colour{};             // empty: palette_colour(series index)
  std::vector<std::string> labels;  // empty or one per point: named in the point's tooltip
};
// A vertical line across the plot at x, its label at the top (labels that would overlap the
// previous one are left to the line's tooltip).
struct Marker {
  double x = 0;
  std::string label{};
  std::string colour = "#9e9e9e";
  bool dashed = true;
  int row = 0;  // label row from the top (0, 1, ...): rows keep apart markers that fall together
};
struct XYPlot {
  Frame frame;
  Axis x;
  Axis y;
  std::vector<Series> series{};
  std::vector<Marker> markers{};
};
SvgDocument xy_plot(const XYPlot& p);

// A rows x cols grid of values (row-major), with row labels on the left, column labels on top
// (rotated when long), and a colour bar legend on the right. NaN cells are "missing".
struct Heatmap {
  Frame frame;
  std::vector<std::string> row_labels{};  // size rows (asserted)
  std::vector<std::string> col_labels{};  // size cols (asserted)
  std::vector<double> values{};           // [rows, cols] row-major
  ColourScale scale = ColourScale::Viridis;
  std::optional<double> vmin;  // default: data minimum (Diverging: -max|v|)
  std::optional<double> vmax;  // default: data maximum (Diverging: +max|v|)
  std::string value_label{};   // caption of the colour bar
  bool annotate = false;       // write each value in its cell (small grids)
};
SvgDocument heatmap(const Heatmap& h);

// Tokens laid out as text, wrapped to the frame's width, each on a background coloured by its
// value (a diverging scale centred on zero, or viridis), with the value as the tooltip and a
// colour bar: attributions, losses, saliency per token.
struct TokenStrip {
  Frame frame;
  std::vector<std::string> tokens{};  // display text of each token
  std::vector<double> values{};       // one per token (asserted); NaN: no value (grey)
  ColourScale scale = ColourScale::Diverging;
  std::string value_label{};
};
SvgDocument token_strip(const TokenStrip& s);

}  // namespace loupe::report
