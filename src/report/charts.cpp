// Histogram, bar chart, x-y plot and heatmap drawn on SvgDocument.
#include "report/charts.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/error.h"

namespace loupe::report {

namespace {

constexpr double kTitleSize = 15;
constexpr double kLabelSize = 12;
constexpr double kTickSize = 10.5;
const char* const kAxisColour = "#444";
const char* const kGridColour = "#e4e4e4";

// Maps data values to pixels on one axis, linearly or by log10.
struct Scale {
  double lo = 0, hi = 1;  // data range (log: > 0)
  double p0 = 0, p1 = 1;  // pixel range (p0 for lo)
  bool log = false;

  double to_unit(double v) const {
    if (log) return (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
    return (v - lo) / (hi - lo);
  }
  double operator()(double v) const { return p0 + to_unit(v) * (p1 - p0); }
  bool drawable(double v) const { return std::isfinite(v) && (!log || v > 0); }
};

void draw_title(SvgDocument& doc, const std::string& title) {
  if (title.empty()) return;
  doc.set_title(title);
  doc.text(doc.width() / 2, 22, title, {.size = kTitleSize, .anchor = Anchor::Middle, .bold = true});
}

void draw_no_data(SvgDocument& doc) {
  doc.text(doc.width() / 2, doc.height() / 2, "no data",
           {.size = kLabelSize, .anchor = Anchor::Middle, .fill = "#888"});
}

// Ticks and range of an axis over data [lo, hi].
struct AxisLayout {
  double lo, hi;
  std::vector<double> ticks;
};

AxisLayout layout_axis(double lo, double hi, bool log, std::optional<double> fixed_min, std::optional<double> fixed_max,
                       int max_ticks) {
  if (fixed_min) lo = *fixed_min;
  if (fixed_max) hi = *fixed_max;
  if (log) {
    if (!(lo > 0)) lo = hi > 0 ? hi / 10 : 1;
    if (!(hi > lo)) hi = lo * 10;
    std::vector<double> t = log_ticks(lo, hi, max_ticks);
    if (!fixed_min) lo = std::min(lo, t.front());
    if (!fixed_max) hi = std::max(hi, t.back());
    std::vector<double> inside;
    for (double v : t)
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) inside.push_back(v);
    return {lo, hi, inside};
  }
  std::vector<double> t = nice_ticks(lo, hi, max_ticks);
  if (!fixed_min) lo = t.front();
  if (!fixed_max) hi = t.back();
  if (!(hi > lo)) hi = lo + 1;
  std::vector<double> inside;
  for (double v : t)
    if (v >= lo - 1e-9 * std::fabs(hi - lo) && v <= hi + 1e-9 * std::fabs(hi - lo)) inside.push_back(v);
  return {lo, hi, inside};
}

// The x axis line at pixel y, ticks below, label centred under them.
void draw_x_axis(SvgDocument& doc, const Scale& s, const std::vector<double>& ticks, double y, double grid_top,
                 const std::string& label) {
  doc.begin_group("x-axis");
  for (double t : ticks) {
    const double x = s(t);
    if (grid_top < y) doc.line(x, grid_top, x, y, {.stroke = kGridColour, .stroke_width = 1});
    doc.line(x, y, x, y + 5, {.stroke = kAxisColour, .stroke_width = 1});
    doc.text(x, y + 17, format_label(t), {.size = kTickSize, .anchor = Anchor::Middle});
  }
  doc.line(std::min(s.p0, s.p1), y, std::max(s.p0, s.p1), y, {.stroke = kAxisColour, .stroke_width = 1});
  if (!label.empty()) doc.text((s.p0 + s.p1) / 2, y + 36, label, {.size = kLabelSize, .anchor = Anchor::Middle});
  doc.end_group();
}

// The y axis line at pixel x, ticks left with grid lines to grid_right, label rotated.
void draw_y_axis(SvgDocument& doc, const Scale& s, const std::vector<double>& ticks, double x, double grid_right,
                 const std::string& label) {
  doc.begin_group("y-axis");
  double widest = 0;
  for (double t : ticks) {
    const double y = s(t);
    if (grid_right > x) doc.line(x, y, grid_right, y, {.stroke = kGridColour, .stroke_width = 1});
    doc.line(x - 5, y, x, y, {.stroke = kAxisColour, .stroke_width = 1});
    const std::string text = format_label(t);
    widest = std::max(widest, text_width(text, kTickSize));
    doc.text(x - 8, y, text, {.size = kTickSize, .anchor = Anchor::End, .middle_baseline = true});
  }
  doc.line(x, std::min(s.p0, s.p1), x, std::max(s.p0, s.p1), {.stroke = kAxisColour, .stroke_width = 1});
  if (!label.empty()) {
    const double lx = std::max(12.0, x - widest - 18);
    const double ly = (s.p0 + s.p1) / 2;
    doc.text(lx, ly, label, {.size = kLabelSize, .anchor = Anchor::Middle, .rotate = -90});
  }
  doc.end_group();
}

int hex_component(double v) {
  return static_cast<int>(std::lround(std::clamp(v, 0.0, 255.0)));
}

std::string rgb_hex(double r, double g, double b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", hex_component(r), hex_component(g), hex_component(b));
  return buf;
}

// Piecewise-linear interpolation through evenly spaced colour stops.
std::string interpolate(const std::vector<std::array<int, 3>>& stops, double t) {
  if (!std::isfinite(t)) t = 0;
  t = std::clamp(t, 0.0, 1.0);
  const double pos = t * static_cast<double>(stops.size() - 1);
  const size_t i = std::min(static_cast<size_t>(pos), stops.size() - 2);
  const double f = pos - static_cast<double>(i);
  const auto& a = stops[i];
  const auto& b = stops[i + 1];
  return rgb_hex(a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]), a[2] + f * (b[2] - a[2]));
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int max_ticks) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {0, 1};
  if (lo > hi) std::swap(lo, hi);
  if (hi == lo) {
    const double pad = lo == 0 ? 1 : std::fabs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  max_ticks = std::max(2, max_ticks);
  const double raw = (hi - lo) / (max_ticks - 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag * 10;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  }
  const double first = std::floor(lo / step + 1e-9) * step;
  const double last = std::ceil(hi / step - 1e-9) * step;
  std::vector<double> out;
  for (int i = 0;; ++i) {
    double v = first + i * step;
    if (std::fabs(v) < step * 1e-9) v = 0;  // no "-0" or 1e-17
    out.push_back(v);
    if (v >= last - step * 1e-9 || i > 1000) break;
  }
  return out;
}

