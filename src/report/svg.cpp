// SvgDocument: SVG text with escaped strings and compact numbers.
#include "report/svg.h"

#include <cmath>
#include <cstdio>

#include "core/atomic_file.h"
#include "core/error.h"
#include "tokenizer/utf8.h"

namespace loupe::report {

namespace {

// Strips trailing zeros (and a trailing '.') from a fixed or exponent-free number.
void strip_zeros(std::string& s) {
  if (s.find('.') == std::string::npos) return;
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
}

// Wide characters: CJK, Hangul, fullwidth forms, emoji.
bool is_wide(uint32_t cp) {
  return (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) || (cp >= 0xAC00 && cp <= 0xD7A3) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
         (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1FAFF) || (cp >= 0x20000 && cp <= 0x3FFFD);
}

// Width of one code point in em (a rough table of Helvetica-like advance widths).
double advance_em(uint32_t cp) {
  if (is_wide(cp)) return 1.0;
  if (cp < 0x80) {
    const char c = static_cast<char>(cp);
    if (c == ' ' || c == '.' || c == ',' || c == ':' || c == ';' || c == '\'' || c == '!' || c == '|' || c == 'i' ||
        c == 'j' || c == 'l' || c == 'I')
      return 0.3;
    if (c == 'f' || c == 't' || c == 'r' || c == '(' || c == ')' || c == '[' || c == ']' || c == '-' || c == '"')
      return 0.38;
    if (c == 'm' || c == 'w' || c == 'M' || c == 'W' || c == '@' || c == '%') return 0.9;
    if (c >= 'A' && c <= 'Z') return 0.68;
    return 0.58;
  }
  if (cp >= 0x300 && cp <= 0x36F) return 0.0;  // combining marks
  return 0.65;
}

const char* anchor_name(Anchor a) {
  switch (a) {
    case Anchor::Start: return "start";
    case Anchor::Middle: return "middle";
    case Anchor::End: return "end";
  }
  return "start";
}

}  // namespace

std::string format_number(double v, int max_decimals) {
  if (!std::isfinite(v)) return "0";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", max_decimals, v);
  std::string s = buf;
  strip_zeros(s);
  if (s == "-0") s = "0";
  return s;
}

std::string format_label(double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
  if (v == 0) return "0";
  const double a = std::fabs(v);
  char buf[64];
  if (a >= 1e6 || a < 1e-4) {
    std::snprintf(buf, sizeof buf, "%.3e", v);
    std::string s = buf;
    const size_t e = s.find('e');
    std::string mant = s.substr(0, e);
    strip_zeros(mant);
    const int exp = std::atoi(s.c_str() + e + 1);
    return mant + "e" + std::to_string(exp);
  }
  if (a >= 1000) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  std::snprintf(buf, sizeof buf, "%.4g", v);
  std::string s = buf;
  strip_zeros(s);
  return s;
}

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  size_t pos = 0;
  while (pos < text.size()) {
    const auto b = static_cast<uint8_t>(text[pos]);
    if (b < 0x80) {
      switch (b) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        case '\t': out += "&#9;"; break;
        case '\n': out += "&#10;"; break;
        case '\r': out += "&#13;"; break;
        default:
          if (b < 0x20 || b == 0x7F)
            out += "\xEF\xBF\xBD";  // U+FFFD: XML 1.0 forbids C0 controls
          else
            out.push_back(static_cast<char>(b));
      }
      ++pos;
      continue;
    }
    const size_t n = utf8::valid_sequence_length(text, pos);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++pos;
      continue;
    }
    size_t p = pos;
    const uint32_t cp = utf8::next_code_point(text, p);
    if (cp == 0xFFFE || cp == 0xFFFF || (cp >= 0x80 && cp <= 0x9F))
      out += "\xEF\xBF\xBD";  // non-characters and C1 controls
    else
      out.append(text.substr(pos, n));
    pos += n;
  }
  return out;
}

double text_width(std::string_view utf8_text, double font_size) {
  double em = 0;
  size_t pos = 0;
  while (pos < utf8_text.size()) {
    const size_t n = utf8::valid_sequence_length(utf8_text, pos);
    if (n == 0) {
      em += 1.0;  // drawn as U+FFFD
      ++pos;
      continue;
    }
    em += advance_em(utf8::next_code_point(utf8_text, pos));
  }
  return em * font_size;
}

SvgDocument::SvgDocument(double width, double height) : width_(width), height_(height) {
  LOUPE_ASSERT(width > 0 && height > 0 && std::isfinite(width) && std::isfinite(height), "svg size ", width, "x",
               height);
}

void SvgDocument::set_title(std::string_view title) {
  title_ = title;
}
void SvgDocument::set_desc(std::string_view desc) {
  desc_ = desc;
}
void SvgDocument::set_background(std::string_view colour) {
  background_ = colour;
}

void SvgDocument::style_attributes(const Style& style) {
  if (!style.fill.empty()) body_ += " fill=\"" + xml_escape(style.fill) + "\"";
  if (!style.stroke.empty()) body_ += " stroke=\"" + xml_escape(style.stroke) + "\"";
  if (style.stroke_width > 0) body_ += " stroke-width=\"" + format_number(style.stroke_width) + "\"";
  if (style.opacity < 1) body_ += " opacity=\"" + format_number(std::max(0.0, style.opacity), 3) + "\"";
  if (!style.dash.empty()) body_ += " stroke-dasharray=\"" + xml_escape(style.dash) + "\"";
  if (!style.css_class.empty()) body_ += " class=\"" + xml_escape(style.css_class) + "\"";
}

