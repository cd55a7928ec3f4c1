// HtmlReport: a self-contained page of headings, tables and inline SVG.
#include "report/html.h"

#include <algorithm>
#include <cctype>

#include "core/atomic_file.h"
#include "core/error.h"

namespace loupe::report {

namespace {

const char* const kStyle = R"(body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em;border-bottom:2px solid #ddd;padding-bottom:.3em}
h2{font-size:1.3em;margin-top:1.8em;border-bottom:1px solid #eee}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}
td.num{text-align:right;font-variant-numeric:tabular-nums}
caption{caption-side:bottom;color:#666;font-size:.9em;padding-top:.3em}
figure{margin:1em 0}
figcaption{color:#666;font-size:.9em}
svg{max-width:100%;height:auto}
pre{background:#f7f7f7;padding:.6em;white-space:pre-wrap;word-break:break-all}
)";

bool looks_numeric(const std::string& s) {
  if (s.empty()) return false;
  bool digit = false;
  for (char c : s) {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      digit = true;
    } else if (c != '.' && c != '-' && c != '+' && c != 'e' && c != '%' && c != ',' && c != ' ') {
      return false;
    }
  }
  return digit;
}

}  // namespace

std::string html_escape(std::string_view text) {
  // xml_escape's set (&, <, >, quotes, invalid bytes) is exactly what HTML text needs; newlines
  // stay newlines so <pre> blocks keep their lines.
  std::string out = xml_escape(text);
  std::string fixed;
  fixed.reserve(out.size());
  for (size_t i = 0; i < out.size(); ++i) {
    if (out.compare(i, 5, "&#10;") == 0) {
      fixed += '\n';
      i += 4;
    } else if (out.compare(i, 4, "&#9;") == 0) {
      fixed += '\t';
      i += 3;
    } else {
      fixed += out[i];
    }
  }
  return fixed;
}

HtmlReport::HtmlReport(std::string title) : title_(std::move(title)) {}

void HtmlReport::heading(std::string_view text, int level) {
  const std::string tag = "h" + std::to_string(std::clamp(level, 2, 4));
  body_ += "<" + tag + ">" + html_escape(text) + "</" + tag + ">\n";
}

void HtmlReport::paragraph(std::string_view text) {
  body_ += "<p>" + html_escape(text) + "</p>\n";
}

void HtmlReport::key_values(const std::vector<std::pair<std::string, std::string>>& items) {
  body_ += "<table class=\"kv\">\n";
  for (const auto& [k, v] : items)
    body_ += "<tr><th>" + html_escape(k) + "</th><td" + (looks_numeric(v) ? " class=\"num\"" : "") + ">" +
             html_escape(v) + "</td></tr>\n";
  body_ += "</table>\n";
}

void HtmlReport::table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                       std::string_view caption) {
  body_ += "<table>\n";
  if (!caption.empty()) body_ += "<caption>" + html_escape(caption) + "</caption>\n";
  size_t width = header.size();
  for (const auto& r : rows) width = std::max(width, r.size());
  if (!header.empty()) {
    body_ += "<thead><tr>";
    for (size_t i = 0; i < width; ++i) body_ += "<th>" + (i < header.size() ? html_escape(header[i]) : "") + "</th>";
    body_ += "</tr></thead>\n";
  }
  body_ += "<tbody>\n";
  for (const auto& r : rows) {
    body_ += "<tr>";
    for (size_t i = 0; i < width; ++i) {
      const std::string cell = i < r.size() ? r[i] : "";
      body_ += std::string(looks_numeric(cell) ? "<td class=\"num\">" : "<td>") + html_escape(cell) + "</td>";
    }
    body_ += "</tr>\n";
  }
  body_ += "</tbody></table>\n";
}

void HtmlReport::figure(const SvgDocument& svg, std::string_view caption) {
  body_ += "<figure>\n" + svg.str();
  if (!caption.empty()) body_ += "<figcaption>" + html_escape(caption) + "</figcaption>\n";
  body_ += "</figure>\n";
}

void HtmlReport::preformatted(std::string_view text) {
  body_ += "<pre>" + html_escape(text) + "</pre>\n";
}

std::string HtmlReport::str() const {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>" + html_escape(title_) +
         "</title>\n<style>\n" + kStyle + "</style>\n</head>\n<body>\n<h1>" + html_escape(title_) + "</h1>\n" + body_ +
         "</body>\n</html>\n";
}

void HtmlReport::save(const std::string& path) const {
  write_file_atomic(path, str());
}

}  // namespace loupe::report