std::vector<double> log_ticks(double lo, double hi, int max_ticks) {
  if (!(lo > 0) || !std::isfinite(lo)) lo = 1;
  if (!(hi > lo) || !std::isfinite(hi)) hi = lo * 10;
  const int e0 = static_cast<int>(std::floor(std::log10(lo) + 1e-9));
  const int e1 = static_cast<int>(std::ceil(std::log10(hi) - 1e-9));
  const int decades = std::max(1, e1 - e0);
  const int every = std::max(1, (decades + max_ticks - 2) / std::max(1, max_ticks - 1));
  std::vector<double> out;
  for (int e = e0; e <= e1 + every - 1; e += every) {
    out.push_back(std::pow(10.0, e));
    if (e >= e1) break;
  }
  return out;
}

std::string palette_colour(size_t index) {
  static const char* const kPalette[] = {"#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b",
                                         "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac"};
  return kPalette[index % 10];
}

std::string scale_colour(ColourScale scale, double t) {
  switch (scale) {
    case ColourScale::Viridis: {
      static const std::vector<std::array<int, 3>> kViridis = {
          {68, 1, 84},    {72, 40, 120},  {62, 73, 137},  {49, 104, 142}, {38, 130, 142},
          {31, 158, 137}, {53, 183, 121}, {110, 206, 88}, {181, 222, 43}, {253, 231, 37}};
      return interpolate(kViridis, t);
    }
    case ColourScale::Diverging: {
      static const std::vector<std::array<int, 3>> kDiverging = {
          {33, 102, 172}, {103, 169, 207}, {247, 247, 247}, {239, 138, 98}, {178, 24, 43}};
      return interpolate(kDiverging, t);
    }
  }
  return "#000000";
}