void SvgDocument::close_shape(std::string_view element, std::string_view tooltip) {
  if (tooltip.empty()) {
    body_ += "/>\n";
    return;
  }
  body_ += "><title>" + xml_escape(tooltip) + "</title></";
  body_ += element;
  body_ += ">\n";
}

void SvgDocument::rect(double x, double y, double w, double h, const Style& style, std::string_view tooltip) {
  body_ += "<rect x=\"" + format_number(x) + "\" y=\"" + format_number(y) + "\" width=\"" +
           format_number(std::max(0.0, w)) + "\" height=\"" + format_number(std::max(0.0, h)) + "\"";
  style_attributes(style);
  close_shape("rect", tooltip);
}

void SvgDocument::line(double x1, double y1, double x2, double y2, const Style& style) {
  body_ += "<line x1=\"" + format_number(x1) + "\" y1=\"" + format_number(y1) + "\" x2=\"" + format_number(x2) +
           "\" y2=\"" + format_number(y2) + "\"";
  style_attributes(style);
  close_shape("line", {});
}

void SvgDocument::polyline(const std::vector<Point>& points, const Style& style) {
  body_ += "<polyline points=\"";
  for (size_t i = 0; i < points.size(); ++i) {
    if (i) body_ += ' ';
    body_ += format_number(points[i].x) + "," + format_number(points[i].y);
  }
  body_ += "\"";
  style_attributes(style);
  close_shape("polyline", {});
}

void SvgDocument::path(std::string_view d, const Style& style, std::string_view tooltip) {
  body_ += "<path d=\"" + xml_escape(d) + "\"";
  style_attributes(style);
  close_shape("path", tooltip);
}

void SvgDocument::circle(double cx, double cy, double r, const Style& style, std::string_view tooltip) {
  body_ += "<circle cx=\"" + format_number(cx) + "\" cy=\"" + format_number(cy) + "\" r=\"" +
           format_number(std::max(0.0, r)) + "\"";
  style_attributes(style);
  close_shape("circle", tooltip);
}

void SvgDocument::text(double x, double y, std::string_view text, const TextStyle& style, std::string_view tooltip) {
  body_ += "<text x=\"" + format_number(x) + "\" y=\"" + format_number(y) + "\" font-size=\"" +
           format_number(style.size) + "\" font-family=\"" + xml_escape(style.font_family) + "\"";
  if (style.anchor != Anchor::Start) body_ += std::string(" text-anchor=\"") + anchor_name(style.anchor) + "\"";
  if (!style.fill.empty()) body_ += " fill=\"" + xml_escape(style.fill) + "\"";
  if (style.bold) body_ += " font-weight=\"bold\"";
  if (style.middle_baseline) body_ += " dominant-baseline=\"middle\"";
  if (style.fit_width > 0)
    body_ += " textLength=\"" + format_number(style.fit_width) + "\" lengthAdjust=\"spacingAndGlyphs\"";
  if (style.rotate != 0)
    body_ +=
        " transform=\"rotate(" + format_number(style.rotate) + " " + format_number(x) + " " + format_number(y) + ")\"";
  body_ += ">";
  if (!tooltip.empty()) body_ += "<title>" + xml_escape(tooltip) + "</title>";
  body_ += xml_escape(text) + "</text>\n";
}

void SvgDocument::begin_group(std::string_view id, std::string_view transform) {
  body_ += "<g";
  if (!id.empty()) body_ += " id=\"" + xml_escape(id) + "\"";
  if (!transform.empty()) body_ += " transform=\"" + xml_escape(transform) + "\"";
  body_ += ">\n";
  ++open_groups_;
}

void SvgDocument::end_group() {
  LOUPE_ASSERT(open_groups_ > 0, "end_group without begin_group");
  body_ += "</g>\n";
  --open_groups_;
}

void SvgDocument::embed(double x, double y, const SvgDocument& other) {
  std::string inner = other.str();
  // Place it: the nested <svg> takes x/y attributes right after its tag name.
  inner.insert(4, " x=\"" + format_number(x) + "\" y=\"" + format_number(y) + "\"");
  body_ += inner;
}

std::string SvgDocument::str() const {
  LOUPE_ASSERT(open_groups_ == 0, open_groups_, " svg group(s) left open");
  std::string out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + format_number(width_) + "\" height=\"" +
                    format_number(height_) + "\" viewBox=\"0 0 " + format_number(width_) + " " +
                    format_number(height_) + "\">\n";
  if (!title_.empty()) out += "<title>" + xml_escape(title_) + "</title>\n";
  if (!desc_.empty()) out += "<desc>" + xml_escape(desc_) + "</desc>\n";
  if (!background_.empty())
    out += "<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"" + xml_escape(background_) + "\"/>\n";
  out += body_;
  out += "</svg>\n";
  return out;
}

void SvgDocument::save(const std::string& path) const {
  write_file_atomic(path, str());
}

}  // namespace loupe::report
