// A self-contained HTML report page: headings, paragraphs, key/value lists, tables, inline SVG
// pictures (from svg.h / charts.h) and preformatted text, with an embedded stylesheet and no
// external resources (no scripts, fonts or links), so the file can be mailed or archived.
//
// Usage:
//   report::HtmlReport page("loupe explore: corpus.jsonl");   // <title> and the <h1>
//   page.heading("Lengths");                                  // <h2> (level 2..4)
//   page.key_values({{"documents", "1200"}, {"characters", "53 210"}});
//   page.figure(report::histogram(h), "characters per document");
//   page.table({"n-gram", "count"}, {{"the cat", "12"}, {"a dog", "7"}});
//   page.save("report.html");
//
// All text is HTML-escaped (invalid UTF-8 becomes U+FFFD), so document contents can be shown.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "report/svg.h"

namespace loupe::report {

// Escapes &, <, >, " and ' and replaces invalid UTF-8 / forbidden controls (as xml_escape).
std::string html_escape(std::string_view text);

class HtmlReport {
 public:
  explicit HtmlReport(std::string title);

  // level 2..4 (clamped); the page title is the only <h1>.
  void heading(std::string_view text, int level = 2);
  void paragraph(std::string_view text);
  // A two-column definition table of names and values.
  void key_values(const std::vector<std::pair<std::string, std::string>>& items);
  // A table with a header row; rows may be ragged (missing cells are left empty). Cells that
  // look numeric are right-aligned.
  void table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
             std::string_view caption = {});
  // An inline SVG picture with an optional caption.
  void figure(const SvgDocument& svg, std::string_view caption = {});
  // A <pre> block (monospace, wrapped).
  void preformatted(std::string_view text);

  // The whole page (<!DOCTYPE html> ...).
  std::string str() const;
  // Writes str() to path; throws loupe::Error naming the path when it cannot.
  void save(const std::string& path) const;

 private:
  std::string title_;
  std::string body_;
};

}  // namespace loupe::report