SvgDocument histogram(const Histogram& h) {
  SvgDocument doc(h.frame.width, h.frame.height);
  draw_title(doc, h.frame.title);
  if (!h.counts.empty())
    LOUPE_ASSERT(h.edges.size() == h.counts.size() + 1, "histogram: ", h.edges.size(), " edges for ", h.counts.size(),
                 " bins");
  const double left = 70, right = h.frame.width - 20, top = 40, bottom = h.frame.height - 50;
  double ymax = 0, ymin_pos = std::numeric_limits<double>::infinity();
  for (double c : h.counts) {
    if (!std::isfinite(c)) continue;
    ymax = std::max(ymax, c);
    if (c > 0) ymin_pos = std::min(ymin_pos, c);
  }
  bool any_edge = false;
  double xlo = 0, xhi = 1;
  for (double e : h.edges) {
    if (!std::isfinite(e)) continue;
    xlo = any_edge ? std::min(xlo, e) : e;
    xhi = any_edge ? std::max(xhi, e) : e;
    any_edge = true;
  }
  const AxisLayout xa = layout_axis(xlo, xhi, false, xlo, xhi, 7);
  const AxisLayout ya = h.log_y
                            ? layout_axis(std::isfinite(ymin_pos) ? ymin_pos : 1, std::max(ymax, 1.0), true, {}, {}, 6)
                            : layout_axis(0, std::max(ymax, 1.0), false, 0.0, {}, 6);
  const Scale sx{xa.lo, xa.hi, left, right, false};
  const Scale sy{ya.lo, ya.hi, bottom, top, h.log_y};
  draw_y_axis(doc, sy, ya.ticks, left, right, h.y_label);
  doc.begin_group("bars");
  for (size_t i = 0; i < h.counts.size(); ++i) {
    const double c = h.counts[i];
    if (!std::isfinite(c) || c <= 0 || !std::isfinite(h.edges[i]) || !std::isfinite(h.edges[i + 1])) continue;
    const double x0 = sx(h.edges[i]), x1 = sx(h.edges[i + 1]);
    const double y = h.log_y ? sy(std::max(c, ya.lo)) : sy(c);
    const double base = h.log_y ? bottom : sy(0);
    const double gap = (x1 - x0) > 4 ? 0.5 : 0;
    doc.rect(x0 + gap, y, x1 - x0 - 2 * gap, base - y, {.fill = h.colour},
             "[" + format_label(h.edges[i]) + ", " + format_label(h.edges[i + 1]) + "): " + format_label(c));
  }
  doc.end_group();
  draw_x_axis(doc, sx, xa.ticks, bottom, bottom, h.x_label);
  if (h.counts.empty() || ymax <= 0) draw_no_data(doc);
  return doc;
}

