// SvgDocument: well-formed output for any bytes, compact numbers, groups, tooltips.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/error.h"
#include "report/svg.h"
#include "xml_check.h"

namespace loupe {
namespace {

using report::SvgDocument;
using test::parse_xml;

TEST(SvgNumbers, CompactFormatting) {
  EXPECT_EQ(report::format_number(12), "12");
  EXPECT_EQ(report::format_number(3.5), "3.5");
  EXPECT_EQ(report::format_number(-0.25), "-0.25");
  EXPECT_EQ(report::format_number(1.0 / 3), "0.33");
  EXPECT_EQ(report::format_number(-0.001), "0");
  EXPECT_EQ(report::format_number(2.999), "3");
  EXPECT_EQ(report::format_number(std::nan("")), "0");
  EXPECT_EQ(report::format_number(1.23456, 4), "1.2346");
}

TEST(SvgNumbers, Labels) {
  EXPECT_EQ(report::format_label(0), "0");
  EXPECT_EQ(report::format_label(1500), "1500");
  EXPECT_EQ(report::format_label(0.25), "0.25");
  EXPECT_EQ(report::format_label(2.5e6), "2.5e6");
  EXPECT_EQ(report::format_label(2e-5), "2e-5");
  EXPECT_EQ(report::format_label(-12.5), "-12.5");
}

TEST(SvgEscape, MarkupAndQuotes) {
  EXPECT_EQ(report::xml_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(report::xml_escape("caf\xC3\xA9 \xE2\x82\xAC"), "caf\xC3\xA9 \xE2\x82\xAC");  // valid UTF-8 kept
}

TEST(SvgEscape, InvalidBytesAndControlsBecomeReplacementCharacter) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(report::xml_escape(std::string("a\x01"
                                           "b",
                                           3)),
            "a" + fffd + "b");
  EXPECT_EQ(report::xml_escape("\xFF"), fffd);
  EXPECT_EQ(report::xml_escape("\xC3"), fffd);                        // truncated
  EXPECT_EQ(report::xml_escape("\xC0\xAF"), fffd + fffd);             // overlong
  EXPECT_EQ(report::xml_escape("\xED\xA0\x80"), fffd + fffd + fffd);  // surrogate
  EXPECT_EQ(report::xml_escape("\xEF\xBF\xBF"), fffd);                // U+FFFF
  EXPECT_EQ(report::xml_escape(std::string("\0", 1)), fffd);
}

TEST(SvgDocument, EveryByteValueStaysWellFormed) {
  // All 256 single bytes and some random byte strings as text, tooltip, title and attribute.
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  SvgDocument doc(100, 50);
  doc.set_title(all);
  doc.set_desc(all);
  doc.text(1, 2, all, {}, all);
  doc.rect(0, 0, 10, 10, {.fill = all, .css_class = all}, all);
  uint32_t state = 12345;
  for (int i = 0; i < 200; ++i) {
    std::string s;
    for (int k = 0; k < 12; ++k) {
      state = state * 1664525u + 1013904223u;
      s.push_back(static_cast<char>(state >> 24));
    }
    doc.text(5, 5, s, {}, s);
  }
  const std::string svg = doc.str();
  ASSERT_NO_THROW(parse_xml(svg)) << svg.substr(0, 400);
}

TEST(SvgDocument, StructureAndShapes) {
  SvgDocument doc(320, 200);
  doc.set_title("The <title>");
  doc.set_desc("desc & more");
  doc.set_background("#fff");
  doc.begin_group("grp", "translate(5,6)");
  doc.rect(1.5, 2.25, 10, 20, {.fill = "red", .stroke = "black", .stroke_width = 0.5, .opacity = 0.5}, "tip <1>");
  doc.line(0, 0, 10.123, 10, {.stroke = "blue", .dash = "4 2"});
  doc.polyline({{0, 0}, {1, 2}, {3.333, 4}}, {.fill = "none", .stroke = "green"});
  doc.path("M0 0 L10 10 Z", {.fill = "none"});
  doc.circle(5, 5, 2, {.fill = "#123456"}, "point");
  doc.text(10, 20, "hello", {.size = 14, .anchor = report::Anchor::Middle, .bold = true, .rotate = -90});
  doc.end_group();
  const auto root = parse_xml(doc.str());
  EXPECT_EQ(root->name, "svg");
  EXPECT_EQ(root->attributes.at("xmlns"), "http://www.w3.org/2000/svg");
  EXPECT_EQ(root->attributes.at("viewBox"), "0 0 320 200");
  ASSERT_FALSE(root->children.empty());
  EXPECT_EQ(root->children[0]->name, "title");
  EXPECT_EQ(root->children[0]->text, "The <title>");
  EXPECT_EQ(root->all("desc").at(0)->text, "desc & more");
  const test::XmlElement* g = root->by_id("grp");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->attributes.at("transform"), "translate(5,6)");
  const auto rects = g->all("rect");
  ASSERT_EQ(rects.size(), 1u);
  EXPECT_EQ(rects[0]->attributes.at("x"), "1.5");
  EXPECT_EQ(rects[0]->attributes.at("y"), "2.25");
  EXPECT_EQ(rects[0]->attributes.at("opacity"), "0.5");
  EXPECT_EQ(rects[0]->all("title").at(0)->text, "tip <1>");
  EXPECT_EQ(g->all("line").at(0)->attributes.at("x2"), "10.12");
  EXPECT_EQ(g->all("line").at(0)->attributes.at("stroke-dasharray"), "4 2");
  EXPECT_EQ(g->all("polyline").at(0)->attributes.at("points"), "0,0 1,2 3.33,4");
  EXPECT_EQ(g->all("path").at(0)->attributes.at("d"), "M0 0 L10 10 Z");
  EXPECT_EQ(g->all("circle").at(0)->all("title").at(0)->text, "point");
  const auto* t = g->all("text").at(0);
  EXPECT_EQ(t->text, "hello");
  EXPECT_EQ(t->attributes.at("text-anchor"), "middle");
  EXPECT_EQ(t->attributes.at("font-weight"), "bold");
  EXPECT_EQ(t->attributes.at("transform"), "rotate(-90 10 20)");
}

TEST(SvgDocument, EmbedNestsADocument) {
  SvgDocument inner(50, 40);
  inner.text(1, 1, "inner label", {});
  SvgDocument outer(200, 100);
  outer.embed(60, 30, inner);
  const auto root = parse_xml(outer.str());
  const auto svgs = root->all("svg");
  ASSERT_EQ(svgs.size(), 2u);
  EXPECT_EQ(svgs[1]->attributes.at("x"), "60");
  EXPECT_EQ(svgs[1]->attributes.at("y"), "30");
  EXPECT_EQ(svgs[1]->all("text").at(0)->text, "inner label");
}

TEST(SvgDocument, FitWidthSetsTextLength) {
  SvgDocument doc(100, 100);
  doc.text(0, 10, "word", {.fit_width = 42.5});
  const auto root = parse_xml(doc.str());
  EXPECT_EQ(root->all("text").at(0)->attributes.at("textLength"), "42.5");
  EXPECT_EQ(root->all("text").at(0)->attributes.at("lengthAdjust"), "spacingAndGlyphs");
}

TEST(SvgTextWidth, GrowsWithTextAndSize) {
  EXPECT_EQ(report::text_width("", 12), 0);
  EXPECT_GT(report::text_width("mmmm", 12), report::text_width("iiii", 12));
  EXPECT_DOUBLE_EQ(report::text_width("abc", 24), 2 * report::text_width("abc", 12));
  // CJK characters are a full em wide.
  EXPECT_DOUBLE_EQ(report::text_width("\xE4\xB8\xAD\xE6\x96\x87", 10), 20);
}

TEST(SvgDocument, SaveReportsBadPath) {
  SvgDocument doc(10, 10);
  EXPECT_THROW(doc.save("/nonexistent-dir/x.svg"), Error);
}

}  // namespace
}  // namespace loupe
