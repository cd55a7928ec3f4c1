// A small SVG document writer for the pictures loupe draws itself (charts, heatmaps, word
// clouds). It writes SVG 1.1 text with no external resources: every string that goes into the
// document (text, titles, attribute values) is XML-escaped, and invalid UTF-8 or characters XML
// forbids (C0 controls other than tab/newline/return, U+FFFE, U+FFFF) become U+FFFD, so any
// bytes can be drawn safely. Numbers are written compactly: at most 2 decimals, no trailing
// zeros ("12", "3.5", "-0.25").
//
// Usage:
//   report::SvgDocument doc(640, 400);          // width, height; viewBox "0 0 640 400"
//   doc.set_title("token lengths");             // <title>, shown by browsers as a tooltip
//   doc.rect(10, 10, 100, 20, {.fill = "#4c78a8"}, "bin 0..10: 42 documents");
//   doc.text(60, 50, "a < b & \"c\"", {.size = 14, .anchor = report::Anchor::Middle});
//   doc.begin_group("axis");  ... doc.end_group();
//   std::string svg = doc.str();                // the whole <svg ...>...</svg> element
//
// The output is one <svg> element with the SVG namespace and no XML declaration, so the same
// text is a valid standalone .svg file and can be inlined in HTML (see html.h).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace loupe::report {

// Writes v with at most max_decimals decimals and no trailing zeros; "-0" is written "0".
// Non-finite values are written "0" (SVG has no NaN); callers should not pass them.
std::string format_number(double v, int max_decimals = 2);

// A human label for an axis tick or a value: up to 4 significant digits, thousands as plain
// digits up to 999999 ("1500", "0.25"), then exponent form ("1.5e6", "2e-5").
std::string format_label(double v);

// XML text/attribute escaping of arbitrary bytes (see the top comment for what is replaced).
std::string xml_escape(std::string_view text);

// The approximate rendered width of text in a sans-serif font of the given size, in user units:
// about 0.6 em for Latin letters, narrow punctuation less, wide (CJK, Hangul, emoji) 1 em.
// Used to lay out labels; text drawn with TextStyle::fit_width is forced to this exact width.
double text_width(std::string_view utf8, double font_size);

// Fill/stroke attributes of a shape. An empty string leaves the attribute out (SVG defaults:
// fill black, no stroke); "none" is written as is. stroke_width <= 0 and opacity >= 1 are left out.
struct Style {
  std::string fill{};
  std::string stroke{};
  double stroke_width = 0;
  double opacity = 1;
  std::string css_class{};  // the class attribute, for readers that style the SVG
  std::string dash{};       // stroke-dasharray, e.g. "4 2"
};

enum class Anchor { Start, Middle, End };

struct TextStyle {
  double size = 12;  // font-size in user units
  Anchor anchor = Anchor::Start;
  std::string fill = "#222";
  bool bold = false;
  double rotate = 0;  // degrees, clockwise, around the anchor point (x, y)
  std::string font_family = "sans-serif";
  bool middle_baseline = false;  // dominant-baseline="middle": y is the vertical centre
  double fit_width = 0;          // > 0: textLength, the text is stretched/squeezed to this width
};

struct Point {
  double x = 0;
  double y = 0;
};

class SvgDocument {
 public:
  // width, height > 0 (asserted); the viewBox is "0 0 width height".
  SvgDocument(double width, double height);

  double width() const { return width_; }
  double height() const { return height_; }

  // The document's <title> and <desc> (accessibility, tooltips); written first in the output.
  void set_title(std::string_view title);
  void set_desc(std::string_view desc);
  // A background rectangle covering the whole canvas (default none: transparent).
  void set_background(std::string_view colour);

  // Shapes. A non-empty tooltip becomes a <title> child (shown on hover by browsers).
  void rect(double x, double y, double w, double h, const Style& style, std::string_view tooltip = {});
  void line(double x1, double y1, double x2, double y2, const Style& style);
  void polyline(const std::vector<Point>& points, const Style& style);
  // d is an SVG path string built by the caller (escaped on output).
  void path(std::string_view d, const Style& style, std::string_view tooltip = {});
  void circle(double cx, double cy, double r, const Style& style, std::string_view tooltip = {});
  void text(double x, double y, std::string_view text, const TextStyle& style, std::string_view tooltip = {});

  // <g> groups: id may be empty; transform is e.g. "translate(10,20)" (may be empty).
  // Every begin_group needs an end_group before str() (asserted).
  void begin_group(std::string_view id, std::string_view transform = {});
  void end_group();

  // Embeds another complete document (from str()) at (x, y) as a nested <svg>.
  void embed(double x, double y, const SvgDocument& other);

  // The complete <svg> element.
  std::string str() const;
  // Writes str() to a file; throws loupe::Error naming the path when it cannot.
  void save(const std::string& path) const;

 private:
  void style_attributes(const Style& style);
  void close_shape(std::string_view element, std::string_view tooltip);

  double width_;
  double height_;
  std::string title_;
  std::string desc_;
  std::string background_;
  std::string body_;
  int open_groups_ = 0;
};

}  // namespace loupe::report