SvgDocument bar_chart(const BarChart& c) {
  constexpr double kBarHeight = 18, kBarGap = 5;
  double label_width = 0;
  for (const Bar& b : c.bars) label_width = std::min(260.0, std::max(label_width, text_width(b.label, kLabelSize)));
  const double top = 44;
  const double height =
      std::max(c.frame.height, top + static_cast<double>(c.bars.size()) * (kBarHeight + kBarGap) + 56);
  SvgDocument doc(c.frame.width, height);
  draw_title(doc, c.frame.title);
  const double left = label_width + 20, right = c.frame.width - 70, bottom = height - 50;
  double vmin = 0, vmax = 0;
  for (const Bar& b : c.bars) {
    if (!std::isfinite(b.value)) continue;
    vmin = std::min(vmin, b.value);
    vmax = std::max(vmax, b.value);
  }
  if (vmax == vmin) vmax = vmin + 1;
  const AxisLayout xa = layout_axis(vmin, vmax, false, {}, {}, 6);
  const Scale sx{xa.lo, xa.hi, left, right, false};
  doc.begin_group("bars");
  for (size_t i = 0; i < c.bars.size(); ++i) {
    const Bar& b = c.bars[i];
    const double y = top + static_cast<double>(i) * (kBarHeight + kBarGap);
    // Labels longer than the label column are shortened on screen; the tooltip keeps them whole.
    std::string shown = b.label;
    const double fit = text_width(shown, kLabelSize) > label_width ? label_width : 0;
    doc.text(left - 6, y + kBarHeight / 2, shown,
             {.size = kLabelSize, .anchor = Anchor::End, .middle_baseline = true, .fit_width = fit}, b.label);
    if (!std::isfinite(b.value)) continue;
    const double x0 = sx(std::min(0.0, b.value)), x1 = sx(std::max(0.0, b.value));
    doc.rect(x0, y, x1 - x0, kBarHeight, {.fill = c.colour}, b.label + ": " + format_label(b.value));
    doc.text(x1 + 4, y + kBarHeight / 2, format_label(b.value),
             {.size = kTickSize, .fill = "#555", .middle_baseline = true});
  }
  doc.end_group();
  draw_x_axis(doc, sx, xa.ticks, bottom, top - 4, c.value_label);
  if (c.bars.empty()) draw_no_data(doc);
  return doc;
}

SvgDocument xy_plot(const XYPlot& p) {
  SvgDocument doc(p.frame.width, p.frame.height);
  draw_title(doc, p.frame.title);
  bool named = false;
  size_t n_named = 0;
  for (const Series& s : p.series) {
    LOUPE_ASSERT(s.x.size() == s.y.size(), "series '", s.name, "': ", s.x.size(), " x values, ", s.y.size(), " y");
    n_named += s.name.empty() ? 0 : 1;
  }
  named = n_named > 1;
  const double legend_width = named ? 150 : 0;
  const double left = 70, right = p.frame.width - 20 - legend_width, top = 40, bottom = p.frame.height - 50;
  double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo, ylo = xlo, yhi = -xlo;
  for (const Series& s : p.series) {
    for (size_t i = 0; i < s.x.size(); ++i) {
      const double x = s.x[i], y = s.y[i];
      if (!std::isfinite(x) || !std::isfinite(y) || (p.x.log && x <= 0) || (p.y.log && y <= 0)) continue;
      xlo = std::min(xlo, x), xhi = std::max(xhi, x), ylo = std::min(ylo, y), yhi = std::max(yhi, y);
    }
  }
  const bool empty = !std::isfinite(xlo);
  if (empty) xlo = p.x.log ? 1 : 0, xhi = p.x.log ? 10 : 1, ylo = p.y.log ? 1 : 0, yhi = p.y.log ? 10 : 1;
  const AxisLayout xa = layout_axis(xlo, xhi, p.x.log, p.x.min, p.x.max, 7);
  const AxisLayout ya = layout_axis(ylo, yhi, p.y.log, p.y.min, p.y.max, 6);
  const Scale sx{xa.lo, xa.hi, left, right, p.x.log};
  const Scale sy{ya.lo, ya.hi, bottom, top, p.y.log};
  draw_y_axis(doc, sy, ya.ticks, left, right, p.y.label);
  draw_x_axis(doc, sx, xa.ticks, bottom, bottom, p.x.label);
  if (!p.markers.empty()) {
    doc.begin_group("markers");
    std::vector<double> last_end(4, -std::numeric_limits<double>::infinity());  // per label row
    for (const Marker& m : p.markers) {
      if (!sx.drawable(m.x) || m.x < xa.lo || m.x > xa.hi) continue;
      const double x = sx(m.x);
      doc.line(x, top, x, bottom, {.stroke = m.colour, .stroke_width = 1, .dash = m.dashed ? "3,3" : ""});
      const double w = text_width(m.label, kTickSize);
      const auto row = static_cast<size_t>(std::clamp(m.row, 0, 3));
      if (!m.label.empty() && x + 2 > last_end[row] + 4 && x + 2 + w <= right) {
        doc.text(x + 2, top + 10 + 13 * static_cast<double>(row), m.label, {.size = kTickSize, .fill = m.colour},
                 m.label);
        last_end[row] = x + 2 + w;
      }
    }
    doc.end_group();
  }
  for (size_t k = 0; k < p.series.size(); ++k) {
    const Series& s = p.series[k];
    LOUPE_ASSERT(s.labels.empty() || s.labels.size() == s.x.size(), "series '", s.name, "': ", s.labels.size(),
                 " labels for ", s.x.size(), " points");
    const std::string colour = s.colour.empty() ? palette_colour(k) : s.colour;
    doc.begin_group("series-" + std::to_string(k));
    std::vector<Point> run;  // a polyline breaks at undrawable points
    const auto flush = [&] {
      if (run.size() >= 2) doc.polyline(run, {.fill = "none", .stroke = colour, .stroke_width = 1.6});
      run.clear();
    };
    for (size_t i = 0; i < s.x.size(); ++i) {
      const double x = s.x[i], y = s.y[i];
      const bool inside = sx.drawable(x) && sy.drawable(y) && x >= xa.lo && x <= xa.hi && y >= ya.lo && y <= ya.hi;
      if (!inside) {
        flush();
        continue;
      }
      if (s.lines) run.push_back({sx(x), sy(y)});
      if (s.points)
        doc.circle(sx(x), sy(y), 2.5, {.fill = colour},
                   (s.labels.empty() ? "" : s.labels[i] + " ") + (s.name.empty() ? "" : s.name + ": ") + "(" +
                       format_label(x) + ", " + format_label(y) + ")");
    }
    flush();
    doc.end_group();
  }
  if (named) {
    doc.begin_group("legend");
    double y = top + 6;
    for (size_t k = 0; k < p.series.size(); ++k) {
      const Series& s = p.series[k];
      if (s.name.empty()) continue;
      const std::string colour = s.colour.empty() ? palette_colour(k) : s.colour;
      const double x = right + 16;
      doc.line(x, y, x + 18, y, {.stroke = colour, .stroke_width = 2.5});
      // A long name is squeezed into the legend's column rather than run off the canvas.
      const double room = p.frame.width - (x + 24) - 4;
      doc.text(
          x + 24, y, s.name,
          {.size = kTickSize, .middle_baseline = true, .fit_width = text_width(s.name, kTickSize) > room ? room : 0});
      y += 18;
    }
    doc.end_group();
  }
  if (empty) draw_no_data(doc);
  return doc;
}

SvgDocument heatmap(const Heatmap& h) {
  const size_t rows = h.row_labels.size(), cols = h.col_labels.size();
  LOUPE_ASSERT(h.values.size() == rows * cols, "heatmap: ", h.values.size(), " values for ", rows, "x", cols);
  double row_label_w = 0, col_label_w = 0;
  for (const auto& l : h.row_labels) row_label_w = std::max(row_label_w, text_width(l, kTickSize));
  for (const auto& l : h.col_labels) col_label_w = std::max(col_label_w, text_width(l, kTickSize));
  row_label_w = std::min(row_label_w, 200.0);
  col_label_w = std::min(col_label_w, 140.0);
  const double legend_w = 90;
  const double left = row_label_w + 14;
  const double avail_w = std::max(40.0, h.frame.width - left - legend_w - 10);
  const double cell_w = cols ? avail_w / static_cast<double>(cols) : avail_w;
  const bool rotate_cols = col_label_w > cell_w - 2;
  const double top = 36 + (rotate_cols ? col_label_w * 0.72 + 8 : 18);
  const double avail_h = std::max(40.0, h.frame.height - top - 16);
  const double cell_h = rows ? avail_h / static_cast<double>(rows) : avail_h;
  SvgDocument doc(h.frame.width, h.frame.height);
  draw_title(doc, h.frame.title);

  double lo = std::numeric_limits<double>::infinity(), hi = -lo, absmax = 0;
  for (double v : h.values) {
    if (!std::isfinite(v)) continue;
    lo = std::min(lo, v), hi = std::max(hi, v), absmax = std::max(absmax, std::fabs(v));
  }
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (h.scale == ColourScale::Diverging) lo = -absmax, hi = absmax;
  if (h.vmin) lo = *h.vmin;
  if (h.vmax) hi = *h.vmax;
  if (!(hi > lo)) hi = lo + 1;
  const auto unit = [&](double v) { return (v - lo) / (hi - lo); };

  doc.begin_group("row-labels");
  for (size_t r = 0; r < rows; ++r)
    doc.text(left - 5, top + (static_cast<double>(r) + 0.5) * cell_h, h.row_labels[r],
             {.size = kTickSize,
              .anchor = Anchor::End,
              .middle_baseline = true,
              .fit_width = text_width(h.row_labels[r], kTickSize) > row_label_w ? row_label_w : 0});
  doc.end_group();
  doc.begin_group("col-labels");
  for (size_t c = 0; c < cols; ++c) {
    const double x = left + (static_cast<double>(c) + 0.5) * cell_w;
    const double fit = text_width(h.col_labels[c], kTickSize) > col_label_w ? col_label_w : 0;
    if (rotate_cols)
      doc.text(x, top - 5, h.col_labels[c], {.size = kTickSize, .rotate = -45, .fit_width = fit});
    else
      doc.text(x, top - 5, h.col_labels[c], {.size = kTickSize, .anchor = Anchor::Middle, .fit_width = fit});
  }
  doc.end_group();
  doc.begin_group("cells");
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < cols; ++c) {
      const double v = h.values[r * cols + c];
      const double x = left + static_cast<double>(c) * cell_w, y = top + static_cast<double>(r) * cell_h;
      const std::string where = h.row_labels[r] + " / " + h.col_labels[c] + ": ";
      if (!std::isfinite(v)) {
        doc.rect(x, y, cell_w, cell_h, {.fill = "#d0d0d0"}, where + "missing");
        continue;
      }
      const double t = unit(v);
      doc.rect(x, y, cell_w, cell_h, {.fill = scale_colour(h.scale, t)}, where + format_label(v));
      if (h.annotate && cell_h >= 10) {
        const bool dark = h.scale == ColourScale::Viridis ? t < 0.55 : std::fabs(t - 0.5) > 0.3;
        doc.text(x + cell_w / 2, y + cell_h / 2, format_label(v),
                 {.size = std::min(10.0, cell_h * 0.6),
                  .anchor = Anchor::Middle,
                  .fill = dark ? "#fff" : "#111",
                  .middle_baseline = true});
      }
    }
  }
  doc.end_group();

  // Colour bar: a column of 32 steps with ticks of the value range.
  doc.begin_group("legend");
  const double bx = h.frame.width - legend_w + 10, bw = 14, btop = top, bh = std::max(40.0, avail_h);
  constexpr int kSteps = 32;
  for (int i = 0; i < kSteps; ++i) {
    const double t0 = static_cast<double>(i) / kSteps;
    doc.rect(bx, btop + bh * (1 - t0 - 1.0 / kSteps), bw, bh / kSteps + 0.5,
             {.fill = scale_colour(h.scale, t0 + 0.5 / kSteps)});
  }
  doc.rect(bx, btop, bw, bh, {.fill = "none", .stroke = kAxisColour, .stroke_width = 0.8});
  double tick_w = 0;
  for (double t : nice_ticks(lo, hi, 5)) {
    if (t < lo - 1e-12 * (hi - lo) || t > hi + 1e-12 * (hi - lo)) continue;
    const double y = btop + bh * (1 - unit(t));
    doc.line(bx + bw, y, bx + bw + 4, y, {.stroke = kAxisColour, .stroke_width = 1});
    doc.text(bx + bw + 6, y, format_label(t), {.size = kTickSize - 1, .middle_baseline = true});
    tick_w = std::max(tick_w, text_width(format_label(t), kTickSize - 1));
  }
  // The caption runs down the right of the tick labels, squeezed to the bar's height: it never
  // reaches the column labels above or past the canvas.
  if (!h.value_label.empty()) {
    const double cx = std::min(bx + bw + 6 + tick_w + 10, h.frame.width - 4);
    const double w = text_width(h.value_label, kTickSize);
    doc.text(cx, btop + bh / 2, h.value_label,
             {.size = kTickSize, .anchor = Anchor::Middle, .rotate = 90, .fit_width = w > bh ? bh : 0});
  }
  doc.end_group();
  if (h.values.empty()) draw_no_data(doc);
  return doc;
}

SvgDocument token_strip(const TokenStrip& s) {
  LOUPE_ASSERT(s.values.size() == s.tokens.size(), "token strip: ", s.values.size(), " values for ", s.tokens.size(),
               " tokens");
  constexpr double kSize = 13, kPad = 3, kLine = 24, kLeft = 12, kBar = 28;
  double absmax = 0, lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double v : s.values) {
    if (!std::isfinite(v)) continue;
    absmax = std::max(absmax, std::fabs(v));
    lo = std::min(lo, v), hi = std::max(hi, v);
  }
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (s.scale == ColourScale::Diverging) lo = -absmax, hi = absmax;
  if (!(hi > lo)) hi = lo + 1;
  const auto unit = [&](double v) { return (v - lo) / (hi - lo); };
  // Lay the tokens out first: the height follows from the wrapping.
  struct Cell {
    double x, y, w;
  };
  std::vector<Cell> cells;
  const double right = s.frame.width - kLeft;
  double x = kLeft, y = 40;
  for (const auto& t : s.tokens) {
    const double w = std::min(right - kLeft, text_width(t, kSize) + 2 * kPad);
    if (x + w > right && x > kLeft) x = kLeft, y += kLine;
    cells.push_back({x, y, w});
    x += w + 2;
  }
  const double height = y + kLine + kBar + 20;
  SvgDocument doc(s.frame.width, height);
  draw_title(doc, s.frame.title);
  doc.begin_group("tokens");
  for (size_t i = 0; i < cells.size(); ++i) {
    const double v = s.values[i];
    const std::string tip =
        "#" + std::to_string(i) + " " + s.tokens[i] + ": " + (std::isfinite(v) ? format_label(v) : "none");
    const double t = std::isfinite(v) ? unit(v) : 0.5;
    doc.rect(cells[i].x, cells[i].y, cells[i].w, kLine - 4,
             {.fill = std::isfinite(v) ? scale_colour(s.scale, t) : "#d0d0d0"}, tip);
    const bool dark = s.scale == ColourScale::Viridis ? t < 0.55 : std::fabs(t - 0.5) > 0.3;
    doc.text(cells[i].x + kPad, cells[i].y + (kLine - 4) / 2, s.tokens[i],
             {.size = kSize,
              .fill = dark ? "#fff" : "#111",
              .middle_baseline = true,
              .fit_width = cells[i].w - 2 * kPad < text_width(s.tokens[i], kSize) ? cells[i].w - 2 * kPad : 0});
  }
  doc.end_group();
  // A horizontal colour bar under the tokens.
  doc.begin_group("legend");
  const double by = y + kLine + 4, bw = std::min(240.0, s.frame.width - 2 * kLeft), bh = 10;
  constexpr int kSteps = 32;
  for (int i = 0; i < kSteps; ++i) {
    const double t0 = static_cast<double>(i) / kSteps;
    doc.rect(kLeft + bw * t0, by, bw / kSteps + 0.5, bh, {.fill = scale_colour(s.scale, t0 + 0.5 / kSteps)});
  }
  doc.rect(kLeft, by, bw, bh, {.fill = "none", .stroke = kAxisColour, .stroke_width = 0.8});
  doc.text(kLeft, by + bh + 10, format_label(lo), {.size = kTickSize - 1, .middle_baseline = true});
  doc.text(kLeft + bw, by + bh + 10, format_label(hi),
           {.size = kTickSize - 1, .anchor = Anchor::End, .middle_baseline = true});
  if (!s.value_label.empty())
    doc.text(kLeft + bw + 10, by + bh / 2, s.value_label, {.size = kTickSize, .middle_baseline = true});
  doc.end_group();
  if (s.values.empty()) draw_no_data(doc);
  return doc;
}

}  // namespace loupe::report
